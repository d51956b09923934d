/**
 * The one place a search engine is built from settings. `crm-index search`,
 * `crm-index mcp` and the operator page (web/routes.ts) all go through
 * `engineFromSettings`, so the same query ranks the same way everywhere, with
 * the same dense model, the same sparse encoder and the same hybrid weight.
 *
 * Invariant: opening for search never creates or changes a file. A missing or
 * empty index is a StoreError saying to run `crm-index rebuild`.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import type { Config } from '../config/index.js';
import { StoreError } from '../config/errors.js';
import { Bm25Encoder } from '../encoders/bm25.js';
import { createDenseEmbedder } from '../encoders/factory.js';
import type { DenseEmbedder, SparseEncoder } from '../encoders/types.js';
import { createStore } from '../stores/factory.js';
import type { VectorStore } from '../stores/types.js';
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
 * the demo's planted facts only (docs/decisions/017-dense-weight-for-the-local-embedder.md).
 */
export const LOCAL_DENSE_WEIGHT = 0.4;

export function defaultDenseWeight(config: Pick<Config, 'embedderKind'>): number {
  return config.embedderKind === 'local' ? LOCAL_DENSE_WEIGHT : 1;
}

/** The engine for `config` over an already open store and embedder (the follower's, for the page). */
export function engineFromSettings(
  config: Pick<Config, 'embedderKind'>,
  deps: { store: VectorStore; dense: DenseEmbedder; sparse?: SparseEncoder },
): SearchEngine {
  return createSearchEngine({
    store: deps.store,
    dense: deps.dense,
    sparse: deps.sparse ?? new Bm25Encoder(),
    hybridDenseWeight: defaultDenseWeight(config),
  });
}

/**
 * The embedded index must be a file that holds an index: a missing path or a
 * zero-length file (an interrupted copy, a `touch`) is not an empty index.
 */
export function assertIndexFile(config: Pick<Config, 'qdrantUrl' | 'resolvedIndexPath' | 'dbPath'>): void {
  if (config.qdrantUrl) return;
  const file = nodePath.resolve(config.resolvedIndexPath);
  let size: number;
  try {
    const st = fs.statSync(file);
    if (st.isDirectory()) {
      throw new StoreError(
        `The embedded index path ${file} is a folder; point CRM_INDEX_PATH (or --index) at the index file, or run \`crm-index rebuild\` to create it.`,
      );
    }
    size = st.size;
  } catch (err) {
    if (err instanceof StoreError) throw err;
    const db = nodePath.resolve(config.dbPath);
    const noDb = fs.existsSync(db)
      ? ''
      : ` The CRM database ${db} does not exist either: set CRM_DB_PATH (or --db) to the CRM's .db file.`;
    throw new StoreError(
      `No search index at ${file}; run \`crm-index rebuild\` to build it (or point CRM_INDEX_PATH / --index at the existing one).${noDb}`,
    );
  }
  if (size === 0) {
    throw new StoreError(
      `The search index ${file} is an empty file (0 bytes), not an index; delete it and run \`crm-index rebuild\`.`,
    );
  }
}

/** A read-only engine from the configuration: never creates the index, never writes it. */
export async function openSearchEngine(config: Config): Promise<OpenedEngine> {
  assertIndexFile(config);
  // Not initialised here: the engine does it on the first query that needs a dense vector,
  // so sparse-only use never waits for the model to load.
  const dense = await createDenseEmbedder(config);
  try {
    const store = await createStore(config, { readonly: true });
    return {
      engine: engineFromSettings(config, { store, dense }),
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
