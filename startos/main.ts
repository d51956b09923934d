/**
 * The running service: two supervised daemons built from the one store file.
 *
 * - `indexer`: `crm-index follow`, the streaming pipeline and the periodic
 *   sweep; healthy when its /healthz says so.
 * - `mcp`: `crm-index mcp --http`, the MCP Streamable HTTP server; healthy
 *   when its /healthz answers. It does not require the indexer: searches keep
 *   answering from the last index while the indexer restarts or catches up.
 *
 * The store is read with `.const(effects)`: when Configure writes it, StartOS
 * re-runs this function and the daemons restart with the new environment.
 * The indexer starts under the same rule as docker_entrypoint.sh
 * (`followerDecision`); when it does not, a health entry says why.
 */
import { sdk } from './sdk.js';
import { storeJson } from './store.js';
import { dataMounts } from './mounts.js';
import { checkHealthz } from './health.js';
import {
  DATA_DIR,
  INDEXER_PORT,
  MCP_PORT,
  RUN_AS,
  cliArgsFor,
  emptyStore,
  envFromStore,
  followerDecision,
} from './env.js';

export const main = sdk.setupMain(async ({ effects }) => {
  const store = (await storeJson.read().const(effects)) ?? emptyStore();
  const env = envFromStore(store);
  const follower = followerDecision(env);
  console.info(
    follower.start
      ? '[startos] ingest follower: STARTED'
      : `[startos] ingest follower: SKIPPED (${follower.reason}); run the Configure action`,
  );

  const subcontainer = sdk.SubContainer.of(effects, { imageId: 'main' }, dataMounts(), 'crm-index');

  // StartOS creates volumes owned by root; the CLI runs as the image's uid 1000 user.
  const prepared = sdk.Daemons.of(effects).addOneshot('data-owner', {
    subcontainer,
    exec: { command: ['chown', '-R', `${RUN_AS}:${RUN_AS}`, DATA_DIR], user: 'root' },
    requires: [],
  });

  const withMcp = prepared.addDaemon('mcp', {
    subcontainer,
    exec: { command: cliArgsFor('mcp'), env, user: RUN_AS, sigtermTimeout: 30_000 },
    ready: {
      display: 'MCP server',
      // Opening the database and loading the search encoders takes a few seconds.
      gracePeriod: 30_000,
      fn: () => checkHealthz('The MCP server', MCP_PORT),
    },
    requires: ['data-owner'],
  });

  if (!follower.start) {
    return withMcp.addHealthCheck('indexer', {
      ready: {
        display: 'Indexer',
        fn: () => ({
          result: 'disabled',
          message: `Not running: ${follower.reason}. Run the Configure action to set the endpoints.`,
        }),
      },
      requires: [],
    });
  }

  return withMcp.addDaemon('indexer', {
    subcontainer,
    // A graceful stop finishes the batch in flight and acks its cursor.
    exec: { command: cliArgsFor('follow'), env, user: RUN_AS, sigtermTimeout: 60_000 },
    ready: {
      display: 'Indexer',
      // The first start may install triggers and run a sweep before /healthz turns green.
      gracePeriod: 120_000,
      fn: () => checkHealthz('The indexer', INDEXER_PORT),
    },
    requires: ['data-owner'],
  });
});
