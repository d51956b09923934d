/**
 * The batch core shared by every run: record keys in, store writes out.
 *
 *   the store's own fingerprints for the keys →
 *   prepare: load + render (one short read transaction) → fingerprint →
 *     skip unchanged → chunk → BM25 → point ids   (prepareKeys; inline, or on
 *     the worker threads of preparePool.ts for a rebuild page of long text) →
 *   write: embed dense → upsert, delete shrunk chunks, delete vanished records.
 *
 * A transient failure (embedder or store down, database busy) throws, and the
 * caller retries the whole batch without acking. A permanent failure of one
 * record (bad data, an input the embedder rejects) is returned as a
 * RecordFailure, and the batch goes on without it.
 */
import { EmbedderFaultError, PermanentError, errorMessage } from '../config/errors.js';
import { isSqliteError } from '../config/sqliteErrors.js';
import type { Logger } from '../config/log.js';
import type { Db } from '../crm/db.js';
import { classifySqliteError } from '../crm/db.js';
import type { DenseEmbedder, SparseEncoder, SparseVector } from '../encoders/types.js';
import { pointId } from '../stores/ids.js';
import type { ChunkPayload, ChunkPoint, RecordState, VectorStore } from '../stores/types.js';
import { chunkDocument, fingerprint, type ChunkSettings } from './chunk.js';
import type { RecordFailure } from './failures.js';
import type { FingerprintResult } from './preparePool.js';
import type { RenderedDoc, Renderer } from './render.js';
import { turn } from './signals.js';

export interface IndexDeps {
  db: Db;
  renderer: Renderer;
  dense: DenseEmbedder;
  sparse: SparseEncoder;
  chunk: ChunkSettings;
  log: Logger;
  /** Canonical entity ids per record (entity resolution); absent → []. */
  entityIds?: (keys: string[]) => Map<string, string[]>;
  /** False once entity resolution switched itself off (the workers then skip the lookup too). */
  entitiesActive?: () => boolean;
  /** Worker threads for the prepare step of large batches (absent: all inline). */
  preparer?: Preparer;
}

