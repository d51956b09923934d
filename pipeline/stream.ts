/**
 * The one stream every run feeds: pages of record keys in, acknowledged
 * pages out. A run is a Source (the changelog tail, the full scan, the
 * sweep's repairs) composed with these stages:
 *
 *   take a page          source.next(), only when the stream has room
 *   → store states       the fingerprints the store holds for the page's keys
 *   → prepare            render + fingerprint, skip unchanged, chunk + BM25,
 *                        a slice at a time, each after a turn of the event
 *                        loop and only while fewer than `maxHeld` chunks wait
 *   → requests           cut into embeddings requests of EMBED_BATCH_SIZE chunks
 *                        (or fewer, to stay within EMBED_MAX_TOKENS_PER_REQUEST)
 *   → embed (dense)      mergeMap: EMBED_CONCURRENCY requests in flight (twice that handed to an
 *                        embedder that queues: the HTTP clients)
 *   → write              concatMap: upsert groups of ~WRITE_GROUP_CHUNKS, one at a time
 *   → ack                concatMap: pages in source order, each once the store
 *                        confirmed every write of it
 *
 * Order: a page's keys are distinct, so its records may be embedded and
 * written in any order. A source whose pages can share keys (the changelog
 * tail) reads its next page only after the previous one is acked; a full
 * scan (`overlap`) reads it once the previous one is prepared.
 *
 * Failures: a permanent failure of one record comes back in its page's
 * `failures` and the page goes on. Anything else fails the stream; every
 * embed and write still running is awaited first (a retry must never race
 * an older write), then the retry policy decides, and the source rewinds to
 * its first unacked page.
 */
import {
  AsyncSubject,
  BehaviorSubject,
  catchError,
  concat,
  concatMap,
  connect,
  defer,
  EMPTY,
  expand,
  filter,
  from,
  fromEvent,
  ignoreElements,
  lastValueFrom,
  map,
  merge,
  mergeMap,
  NEVER,
  type Observable,
  of,
  retry,
  startWith,
  take,
  takeUntil,
  takeWhile,
  tap,
  throwError,
} from 'rxjs';
import { EmbedderFaultError, PermanentError } from '../config/errors.js';
import { estimateTokens } from '../encoders/httpRequests.js';
import type { ChunkPayload, ChunkPoint, RecordState, VectorStore } from '../stores/types.js';
import {
  emptyCounts,
  payloadWith,
  prepareKeys,
  type BatchCounts,
  type BatchResult,
  type IndexDeps,
  type PreparedRecord,
  type RecordFailure,
} from './prepare.js';
import { turn } from './signals.js';

export interface Page<M> {
  keys: string[];
  meta: M;
}

export interface Written<M> extends BatchResult {
  page: Page<M>;
}

/** Where a run's pages come from, and what it does once one is written. */
export interface Source<M> {
  /** The next page, or null when there is none. Called only when the stream has room for it. */
  next(): Page<M> | null | Promise<Page<M> | null>;
  /** Called for each page, in source order, once the store confirmed all of its writes. */
  ack(written: Written<M>): void | Promise<void>;
  /** The next page may be read before this one is acked (its keys never repeat: a full scan). */
  overlap?: boolean;
  /** Before a retry: serve the pages given out but not acked again. */
  rewind?(): void;
  /** Called before each prepare slice and embeddings request (a page can take long: the tail renews its lease). */
  tick?(): void;
  /** Stops the stream: pages not acked yet are abandoned (never acked in part) once running work settled. */
  signal?: AbortSignal;
}

/** After a failure of the stages: resolve true to retry, false to stop (the stream completes), or throw. */
export type RetryPolicy = (err: unknown, attempt: number) => Promise<boolean>;

/**
 * Chunks a prepare slice aims at (its key count follows the chunks per key of
 * the slice before): small while a request is out to an embedder that does
 * not queue, so its reply, and the next request, wait at most one small slice
 * (the event loop turns between slices); larger otherwise, to spread each
 * slice's read transaction and entity lookup. An embedder that queues (the
 * HTTP clients) sends its next request itself, on its own thread.
 */
export const SLICE_CHUNKS = 256;
export const SLICE_CHUNKS_IN_FLIGHT = 16;
const SLICE_MAX_KEYS = 64;
const SLICE_MIN_KEYS = 1;
/**
 * Chunks per upsert: a store write has a fixed cost (a transaction, a
 * request), and a group is written while the next ones embed.
 */
