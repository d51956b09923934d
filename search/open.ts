/**
 * Opening a search engine from the configuration: the configured dense
 * embedder, the BM25 query encoder and the configured store. Used by
 * `crm-index mcp` and `crm-index search`, so both query exactly as the
 * pipeline indexed (same model, same sparse encoder).
 */
import type { Config } from '../config/index.js';
import { Bm25Encoder } from '../encoders/bm25.js';
import { createDenseEmbedder } from '../encoders/factory.js';
import { createStore } from '../stores/factory.js';
import { createSearchEngine, type SearchEngine } from './engine.js';

export interface OpenedEngine {
  engine: SearchEngine;
  close(): Promise<void>;
}

/**
 * The dense leg's weight in hybrid RRF for the configured embedder. It is a
 * property of the dense model: the local GloVe-SIF vectors are weak on their
 * own, so at equal weight they pull good sparse hits down; a real embedding
 * model behind the HTTP endpoint keeps plain RRF (1), as Qdrant fuses.
 * LOCAL_DENSE_WEIGHT was chosen by bench/retrieval.ts on the TUNE split of
 * the demo's planted facts only (docs/benchmarks.md).
 */
export const LOCAL_DENSE_WEIGHT = 0.4;

export function defaultDenseWeight(config: Pick<Config, 'embedderKind'>): number {
  return config.embedderKind === 'local' ? LOCAL_DENSE_WEIGHT : 1;
}

export async function openSearchEngine(config: Config): Promise<OpenedEngine> {
  // Not initialised here: the engine does it on the first query that needs a dense vector,
  // so sparse-only use never waits for the model to load.
  const dense = await createDenseEmbedder(config);
  try {
    // Read-only: a search process never writes the index, and a missing index says "run rebuild".
    const store = await createStore(config, { readonly: true });
    return {
      engine: createSearchEngine({
        store,
        dense,
        sparse: new Bm25Encoder(),
        hybridDenseWeight: defaultDenseWeight(config),
      }),
      async close() {
        await store.close().catch(() => undefined);
        await dense.close().catch(() => undefined);
      },
    };
  } catch (err) {
    await dense.close().catch(() => undefined);
    throw err;
  }
}