/** What the prepare step needs: no embedder (only its model id, part of the fingerprint), no store. */
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
 * `{ ...base, ...more }`, keys in the same order, built with Object.assign.
 * In Node 20 a spread copy of an object that keeps some properties out of
 * line (a payload has more than four) gets a hidden class of its own: every
 * chunk's payload had a different one, so every read of a payload field
 * downstream (the store's row parameters, its payload JSON) missed its inline
 * cache and went to the runtime. Object.assign into an empty object follows
 * the shared transitions, so the payloads of one table share one class.
 * Long-notes rebuild: 4.8-4.9 against 5.2-5.7 s of main-thread CPU
 * (docs/benchmarks.md).
 */
export function extend<T extends object, U extends object>(base: T, more: U): T & U {
  return Object.assign(Object.assign({}, base), more);
}

/** Payload and fingerprint of a rendered document: cheap, no chunking (the sweep uses only this). */
export function describeDoc(
  deps: PrepareDeps,
  doc: RenderedDoc,
  entityIds: string[],
): { fingerprint: string; payloadBase: Record<string, unknown> } {
  const payloadBase = extend(doc.payload, { title: doc.title, entity_ids: entityIds });
  return {
    fingerprint: fingerprint(doc, payloadBase, deps.chunk, deps.dense.modelId, deps.sparse.version),
    payloadBase,
  };
}

/**
 * Render `keys` and fingerprint the present ones (the sweep's comparison;
 * no chunking). The same code runs inline and in the workers.
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
    payload: extend(described.payloadBase, {
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
 * What the CPU-heavy half of a batch produces for the store-writing half:
 * which keys vanished, how many records are unchanged, and for each changed
 * record its chunk texts, sparse vectors and point ids. Plain data, so a
 * worker thread can compute it (see preparePool.ts).
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

/** Computes prepared batches off the main thread; returns null to say "do it inline" (closed, or paused after worker deaths). */
export interface Preparer {
  prepare(
    keys: string[],
    fingerprints: Map<string, string>,
    entities: boolean,
  ): Promise<PrepareResult> | null;
  /** fingerprintKeys on a worker (the sweep). */
  fingerprints(keys: string[], entities: boolean): Promise<FingerprintResult> | null;
}

/**
 * Render, fingerprint, and for each record whose fingerprint differs from
 * `fingerprints` (what the store holds), chunk, BM25-encode and name its
 * points. Pure apart from reading the CRM; the same code runs inline and in
 * the workers.
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

/** A batch at least this large whose every record the server refuses on its own is the server's fault. */
const ALL_REFUSED_MIN_RECORDS = 4;

/** Embed every changed record's chunks; on a permanent error, find the records that cause it. */
async function embedAll(
  deps: IndexDeps,
  items: PreparedRecord[],
): Promise<{ vectors: Map<string, Float32Array[]>; failures: RecordFailure[] }> {
  const vectors = new Map<string, Float32Array[]>();
  const failures: RecordFailure[] = [];
  if (items.length === 0) return { vectors, failures };
  const all = items.flatMap((p) => p.texts);
  try {
    const out = await deps.dense.embed(all);
    let o = 0;
    for (const p of items) {
      vectors.set(p.recordKey, out.slice(o, o + p.texts.length));
      o += p.texts.length;
    }
    return { vectors, failures };
  } catch (err) {
    // The embedder's own fault fails every record alike: nobody's record is to blame.
    if (err instanceof EmbedderFaultError) throw err;
    if (!(err instanceof PermanentError) || items.length === 1) {
      if (err instanceof PermanentError) {
        failures.push({ recordKey: items[0]!.recordKey, step: 'embed', error: err.message });
        return { vectors, failures };
      }
      throw err;
    }
  }
  // Bisect: one request per record isolates the poison ones; transient errors still throw.
  for (const p of items) {
    try {
      vectors.set(p.recordKey, await deps.dense.embed(p.texts));
    } catch (err) {
      if (err instanceof EmbedderFaultError) throw err;
      if (err instanceof PermanentError)
        failures.push({ recordKey: p.recordKey, step: 'embed', error: err.message });
      else throw err;
    }
  }
  // Every record of the batch refused, one by one: the server refuses everything (a broken model, a proxy's
  // error page), which is its fault, not the records'.
  if (items.length >= ALL_REFUSED_MIN_RECORDS && failures.length === items.length) {
    throw new EmbedderFaultError(
      `The embeddings server refused every one of ${items.length} records, each on its own: ${failures[0]!.error}`,
    );
  }
  return { vectors, failures };
}

/** Below this many keys a batch is prepared inline: a worker round trip would only add latency. */
export const POOL_MIN_KEYS = 64;

/**
 * Chunks per record from which the workers pay off. On 2 cores they did for
 * long text; for short records (one chunk each) the write half on the main
 * thread is the larger one, and handing their prepare to the workers measured
 * slower than inline (docs/benchmarks.md).
 */
export const POOL_MIN_CHUNKS_PER_RECORD = 3;

/**
 * The records prepared so far for one table, and their chunks (of changed
 * records). The workers take a table's records while these average
 * POOL_MIN_CHUNKS_PER_RECORD: a running figure, so one slice of a few long
 * notes among short records does not send short ones to the workers (that
 * measured slower and costs their memory), while a table whose records turn
 * long mid-page switches within that page.
 */
export interface Tally {
  records: number;
  chunks: number;
}

const dense = (t: Tally): boolean => t.records > 0 && t.chunks >= POOL_MIN_CHUNKS_PER_RECORD * t.records;

function count(t: Tally, keys: number, r: PrepareResult): void {
  t.records += keys;
  t.chunks += preparedChunks(r);
}

/** Concatenate prepared slices, in order. */
export function mergePrepared(parts: PrepareResult[]): PrepareResult {
  if (parts.length === 1) return parts[0]!;
  const out: PrepareResult = { gone: [], unchanged: 0, changed: [], failures: [] };
  for (const p of parts) {
    for (const g of p.gone) out.gone.push(g);
    for (const c of p.changed) out.changed.push(c);
    for (const f of p.failures) out.failures.push(f);
    out.unchanged += p.unchanged;
  }
  return out;
}

/** Each key once, first occurrence first (`keys` itself when it has no repeats): a batch's rounds run at once. */
function distinct(keys: string[]): string[] {
  const set = new Set(keys);
  return set.size === keys.length ? keys : [...set];
}

/** The fingerprint the store holds for each key (what prepareKeys compares against). */
function fingerprintsOf(states: Map<string, RecordState>): Map<string, string> {
  const fps = new Map<string, string>();
  for (const [k, st] of states) fps.set(k, st.fingerprint);
  return fps;
}

/** Chunks of the changed records in a prepare result. */
function preparedChunks(r: PrepareResult): number {
  let n = 0;
  for (const c of r.changed) n += c.texts.length;
  return n;
}

/** `keys` on the workers; null when the pool declines (closed or paused). A worker failure means inline. */
function onWorkers(deps: IndexDeps, keys: string[], fps: Map<string, string>): Promise<PrepareResult> | null {
  if (!deps.preparer || keys.length < POOL_MIN_KEYS) return null;
  const entities = deps.entityIds !== undefined && (deps.entitiesActive?.() ?? true);
  const pending = deps.preparer.prepare(keys, fps, entities);
  // A worker that fails or dies costs only time: the batch is prepared inline instead.
  return (
    pending?.catch((err: unknown) => {
      deps.log.warn(
        { err: errorMessage(err) },
        `prepare worker failed, preparing inline: ${errorMessage(err)}`,
      );
      return prepareKeys(deps, keys, fps);
    }) ?? null
  );
}

/**
 * Start the CPU-heavy half of a rebuild page that overlaps with the previous
 * page's write: in slices of POOL_MIN_KEYS keys inline while `tally` is below
 * POOL_MIN_CHUNKS_PER_RECORD, and the rest of the page on the workers from
 * the slice where it is reached (inline slices throughout when the pool
 * declines or there is none); each result is added to the tally. Other
 * batches are prepared by indexRecords, inline: a batch handed to the workers
 * and simply awaited measured slower than inline on 2 cores
 * (docs/benchmarks.md).
 */
export function startPrepare(
  deps: IndexDeps,
  keys: string[],
  states: Map<string, RecordState>,
  tally: Tally,
): Promise<PrepareResult> {
  const fps = fingerprintsOf(states);
  try {
    const parts: PrepareResult[] = [];
    for (let i = 0; i < keys.length;) {
      if (dense(tally)) {
        const rest = keys.slice(i);
        const pooled = onWorkers(deps, rest, fps);
        if (pooled)
          return pooled.then((r) => {
            count(tally, rest.length, r);
            return mergePrepared([...parts, r]);
          });
      }
      const slice = keys.slice(i, i + POOL_MIN_KEYS);
      i += slice.length;
      const r = prepareKeys(deps, slice, fps);
      count(tally, slice.length, r);
      parts.push(r);
    }
    return Promise.resolve(mergePrepared(parts));
  } catch (err) {
    return Promise.reject(err as Error);
  }
}

/** A batch whose prepare step has started: the store's states it compared against, and the result to come. */
export interface PreparedBatch {
  states: Map<string, RecordState>;
  result: Promise<PrepareResult>;
}

/**
 * Read the store's states for `keys` and start their prepare step, without
 * waiting for it. The caller must not write any of `keys` to `store` before
 * passing this to indexRecords (the comparison would be stale).
 */
export async function prepareBatch(
  deps: IndexDeps,
  store: VectorStore,
  keys: string[],
  tally: Tally,
): Promise<PreparedBatch> {
  keys = distinct(keys);
  const states = await store.getRecordStates(keys);
  const result = startPrepare(deps, keys, states, tally);
  // Awaited later by indexRecords; until then a failure must not count as unhandled.
  result.catch(() => undefined);
  return { states, result };
}

/**
 * A batch is prepared and written in rounds. Prepared whole, a batch of 512
 * long meeting notes is about 7,000 chunks (some 40 MB of texts and sparse
 * vectors): all of it outlived the young generation, so it was copied and
 * promoted before it died. Prepared in slices of about PREPARE_SLICE_CHUNKS
 * chunks and written every WRITE_ROUND_CHUNKS, a long-notes rebuild on the
 * main thread took 119 against 163 µs of CPU per chunk and peaked at 170
 * against 280 MB (docs/benchmarks.md). A round's embedding (an
 * HTTP call to a real server) runs while the next round is prepared.
 * WRITE_ROUND_CHUNKS is two of the embedder's default in-flight batches
 * (EMBED_BATCH_SIZE 64 x EMBED_CONCURRENCY 4), so a GPU server still gets
 * full batches.
 */
export const PREPARE_SLICE_CHUNKS = 256;
export const WRITE_ROUND_CHUNKS = 512;
/** Keys per prepare slice: POOL_MIN_KEYS for short records, fewer for long ones, never below this. */
const MIN_SLICE_KEYS = 8;
/** Chunks per prepare slice while a round is still embedding (a turn of the event loop after each). */
export const IN_FLIGHT_SLICE_CHUNKS = 16;
/**
 * Rounds embedding at once. With one, the embedder's queue ran dry at the
 * end of every round: a round of 512 chunks is 8-9 requests, 3 waves at
 * EMBED_CONCURRENCY 4, each wave a server round trip.
 */
export const ROUNDS_IN_FLIGHT = 2;

/**
 * The rounds of one batch that are embedding and writing, at most `depth` at
 * once. A batch's keys are distinct, so its rounds touch different records
 * and may finish in any order. The first failure is kept: no round starts
 * after it, and it is rethrown once every round has settled, so nothing of
 * the batch still writes when its caller retries it (write order).
 */
class Rounds {
  private readonly running = new Set<Promise<void>>();
  private failure: { err: unknown } | null = null;
  /** `parent`: the batch's rounds, when these are the rounds of one of them (its failure stops these too). */
  constructor(
    private readonly depth: number,
    private readonly parent?: Rounds,
  ) {}

  get inFlight(): number {
    return this.running.size;
  }

  /** Throws the first round's failure, if one has failed (here or in the parent). */
  check(): void {
    if (this.failure) throw this.failure.err;
    this.parent?.check();
  }

  /** Start a round once there is room (waiting for any round to settle, not the oldest). */
  async start(write: () => Promise<void>): Promise<void> {
    this.check();
    while (this.running.size >= this.depth) {
      await Promise.race(this.running);
      this.check();
    }
    const settled: Promise<void> = write().then(
      () => void this.running.delete(settled),
      (err: unknown) => {
        this.running.delete(settled);
        this.failure ??= { err };
      },
    );
    this.running.add(settled);
  }

  /** Wait for every round; then throw the first failure, if any. */
  async finish(): Promise<void> {
    await this.settle();
    this.check();
  }

  /** Wait for every round, failed or not (before rethrowing an error of the caller's own). */
  async settle(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running);
  }
}

