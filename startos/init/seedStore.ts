/**
 * On install: write the store's defaults with a generated MCP token (so the
 * MCP daemon can start bound beyond loopback), then ask the operator to run
 * Configure. Merge, never overwrite: a restore or update keeps what is there.
 */
import { utils } from '@start9labs/start-sdk';
import { sdk } from '../sdk.js';
import { storeJson } from '../store.js';
import { emptyStore } from '../env.js';
import { configure } from '../actions/configure.js';

export const seedStore = sdk.setupOnInit(async (effects, kind) => {
  if (kind !== 'install') return;
  const existing = await storeJson.read().once();
  await storeJson.merge(effects, {
    ...emptyStore(),
    ...existing,
    mcpAuthToken: existing?.mcpAuthToken ?? utils.getDefaultString({ charset: 'a-z,A-Z,0-9', len: 40 }),
  });
  await sdk.action.createOwnTask(effects, configure, 'critical', {
    reason: 'Set the embeddings server and the index store (Qdrant or embedded) so the indexer can start.',
  });
});