export const WRITE_GROUP_CHUNKS = 512;

/**
 * Requests the embed stage hands out at once: EMBED_CONCURRENCY, or twice that to an embedder that
 * queues (the HTTP clients), so the next request waits in its queue and leaves the moment a reply
 * arrives, whatever the stream's thread is busy with; the server still sees EMBED_CONCURRENCY.
 */
export function requestsOut(deps: Pick<IndexDeps, 'dense' | 'embedInFlight'>): number {
  return deps.dense.queues ? 2 * deps.embedInFlight : deps.embedInFlight;
}

/**
 * The most chunks prepared and not yet written: a group filling, every
 * request handed out and as many again ready. More only lengthens the life of
 * what is held (past the young generation: copied, promoted, compacted); less
 * shuts the gate on a part-filled request, which then leaves short.
 */
export function maxHeldChunks(deps: Pick<IndexDeps, 'dense' | 'embedBatch' | 'embedInFlight'>): number {
  return WRITE_GROUP_CHUNKS + 2 * deps.embedBatch * requestsOut(deps);
}

/** A changed record on its way through embed and write. */
interface Rec {
  prep: PreparedRecord;
  page: PageWork<unknown>;
  vectors: (Float32Array | undefined)[];
  /** Requests holding a piece of it that the write stage has not seen yet. */
  piecesLeft: number;
  failed: boolean;
}

/** Chunks [from, to) of one record, in one embeddings request. */
interface Piece {
  rec: Rec;
  from: number;
  to: number;
}

interface Request {
  pieces: Piece[];
  chunks: number;
}

/** A page inside the stream: what is left of it, and what it came to. */
class PageWork<M> {
  readonly keys: string[];
  states = new Map<string, RecordState>();
  fingerprints = new Map<string, string>();
  /** Next key to prepare, and the chunks per key of the last slice that had any (sizes the next). */
  at = 0;
  chunksPerKey = 16;
  sliced = false;
  /** Changed records not yet through the write stage's check (written or failed). */
  pending = 0;
  /** Records ready and waiting in the write group. */
  waiting = 0;
  gone: string[] = [];
  counts = emptyCounts();
  failures: RecordFailure[] = [];
  finished = false;
  readonly done = new AsyncSubject<Written<M>>();
  constructor(readonly page: Page<M>) {
    const set = new Set(page.keys);
    this.keys = set.size === page.keys.length ? page.keys : [...set];
  }
  fail(key: string, step: RecordFailure['step'], error: string): void {
    this.failures.push({ recordKey: key, step, error });
  }
}

/** A batch at least this large whose every record the server refuses on its own is the server's fault. */
const ALL_REFUSED_MIN_RECORDS = 4;

/** Promises the stages started and have not settled, awaited before a retry or a failure is passed on. */
class Running {
  private readonly set = new Set<Promise<unknown>>();
  run<T>(fn: () => Promise<T>): Observable<T> {
    return defer(() => {
      const p = fn();
      this.set.add(p);
      void p.then(
        () => this.set.delete(p),
        () => this.set.delete(p),
      );
      return from(p);
    });
  }
  async settle(): Promise<void> {
    while (this.set.size > 0) await Promise.allSettled([...this.set]);
  }
}

/**
 * Run `source` through the stages into `store`. Emits each page once acked.
 * Without `policy` a failure is passed on (after the running work settled).
 */
