/** Every action the service offers, in the order the dashboard lists them. */
import { sdk } from '../sdk.js';
import { configure } from './configure.js';
import { buildSearchIndex, refreshSearchIndex } from './indexJob.js';
import { indexStatus } from './indexStatus.js';
import { mcpConnection } from './mcpConnection.js';
import { removeCapture } from './removeCapture.js';

export const actions = sdk.Actions.of()
  .addAction(configure)
  .addAction(buildSearchIndex)
  .addAction(refreshSearchIndex)
  .addAction(indexStatus)
  .addAction(mcpConnection)
  .addAction(removeCapture);
