/**
 * Picks the store from configuration: Qdrant when QDRANT_URL is set, otherwise
 * the embedded SQLite file at `resolvedIndexPath`. Both are imported lazily so a
 * process using one never loads the other's dependencies.
 */
import type { Config } from '../config/index.js';
import type { VectorStore } from './types.js';

export interface StoreOpenOptions {
  readonly?: boolean;
  /**
   * A handle that writes for the life of the process (the follow daemon): the embedded store starts
   * its checkpoint worker on the first commit instead of after 4,096 points, so SQLite's own
   * checkpoints (a copy and an fsync inside a commit, every 1,000 pages) never run on the event loop.
   */
  longRunning?: boolean;
}

export async function createStore(config: Config, opts: StoreOpenOptions = {}): Promise<VectorStore> {
  if (config.qdrantUrl) {
    const { openQdrantStore } = await import('./qdrant.js');
    const store = openQdrantStore({
      url: config.qdrantUrl,
      ...(config.qdrantApiKey ? { apiKey: config.qdrantApiKey } : {}),
      alias: config.collection,
      timeoutMs: config.qdrantTimeoutMs,
      // Unset settings stay unset: the server's defaults apply (on a cluster, shards = peers).
      cluster: {
        ...(config.qdrantShards !== undefined ? { shards: config.qdrantShards } : {}),
        ...(config.qdrantReplication !== undefined ? { replication: config.qdrantReplication } : {}),
        ...(config.qdrantWriteConsistency !== undefined
          ? { writeConsistency: config.qdrantWriteConsistency }
          : {}),
      },
    });
    // A server older than the store needs fails here, with the version it has and the one needed.
    await store.checkServer();
    return store;
  }
  const { openEmbeddedStore } = await import('./embedded.js');
  return openEmbeddedStore(config.resolvedIndexPath, {
    readonly: opts.readonly,
    ...(opts.longRunning ? { checkpointWorkerAfter: 0 } : {}),
  });
}