export function runStages<M>(
  deps: IndexDeps,
  store: VectorStore,
  source: Source<M>,
  policy?: RetryPolicy,
): Observable<Written<M>> {
  const running = new Running();
  /** Errors of the source itself (reading or acking a page) are its caller's to handle, not retried here. */
  const ofSource = new WeakSet<object>();
  const sourceStep = <T>(fn: () => T | Promise<T>): Observable<T> =>
    running.run(async () => {
      try {
        return await fn();
      } catch (err) {
        if (typeof err === 'object' && err !== null) ofSource.add(err);
        throw err;
      }
    });

  const attempt = defer(() => {
    const maxHeld = maxHeldChunks(deps);
    const held = new BehaviorSubject(0);
    const demand = new BehaviorSubject<void>(undefined);
    const active: PageWork<unknown>[] = [];
    /** Embeddings requests sent and not answered yet, and sent in all. */
    let embedding = 0;
    let sent = 0;

    // ── prepare: one slice of a page's keys ──────────────────────────────────────
    const prepareSlice = (pw: PageWork<unknown>): Rec[] => {
      source.tick?.();
      // Small while replies are due here; never (by the estimate) past the bound on chunks held.
      const target = Math.max(
        SLICE_CHUNKS_IN_FLIGHT,
        Math.min(
          embedding > 0 && !deps.dense.queues ? SLICE_CHUNKS_IN_FLIGHT : SLICE_CHUNKS,
          maxHeld - held.value,
        ),
      );
      const n = Math.max(SLICE_MIN_KEYS, Math.min(SLICE_MAX_KEYS, Math.floor(target / pw.chunksPerKey)));
      const keys = pw.keys.slice(pw.at, pw.at + n);
      pw.at += keys.length;
      const r = prepareKeys(deps, keys, pw.fingerprints);
      let chunks = 0;
      const recs = r.changed.map((prep): Rec => {
        chunks += prep.texts.length;
        return { prep, page: pw, vectors: new Array(prep.texts.length), piecesLeft: 0, failed: false };
      });
      // A slice that changed nothing (unchanged or gone records) says nothing about the next one.
      if (chunks > 0) pw.chunksPerKey = chunks / keys.length;
      pw.counts.unchanged += r.unchanged;
      for (const f of r.failures) pw.failures.push(f);
      for (const g of r.gone) pw.gone.push(g);
      pw.pending += recs.length;
      held.next(held.value + chunks);
      if (pw.at >= pw.keys.length) {
        pw.sliced = true;
        if (source.overlap) demand.next();
      }
      return recs;
    };
    // A slice starts after a turn of the event loop (embed replies come in, timers run) and only with room.
    const roomNow = held.pipe(
      filter((n) => n < maxHeld),
      take(1),
    );
    const room = defer(() => from(turn())).pipe(concatMap(() => roomNow));
    // A page's first slice follows its (asynchronous) store read at once; each later one after a turn.
    const slices = (pw: PageWork<unknown>): Observable<{ pw: PageWork<unknown>; recs: Rec[] }> =>
      roomNow.pipe(
        map(() => ({ pw, recs: prepareSlice(pw) })),
        expand((s) => (s.pw.sliced ? EMPTY : room.pipe(map(() => ({ pw, recs: prepareSlice(pw) }))))),
      );

    // ── requests: as many chunks as one embeddings request takes (EMBED_BATCH_SIZE, and the token budget
    // the HTTP embedder would otherwise split it at); a page's last one may be short ─────────
    let open: Request = { pieces: [], chunks: 0 };
    let openTokens = 0;
    /** Chunks of the records with a piece in the open request. */
    const inOpen = (): number => {
      let n = 0;
      let last: Rec | undefined;
      for (const p of open.pieces) if (p.rec !== last) n += (last = p.rec).prep.texts.length;
      return n;
    };
    const cut = (s: { pw: PageWork<unknown>; recs: Rec[] }): Request[] => {
      const out: Request[] = [];
      const close = (): void => {
        out.push(open);
        open = { pieces: [], chunks: 0 };
        openTokens = 0;
      };
      for (const rec of s.recs) {
        const texts = rec.prep.texts;
        for (let i = 0; i < texts.length;) {
          let to = i;
          while (to < texts.length && open.chunks + (to - i) < deps.embedBatch) {
            const t = estimateTokens(texts[to]!);
            if (open.chunks + (to - i) > 0 && openTokens + t > deps.embedMaxTokens) break;
            openTokens += t;
            to++;
          }
          if (to > i) {
            open.pieces.push({ rec, from: i, to });
            rec.piecesLeft++;
            open.chunks += to - i;
            i = to;
          }
          if (i < texts.length || open.chunks >= deps.embedBatch) close();
        }
      }
      // The page's end goes through as a request (maybe empty): the write stage then closes the page.
      // So does a part-filled request once the gate is shut, if waiting might never open it again: its
      // records cannot be written without it, and everything else written may leave less than a write
      // group, so only if those records and a group fit below the bound does the room come back on its
      // own (a record larger than the bound never does). Otherwise the request waits for the next slices:
      // a gate that shuts in every request's time (a busy server) would else send a short request each time.
      if (
        s.pw.sliced ||
        (held.value >= maxHeld && open.chunks > 0 && inOpen() + WRITE_GROUP_CHUNKS >= maxHeld)
      )
        close();
      return out;
    };

    // ── embed: one request; a refused one is retried record by record to find the poison ──
    const put = (rec: Rec, from: number, vectors: Float32Array[]): void => {
      for (let k = 0; k < vectors.length; k++) rec.vectors[from + k] = vectors[k];
    };
    const embed = async (req: Request): Promise<Request> => {
      if (req.chunks === 0) return req;
      const texts: string[] = [];
      for (const p of req.pieces) for (let i = p.from; i < p.to; i++) texts.push(p.rec.prep.texts[i]!);
      try {
        const out = await deps.dense.embed(texts);
        let o = 0;
        for (const p of req.pieces) {
          put(p.rec, p.from, out.slice(o, o + p.to - p.from));
          o += p.to - p.from;
        }
        return req;
      } catch (err) {
        // The embedder's own fault fails every record alike: nobody's record is to blame.
        if (err instanceof EmbedderFaultError || !(err instanceof PermanentError)) throw err;
      }
      const recs = [...new Set(req.pieces.map((p) => p.rec))].filter((r) => !r.failed);
      let refused = 0;
      let first = '';
      for (const rec of recs) {
        try {
          put(rec, 0, await deps.dense.embed(rec.prep.texts));
        } catch (err) {
          if (err instanceof EmbedderFaultError || !(err instanceof PermanentError)) throw err;
          rec.failed = true;
          rec.page.fail(rec.prep.recordKey, 'embed', err.message);
          first ||= err.message;
          refused++;
        }
      }
      // Every record refused, one by one: the server refuses everything (a broken model, a proxy's error
      // page), which is its fault, not the records'.
      if (recs.length >= ALL_REFUSED_MIN_RECORDS && refused === recs.length)
        throw new EmbedderFaultError(
          `The embeddings server refused every one of ${recs.length} records, each on its own: ${first}`,
        );
      return req;
    };

    // ── write: records whose every piece is embedded join the group; a group is upserted when full,
    // or when a page has nothing else to wait for; then finished pages delete their gone records ──
    let group: Rec[] = [];
    let groupChunks = 0;
    const writeGroup = async (): Promise<void> => {
      const recs = group;
      group = [];
      groupChunks = 0;
      const points: ChunkPoint[] = [];
      const shrink: { recordKey: string; fromIndex: number }[] = [];
      for (const rec of recs) {
        const p = rec.prep;
        for (let i = 0; i < p.texts.length; i++) {
          points.push({
            id: p.ids[i]!,
            dense: rec.vectors[i]!,
            sparse: p.sparse[i]!,
            payload: payloadWith(p.payload, { chunk_index: i, text: p.texts[i]! }) as ChunkPayload,
          });
        }
        const s = rec.page.states.get(p.recordKey);
        if (s && s.chunkCount > p.texts.length)
          shrink.push({ recordKey: p.recordKey, fromIndex: p.texts.length });
      }
      if (points.length > 0) await store.upsert(points);
      if (shrink.length > 0) await store.deleteChunksFrom(shrink);
      for (const rec of recs) {
        const pw = rec.page;
        if (pw.states.has(rec.prep.recordKey)) pw.counts.updated++;
        else pw.counts.added++;
        pw.counts.chunks += rec.prep.texts.length;
        pw.waiting--;
      }
      held.next(held.value - points.length);
    };
    const write = async (req: Request): Promise<void> => {
      for (const p of req.pieces) {
        const rec = p.rec;
        if (--rec.piecesLeft > 0) continue;
        rec.page.pending--;
        if (rec.failed) {
          held.next(held.value - rec.prep.texts.length);
          continue;
        }
        group.push(rec);
        groupChunks += rec.prep.texts.length;
        rec.page.waiting++;
      }
      const closing = (pw: PageWork<unknown>): boolean => pw.sliced && pw.pending === 0 && !pw.finished;
      if (groupChunks >= WRITE_GROUP_CHUNKS || (group.length > 0 && active.some(closing))) await writeGroup();
      while (active.length > 0 && closing(active[0]!) && active[0]!.waiting === 0) {
        const pw = active.shift()!;
        pw.finished = true;
        if (pw.gone.length > 0) {
          await store.deleteRecords(pw.gone);
          pw.counts.deleted += pw.gone.filter((k) => pw.states.has(k)).length;
        }
        pw.counts.failed = pw.failures.length;
        const failed = new Set(pw.failures.map((f) => f.recordKey));
        pw.done.next({
          page: pw.page,
          counts: pw.counts,
          failures: pw.failures,
          done: pw.keys.filter((k) => !failed.has(k)),
        });
        pw.done.complete();
      }
    };

    const pages = demand.pipe(
      concatMap(() => sourceStep(() => source.next())),
      takeWhile((p): p is Page<M> => p !== null),
      map((p) => new PageWork<M>(p)),
    );
    return pages.pipe(
      connect((shared) =>
        merge(
          shared.pipe(
            // store states: what "unchanged" compares against (read after the page before was written,
            // or, for a scan, for keys no other page has)
            concatMap((pw) =>
              running
                .run(() => store.getRecordStates(pw.keys))
                .pipe(
                  map((states) => {
                    pw.states = states;
                    for (const [k, st] of states) pw.fingerprints.set(k, st.fingerprint);
                    active.push(pw as PageWork<unknown>);
                    return pw as PageWork<unknown>;
                  }),
                ),
            ),
            concatMap(slices),
            mergeMap((s) => from(cut(s))),
            // A turn before each request but the first: an embedder that computes in place (the local
            // one) blocks, and timers, health checks and signals must still get through between its calls.
            mergeMap(
              (req) =>
                running.run(async () => {
                  if (req.chunks === 0) return req;
                  if (sent++ > 0) await turn();
                  source.tick?.();
                  embedding++;
                  try {
                    return await embed(req);
                  } finally {
                    embedding--;
                  }
                }),
              requestsOut(deps),
            ),
            concatMap((req) => running.run(() => write(req))),
            ignoreElements(),
          ),
          shared.pipe(
            concatMap((pw) => pw.done),
            concatMap((w) =>
              sourceStep(async () => {
                await source.ack(w);
                return w;
              }),
            ),
            tap(() => {
              if (!source.overlap) demand.next();
            }),
          ),
        ),
      ),
    );
  });

  const aborted = source.signal
    ? fromEvent(source.signal, 'abort').pipe(
        startWith(null),
        filter(() => source.signal!.aborted),
        take(1),
      )
    : NEVER;
  return attempt.pipe(
    takeUntil(aborted),
    retry({
      resetOnSuccess: true,
      delay: (err: unknown, n: number) =>
        from(running.settle()).pipe(
          concatMap(() =>
            !policy || (typeof err === 'object' && err !== null && ofSource.has(err))
              ? throwError(() => err)
              : from(policy(err, n)),
          ),
          concatMap((again) => {
            if (!again) return EMPTY;
            source.rewind?.();
            return of(true);
          }),
        ),
    }),
    // Never pass a failure on while a write of the failed attempt still runs, nor end after an abort
    // while one still runs.
    catchError((err: unknown) => from(running.settle()).pipe(concatMap(() => throwError(() => err)))),
    (out) => concat(out, defer(() => from(running.settle())).pipe(ignoreElements())),
  );
}

