/**
 * The batch core shared by every run: record keys in, store writes out.
 *
 *   load + render (one short read transaction) → chunk → fingerprint →
 *   skip unchanged (the store's own fingerprints) → embed dense + sparse →
 *   upsert, delete shrunk chunks, delete vanished records.
 *
 * A transient failure (embedder or store down, database busy) throws, and the
 * caller retries the whole batch without acking. A permanent failure of one
 * record (bad data, an input the embedder rejects) is returned as a
 * RecordFailure, and the batch goes on without it.
 */
import { PermanentError, errorMessage } from '../config/errors.js';
import type { Logger } from '../config/log.js';
import type { Db } from '../crm/db.js';
import { classifySqliteError } from '../crm/db.js';
import type { DenseEmbedder, SparseEncoder } from '../encoders/types.js';
import { pointId } from '../stores/ids.js';
import type { ChunkPayload, ChunkPoint, VectorStore } from '../stores/types.js';
import { chunkDocument, fingerprint, type ChunkSettings } from './chunk.js';
import type { RecordFailure } from './failures.js';
import type { RenderedDoc, Renderer } from './render.js';

export interface IndexDeps {
  db: Db;
  renderer: Renderer;
  dense: DenseEmbedder;
  sparse: SparseEncoder;
  chunk: ChunkSettings;
  log: Logger;
  /** Canonical entity ids per record (entity resolution); absent → []. */
  entityIds?: (keys: string[]) => Map<string, string[]>;
}

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

interface Prepared {
  doc: RenderedDoc;
  texts: string[];
  payload: Omit<ChunkPayload, 'chunk_index' | 'text'>;
  fingerprint: string;
}

/**
 * Render every key and look up the entity ids of those present, in one short
 * read transaction (one snapshot, and one lock round instead of one per
 * query); per-record render errors become failures.
 */
export function renderBatch(
  deps: IndexDeps,
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
    if ((err as { code?: string }).code?.startsWith('SQLITE_'))
      throw classifySqliteError(err, 'reading records');
    throw err;
  }
  return { docs, failures, entityIds };
}

/** Payload and fingerprint of a rendered document: cheap, no chunking (the sweep uses only this). */
export function describeDoc(
  deps: IndexDeps,
  doc: RenderedDoc,
  entityIds: string[],
): { fingerprint: string; payloadBase: Record<string, unknown> } {
  const payloadBase = { ...doc.payload, title: doc.title, entity_ids: entityIds };
  return {
    fingerprint: fingerprint(doc, payloadBase, deps.chunk, deps.dense.modelId, deps.sparse.version),
    payloadBase,
  };
}

export function prepareDoc(
  deps: IndexDeps,
  doc: RenderedDoc,
  entityIds: string[],
  described = describeDoc(deps, doc, entityIds),
): Prepared {
  const { texts, truncated } = chunkDocument(doc, deps.chunk);
  if (truncated) {
    deps.log.warn(
      { record: doc.recordKey, chunks: texts.length },
      `record ${doc.recordKey} is longer than MAX_CHUNKS_PER_RECORD=${deps.chunk.maxChunks} chunks; only the first ${texts.length} are indexed`,
    );
  }
  const fp = described.fingerprint;
  return {
    doc,
    texts,
    fingerprint: fp,
    payload: {
      ...described.payloadBase,
      record_key: doc.recordKey,
      table: doc.table,
      chunk_count: texts.length,
      fingerprint: fp,
    } as Prepared['payload'],
  };
}

function buildPoints(p: Prepared, dense: Float32Array[], sparse: SparseEncoder): ChunkPoint[] {
  return p.texts.map((text, i) => ({
    id: pointId(p.doc.recordKey, i),
    dense: dense[i]!,
    sparse: sparse.encodeDocument(text),
    payload: { ...p.payload, chunk_index: i, text } as ChunkPayload,
  }));
}

/** Embed every changed record's chunks; on a permanent error, find the records that cause it. */
async function embedAll(
  deps: IndexDeps,
  items: Prepared[],
): Promise<{ vectors: Map<string, Float32Array[]>; failures: RecordFailure[] }> {
  const vectors = new Map<string, Float32Array[]>();
  const failures: RecordFailure[] = [];
  if (items.length === 0) return { vectors, failures };
  const all = items.flatMap((p) => p.texts);
  try {
    const out = await deps.dense.embed(all);
    let o = 0;
    for (const p of items) {
      vectors.set(p.doc.recordKey, out.slice(o, o + p.texts.length));
      o += p.texts.length;
    }
    return { vectors, failures };
  } catch (err) {
    if (!(err instanceof PermanentError) || items.length === 1) {
      if (err instanceof PermanentError) {
        failures.push({ recordKey: items[0]!.doc.recordKey, step: 'embed', error: err.message });
        return { vectors, failures };
      }
      throw err;
    }
  }
  // Bisect: one request per record isolates the poison ones; transient errors still throw.
  for (const p of items) {
    try {
      vectors.set(p.doc.recordKey, await deps.dense.embed(p.texts));
    } catch (err) {
      if (err instanceof PermanentError)
        failures.push({ recordKey: p.doc.recordKey, step: 'embed', error: err.message });
      else throw err;
    }
  }
  return { vectors, failures };
}

/**
 * Bring `store` up to date for `keys` (their current source state). Keys must
 * be distinct. Throws on transient failures; the caller retries the batch.
 */
export async function indexRecords(
  deps: IndexDeps,
  store: VectorStore,
  keys: string[],
): Promise<BatchResult> {
  const counts = emptyCounts();
  const { docs, failures, entityIds: entityMap } = renderBatch(deps, keys);
  const present = [...docs.entries()].filter((e): e is [string, RenderedDoc] => e[1] !== null);
  const states = await store.getRecordStates([...docs.keys()]);
  const changed: Prepared[] = [];
  for (const [key, doc] of present) {
    try {
      const ids = entityMap.get(key) ?? [];
      const d = describeDoc(deps, doc, ids);
      // Unchanged: same fingerprint as the store holds. Chunking is a pure function of what it covers.
      if (states.get(key)?.fingerprint === d.fingerprint) counts.unchanged++;
      else changed.push(prepareDoc(deps, doc, ids, d));
    } catch (err) {
      failures.push({ recordKey: key, step: 'chunk', error: errorMessage(err) });
    }
  }
  const { vectors, failures: embedFailures } = await embedAll(deps, changed);
  failures.push(...embedFailures);
  const points: ChunkPoint[] = [];
  const shrink: { recordKey: string; fromIndex: number }[] = [];
  for (const p of changed) {
    const v = vectors.get(p.doc.recordKey);
    if (!v) continue;
    points.push(...buildPoints(p, v, deps.sparse));
    const s = states.get(p.doc.recordKey);
    if (s) {
      counts.updated++;
      if (s.chunkCount > p.texts.length)
        shrink.push({ recordKey: p.doc.recordKey, fromIndex: p.texts.length });
    } else counts.added++;
  }
  const gone = [...docs.entries()].filter(([, d]) => d === null).map(([k]) => k);
  if (points.length > 0) await store.upsert(points);
  if (shrink.length > 0) await store.deleteChunksFrom(shrink);
  if (gone.length > 0) {
    await store.deleteRecords(gone);
    counts.deleted += gone.filter((k) => states.has(k)).length;
  }
  counts.chunks = points.length;
  counts.failed = failures.length;
  const failedKeys = new Set(failures.map((f) => f.recordKey));
  return { counts, failures, done: keys.filter((k) => !failedKeys.has(k)) };
}
