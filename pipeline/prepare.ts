/**
 * The CPU half of the stages, as plain functions the stream (stream.ts) calls:
 *
 *   render (one short read transaction per slice, with entity ids) →
 *   fingerprint → skip unchanged → chunk → BM25 → point ids.
 *
 * A permanent failure of one record (bad data) is returned as a
 * RecordFailure; a transient one (the database busy) throws.
 */
import { PermanentError, errorMessage } from '../config/errors.js';
import { isSqliteError } from '../config/sqliteErrors.js';
import type { Logger } from '../config/log.js';
import type { Db } from '../crm/db.js';
import { classifySqliteError } from '../crm/db.js';
import type { DenseEmbedder, SparseEncoder, SparseVector } from '../encoders/types.js';
import { pointId } from '../stores/ids.js';
import type { ChunkPayload } from '../stores/types.js';
import { chunkDocument, fingerprint, type ChunkSettings } from './chunk.js';
import type { RenderedDoc, Renderer } from './render.js';

/** A record that could not be indexed, and at which step. */
export interface RecordFailure {
  recordKey: string;
  step: 'render' | 'chunk' | 'embed' | 'store';
  error: string;
}

export interface IndexDeps {
  db: Db;
  renderer: Renderer;
  dense: DenseEmbedder;
  sparse: SparseEncoder;
  chunk: ChunkSettings;
  log: Logger;
  /** Canonical entity ids per record (entity resolution); absent → []. */
  entityIds?: (keys: string[]) => Map<string, string[]>;
  /** Chunks per embeddings request (EMBED_BATCH_SIZE). */
  embedBatch: number;
  /** Embeddings requests in flight at once (EMBED_CONCURRENCY). */
  embedInFlight: number;
  /** Estimated tokens per embeddings request (EMBED_MAX_TOKENS_PER_REQUEST), as the HTTP embedder counts them. */
  embedMaxTokens: number;
}

/** What the prepare stage needs: no embedder (only its model id, part of the fingerprint), no store. */
export type PrepareDeps = Pick<IndexDeps, 'db' | 'renderer' | 'sparse' | 'chunk' | 'log' | 'entityIds'> & {
  dense: Pick<DenseEmbedder, 'modelId'>;
};

export interface BatchCounts {
  added: number;
  updated: number;
  unchanged: number;
  deleted: number;
  failed: number;
  chunks: number;
}

export interface BatchResult {
  counts: BatchCounts;
  failures: RecordFailure[];
  /** Keys that went through (written, deleted or unchanged). */
  done: string[];
}

export function emptyCounts(): BatchCounts {
  return { added: 0, updated: 0, unchanged: 0, deleted: 0, failed: 0, chunks: 0 };
}

export function addCounts(a: BatchCounts, b: BatchCounts): BatchCounts {
  return {
    added: a.added + b.added,
    updated: a.updated + b.updated,
    unchanged: a.unchanged + b.unchanged,
    deleted: a.deleted + b.deleted,
    failed: a.failed + b.failed,
    chunks: a.chunks + b.chunks,
  };
}

/**
 * What the sweep needs of a page of keys: each present record's fingerprint,
 * the keys whose row is gone, and the keys that failed to render.
 */
export interface FingerprintResult {
  keys: string[];
  fingerprints: string[];
  gone: string[];
  failed: string[];
}

/**
 * Render every key and look up the entity ids of those present, in one short
 * read transaction (one snapshot, and one lock round instead of one per
 * query); per-record render errors become failures.
 */
export function renderBatch(
  deps: PrepareDeps,
  keys: string[],
): {
  docs: Map<string, RenderedDoc | null>;
  failures: RecordFailure[];
  entityIds: Map<string, string[]>;
} {
  const docs = new Map<string, RenderedDoc | null>();
  const failures: RecordFailure[] = [];
  let entityIds = new Map<string, string[]>();
  try {
    deps.db.transaction(() =>
      deps.renderer.batch(() => {
        for (const key of keys) {
          try {
            docs.set(key, deps.renderer.render(key));
          } catch (err) {
            if (err instanceof PermanentError)
              failures.push({ recordKey: key, step: 'render', error: err.message });
            else throw err;
          }
        }
        const present = [...docs.entries()].filter(([, d]) => d !== null).map(([k]) => k);
        if (deps.entityIds && present.length > 0) entityIds = deps.entityIds(present);
      }),
    )();
  } catch (err) {
    if (isSqliteError(err)) throw classifySqliteError(err, 'reading records');
    throw err;
  }
  return { docs, failures, entityIds };
}

