/** Every action the service offers, in the order the dashboard lists them. */
import { sdk } from '../sdk.js';
import { configure } from './configure.js';
import { buildSearchIndex } from './buildSearchIndex.js';
import { refreshSearchIndex } from './refreshSearchIndex.js';
import { indexStatus } from './indexStatus.js';

export const actions = sdk.Actions.of()
  .addAction(configure)
  .addAction(buildSearchIndex)
  .addAction(refreshSearchIndex)
  .addAction(indexStatus);