/**
 * Bring `store` up to date for `keys` (their current source state). A key
 * given twice is indexed once: the batch's rounds run at once (Rounds), and
 * two of them must never write the same record. Throws on transient
 * failures; the caller retries the batch (rounds already written are then
 * unchanged, so a retry skips them).
 * `prepared`, when given, is this batch's prepare step already started (the
 * rebuild overlaps it with the previous batch's write); otherwise the batch
 * is prepared inline in slices and written in rounds (see above).
 */
export async function indexRecords(
  deps: IndexDeps,
  store: VectorStore,
  keys: string[],
  prepared?: PreparedBatch,
): Promise<BatchResult> {
  keys = distinct(keys);
  const counts = emptyCounts();
  const failures: RecordFailure[] = [];
  const states = prepared?.states ?? (await store.getRecordStates(keys));
  if (prepared) {
    await writePrepared(deps, store, states, await prepared.result, counts, failures);
  } else {
    const fps = fingerprintsOf(states);
    let parts: PrepareResult[] = [];
    let waiting = 0;
    const rounds = new Rounds(ROUNDS_IN_FLIGHT);
    let sliceKeys = POOL_MIN_KEYS;
    let lastKeys = 0;
    let lastChunks = 0;
    try {
      for (let i = 0; i < keys.length;) {
        // While a round is in flight, slices are small and the event loop turns between them: an HTTP
        // request goes out, and its reply comes in, only on a turn (about four turns a request). With
        // a turn only per round, an embeddings server's latency added to the prepare time of every
        // round instead of overlapping it (docs/benchmarks.md).
        const inFlight = rounds.inFlight > 0;
        if (inFlight) {
          await turn();
          // A round that failed meanwhile fails the batch now: preparing more would be wasted.
          rounds.check();
        }
        // Sized from the chunks per key of the slice before (the first slice has POOL_MIN_KEYS keys).
        // A slice that changed nothing (unchanged or gone records) says nothing about the next one.
        if (lastKeys > 0) {
          const [chunksWanted, leastKeys] = inFlight
            ? [IN_FLIGHT_SLICE_CHUNKS, 1]
            : [PREPARE_SLICE_CHUNKS, MIN_SLICE_KEYS];
          sliceKeys =
            inFlight && lastChunks === 0
              ? MIN_SLICE_KEYS
              : Math.max(
                  leastKeys,
                  Math.min(POOL_MIN_KEYS, Math.floor((chunksWanted * lastKeys) / Math.max(1, lastChunks))),
                );
        }
        const slice = keys.slice(i, i + sliceKeys);
        i += slice.length;
        const r = prepareKeys(deps, slice, fps);
        const chunks = preparedChunks(r);
        parts.push(r);
        waiting += chunks;
        lastKeys = slice.length;
        lastChunks = chunks;
        if (waiting >= WRITE_ROUND_CHUNKS || i >= keys.length) {
          // Up to ROUNDS_IN_FLIGHT rounds are embedded and written at once, and the next one is prepared
          // meanwhile. A part is about one round, so it writes its own rounds one at a time.
          const part = mergePrepared(parts);
          await rounds.start(() => writePrepared(deps, store, states, part, counts, failures, 1, rounds));
          parts = [];
          waiting = 0;
        }
      }
      await rounds.finish();
    } catch (err) {
      // Never leave a round writing behind a failed batch: its retry must not race it (write order).
      await rounds.settle();
      throw err;
    }
  }
  counts.failed = failures.length;
  const failedKeys = new Set(failures.map((f) => f.recordKey));
  return { counts, failures, done: keys.filter((k) => !failedKeys.has(k)) };
}