/**
 * `{ ...base, ...more }` built with Object.assign, so that the payloads of one
 * table share one hidden class ([decision 019](../docs/decisions/019-payload-copies-keep-one-hidden-class.md)).
 */
export function payloadWith<T extends object, U extends object>(base: T, more: U): T & U {
  return Object.assign(Object.assign({}, base), more);
}

/** Payload and fingerprint of a rendered document: cheap, no chunking (the sweep uses only this). */
export function describeDoc(
  deps: PrepareDeps,
  doc: RenderedDoc,
  entityIds: string[],
): { fingerprint: string; payloadBase: Record<string, unknown> } {
  const payloadBase = payloadWith(doc.payload, { title: doc.title, entity_ids: entityIds });
  return {
    fingerprint: fingerprint(doc, payloadBase, deps.chunk, deps.dense.modelId, deps.sparse.version),
    payloadBase,
  };
}

/**
 * Render `keys` and fingerprint the present ones (the sweep's comparison;
 * no chunking).
 */
export function fingerprintKeys(deps: PrepareDeps, keys: string[]): FingerprintResult {
  const { docs, failures, entityIds } = renderBatch(deps, keys);
  const out: FingerprintResult = { keys: [], fingerprints: [], gone: [], failed: [] };
  for (const [key, doc] of docs) {
    if (doc === null) out.gone.push(key);
    else {
      out.keys.push(key);
      out.fingerprints.push(describeDoc(deps, doc, entityIds.get(key) ?? []).fingerprint);
    }
  }
  for (const f of failures) out.failed.push(f.recordKey);
  return out;
}

/** A changed record's chunks, BM25 vectors, point ids and payload. */
export function prepareDoc(
  deps: PrepareDeps,
  doc: RenderedDoc,
  entityIds: string[],
  described = describeDoc(deps, doc, entityIds),
): PreparedRecord {
  const { texts, truncated } = chunkDocument(doc, deps.chunk);
  if (truncated) {
    deps.log.warn(
      { record: doc.recordKey, chunks: texts.length },
      `record ${doc.recordKey} is longer than MAX_CHUNKS_PER_RECORD=${deps.chunk.maxChunks} chunks; only the first ${texts.length} are indexed`,
    );
  }
  const fp = described.fingerprint;
  return {
    recordKey: doc.recordKey,
    texts,
    fingerprint: fp,
    payload: payloadWith(described.payloadBase, {
      record_key: doc.recordKey,
      table: doc.table,
      chunk_count: texts.length,
      fingerprint: fp,
    }) as PreparedRecord['payload'],
    ids: texts.map((_, i) => pointId(doc.recordKey, i)),
    sparse: texts.map((t) => deps.sparse.encodeDocument(t)),
  };
}

/**
 * What the prepare stage hands to the embed and write stages: which keys
 * vanished, how many records are unchanged, and for each changed record its
 * chunk texts, sparse vectors and point ids.
 */
export interface PreparedRecord {
  recordKey: string;
  texts: string[];
  payload: Omit<ChunkPayload, 'chunk_index' | 'text'>;
  fingerprint: string;
  ids: string[];
  sparse: SparseVector[];
}

export interface PrepareResult {
  /** Keys whose row no longer exists (deletes). */
  gone: string[];
  unchanged: number;
  changed: PreparedRecord[];
  failures: RecordFailure[];
}

/**
 * Render, fingerprint, and for each record whose fingerprint differs from
 * `fingerprints` (what the store holds), chunk, BM25-encode and name its
 * points. Pure apart from reading the CRM.
 */
export function prepareKeys(
  deps: PrepareDeps,
  keys: string[],
  fingerprints: Map<string, string>,
): PrepareResult {
  const { docs, failures, entityIds } = renderBatch(deps, keys);
  const gone: string[] = [];
  const changed: PreparedRecord[] = [];
  let unchanged = 0;
  for (const [key, doc] of docs) {
    if (doc === null) {
      gone.push(key);
      continue;
    }
    try {
      const ids = entityIds.get(key) ?? [];
      const d = describeDoc(deps, doc, ids);
      // Unchanged: same fingerprint as the store holds. Chunking is a pure function of what it covers.
      if (fingerprints.get(key) === d.fingerprint) {
        unchanged++;
        continue;
      }
      changed.push(prepareDoc(deps, doc, ids, d));
    } catch (err) {
      failures.push({ recordKey: key, step: 'chunk', error: errorMessage(err) });
    }
  }
  return { gone, unchanged, changed, failures };
}
