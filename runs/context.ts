/**
 * Opening everything a run needs, in one place: the CRM database, the source
 * map (validated against it), the renderer, both encoders and the store.
 * Every run and the daemon go through `openPipeline`, so they agree on the
 * settings that make up a fingerprint.
 */
import type { Config } from '../config/index.js';
import { logger, setLogLevel } from '../config/log.js';
import { openCrm, sqliteStep, type Db } from '../crm/db.js';
import { loadSourceMap } from '../crm/loadSourceMap.js';
import type { SourceMap } from '../crm/sourceMap.js';
import { validateSourceMap } from '../crm/validate.js';
import { Bm25Encoder } from '../encoders/bm25.js';
import { createDenseEmbedder } from '../encoders/factory.js';
import type { DenseEmbedder, SparseEncoder } from '../encoders/types.js';
import { createStore } from '../stores/factory.js';
import type { VectorStore } from '../stores/types.js';
import type { ChunkSettings } from '../pipeline/chunk.js';
import { PipelineEmitter } from './events.js';
import { ensureFailureTables, restoreHeld } from './failures.js';
import type { IndexDeps } from '../pipeline/prepare.js';
import { Renderer } from '../pipeline/render.js';
import { entityHooks, type EntityHooks } from './entities.js';
import { makeOwner } from './lease.js';
import { SchemaGuard } from './schemaGuard.js';

export const INDEX_CONSUMER = 'index';

export interface PipelineContext {
  config: Config;
  db: Db;
  map: SourceMap;
  renderer: Renderer;
  dense: DenseEmbedder;
  sparse: SparseEncoder;
  store: VectorStore;
  deps: IndexDeps;
  entities: EntityHooks;
  events: PipelineEmitter;
  /** Mapped tables the live schema no longer fits (their records are held back). */
  schema: SchemaGuard;
  /** A one-shot run: report failures instead of retrying forever (see drain.ts). */
  oneShot?: boolean;
  close(): Promise<void>;
}

export interface OpenOverrides {
  dense?: DenseEmbedder;
  store?: VectorStore;
  /** The follow daemon: the store is opened for writing for the life of the process (createStore). */
  longRunning?: boolean;
}

export function chunkSettings(config: Config): ChunkSettings {
  return {
    maxTokens: config.chunkMaxTokens,
    overlapTokens: config.chunkOverlapTokens,
    maxChunks: config.maxChunksPerRecord,
  };
}

export async function openPipeline(config: Config, overrides: OpenOverrides = {}): Promise<PipelineContext> {
  setLogLevel(config.logLevel);
  const log = logger('pipeline');
  const db = openCrm(config.dbPath, { busyTimeoutMs: config.busyTimeoutMs });
  try {
    const map = loadSourceMap(config.sourceMapPath);
    validateSourceMap(db, map);
    // Our own tables in the CRM database: writes, so a CRM holding the write lock shows up here.
    const restored = sqliteStep('preparing the index tables in the CRM database', () => {
      ensureFailureTables(db);
      // Records a rebuild held back and never settled (the process died): queue them again.
      return restoreHeld(db);
    });
    if (restored > 0)
      log.info({ restored }, `${restored} record(s) held by an unfinished rebuild are queued again`);
    const renderer = new Renderer(db, map);
    const dense = overrides.dense ?? (await createDenseEmbedder(config, { thread: true }));
    await dense.init();
    const sparse = new Bm25Encoder();
    const store = overrides.store ?? (await createStore(config, { longRunning: overrides.longRunning }));
    await store.ensure({ dim: dense.dim, model: dense.modelId });
    const entities = entityHooks(db, map, log, makeOwner('entities'));
    const deps: IndexDeps = {
      db,
      renderer,
      dense,
      sparse,
      chunk: chunkSettings(config),
      log,
      entityIds: (keys) => entities.idsFor(keys),
      embedBatch: config.embedBatchSize,
      embedInFlight: config.embedConcurrency,
      embedMaxTokens: config.embedMaxTokensPerRequest,
    };
    return {
      config,
      db,
      map,
      renderer,
      dense,
      sparse,
      store,
      deps,
      entities,
      events: new PipelineEmitter(),
      schema: new SchemaGuard(db, map),
      async close() {
        await store.close().catch(() => undefined);
        await dense.close().catch(() => undefined);
        db.close();
      },
    };
  } catch (err) {
    db.close();
    throw err;
  }
}
