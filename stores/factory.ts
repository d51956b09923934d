/**
 * Picks the store from configuration: Qdrant when QDRANT_URL is set, otherwise
 * the embedded SQLite file at `resolvedIndexPath`. Both are imported lazily so a
 * process using one never loads the other's dependencies.
 */
import type { Config } from '../config/index.js';
import type { VectorStore } from './types.js';

export async function createStore(config: Config, opts: { readonly?: boolean } = {}): Promise<VectorStore> {
  if (config.qdrantUrl) {
    const { openQdrantStore } = await import('./qdrant.js');
    return openQdrantStore({
      url: config.qdrantUrl,
      ...(config.qdrantApiKey ? { apiKey: config.qdrantApiKey } : {}),
      alias: config.collection,
      cluster: {
        shards: config.qdrantShards,
        replication: config.qdrantReplication,
        writeConsistency: config.qdrantWriteConsistency,
      },
    });
  }
  const { openEmbeddedStore } = await import('./embedded.js');
  return openEmbeddedStore(config.resolvedIndexPath, opts);
}
