/**
 * On install: write the store's defaults with a generated MCP token (so the
 * MCP daemon can start bound beyond loopback), then suggest Configure. The
 * defaults (embedded store, local embedder) work without it, so the task is
 * important, not critical: it does not block the first start. Merge, never
 * overwrite: a restore or update keeps what is there.
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
  await sdk.action.createOwnTask(effects, configure, 'important', {
    reason:
      'Review the settings: the defaults index into an embedded store with the built-in embedder; set an embeddings server or Qdrant here.',
  });
});