/**
 * The write half for one prepare result: embed the changed records' chunks,
 * upsert them, delete chunks past a shrunk record's end and the records that
 * are gone; in rounds of about WRITE_ROUND_CHUNKS chunks (whole records), up
 * to `depth` of them at once, and none after a round of `parent` failed.
 * Adds to `counts` (not `failed`) and `failures`.
 */
async function writePrepared(
  deps: IndexDeps,
  store: VectorStore,
  states: Map<string, RecordState>,
  prep: PrepareResult,
  counts: BatchCounts,
  failures: RecordFailure[],
  depth = ROUNDS_IN_FLIGHT,
  parent?: Rounds,
): Promise<void> {
  for (const f of prep.failures) failures.push(f);
  counts.unchanged += prep.unchanged;
  // Up to `depth` rounds at once (Rounds), so the embedder's queue does not run dry at the end of each.
  const rounds = new Rounds(depth, parent);
  try {
    for (let from = 0; from < prep.changed.length;) {
      let to = from;
      let chunks = 0;
      while (to < prep.changed.length && (to === from || chunks < WRITE_ROUND_CHUNKS))
        chunks += prep.changed[to++]!.texts.length;
      const round = prep.changed.slice(from, to);
      await rounds.start(() => writeRound(deps, store, states, round, counts, failures));
      from = to;
    }
    await rounds.finish();
  } catch (err) {
    await rounds.settle();
    throw err;
  }
  if (prep.gone.length > 0) {
    await store.deleteRecords(prep.gone);
    counts.deleted += prep.gone.filter((k) => states.has(k)).length;
  }
}

async function writeRound(
  deps: IndexDeps,
  store: VectorStore,
  states: Map<string, RecordState>,
  changed: PreparedRecord[],
  counts: BatchCounts,
  failures: RecordFailure[],
): Promise<void> {
  const { vectors, failures: embedFailures } = await embedAll(deps, changed);
  for (const f of embedFailures) failures.push(f);
  const points: ChunkPoint[] = [];
  const shrink: { recordKey: string; fromIndex: number }[] = [];
  for (const p of changed) {
    const v = vectors.get(p.recordKey);
    if (!v) continue;
    for (let i = 0; i < p.texts.length; i++) {
      points.push({
        id: p.ids[i]!,
        dense: v[i]!,
        sparse: p.sparse[i]!,
        payload: extend(p.payload, { chunk_index: i, text: p.texts[i]! }) as ChunkPayload,
      });
    }
    const s = states.get(p.recordKey);
    if (s) {
      counts.updated++;
      if (s.chunkCount > p.texts.length) shrink.push({ recordKey: p.recordKey, fromIndex: p.texts.length });
    } else counts.added++;
  }
  if (points.length > 0) await store.upsert(points);
  if (shrink.length > 0) await store.deleteChunksFrom(shrink);
  counts.chunks += points.length;
}