/** A source of given pages that rewinds to its first unacked page. */
export function keysSource<M>(
  pages: Iterable<Page<M>>,
  onAck: (w: Written<M>) => void | Promise<void>,
  opts: { overlap?: boolean; signal?: AbortSignal } = {},
): Source<M> {
  const it = pages[Symbol.iterator]();
  const unacked: Page<M>[] = [];
  let again: Page<M>[] = [];
  return {
    overlap: opts.overlap,
    signal: opts.signal,
    next() {
      if (opts.signal?.aborted) return null;
      const p = again.shift() ?? it.next().value ?? null;
      if (p) unacked.push(p);
      return p;
    },
    async ack(w) {
      unacked.shift();
      await onAck(w);
    },
    rewind() {
      again = [...unacked];
      unacked.length = 0;
    },
  };
}

/** `keys` cut into pages of `size`. */
export function* pagesOf(keys: string[], size: number): Generator<Page<null>> {
  for (let i = 0; i < keys.length; i += size) yield { keys: keys.slice(i, i + size), meta: null };
}

/**
 * Bring `store` up to date for `keys` in one page, without retries (tests,
 * and what every run does per page).
 */
export async function indexKeys(deps: IndexDeps, store: VectorStore, keys: string[]): Promise<BatchResult> {
  let result: BatchResult = { counts: emptyCounts(), failures: [], done: [] };
  await lastValueFrom(
    runStages(
      deps,
      store,
      keysSource([{ keys, meta: null }], (w) => {
        result = w;
      }),
    ),
    { defaultValue: null },
  );
  return result;
}

export type { BatchCounts };
