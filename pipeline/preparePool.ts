/**
 * Worker threads for the CPU-heavy half of a batch: render, fingerprint,
 * chunk, BM25 and point ids (`prepareKeys`). The main thread keeps what must
 * stay in one place: the store's state, the embedder, the store write and
 * the ack. On one thread this half is about 55-60% of every chunk's CPU
 * (profiles in docs/benchmarks.md). Used by the rebuild scan for pages of
 * long text, overlapped with the previous page's write (rebuild.ts), and by
 * the sweep, which asks only for fingerprints (`fingerprints`, sweep.ts).
 *
 * A batch is cut into contiguous slices of at most SLICE_KEYS keys, dealt to
 * the workers in turn, and the results are put back in key order, so a pooled
 * batch gives exactly what the inline one gives. Small slices bound what a
 * worker holds at once (512 long meeting notes in one piece measured past a
 * 48 MB heap), so its heap can stay small: RSS is a target too.
 *
 * A worker error or crash never loses anything: the batch is redone inline
 * (where a real error surfaces with its own class; a record too large for a
 * worker's heap is prepared on the main thread's), and a dead worker is
 * replaced on the next batch. After MAX_RESTARTS deaths within
 * RESTART_WINDOW_MS the pool pauses and batches run inline until the window
 * has passed.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Config } from '../config/index.js';
import { errorMessage } from '../config/errors.js';
import type { Logger } from '../config/log.js';
import type { ChunkSettings } from './chunk.js';
import { mergePrepared, type PreparedRecord, type PrepareResult, type Preparer } from './indexer.js';

export interface WorkerInit {
  dbPath: string;
  busyTimeoutMs: number;
  sourceMapPath: string | undefined;
  chunk: ChunkSettings;
  modelId: string;
  logLevel: string;
}

export interface PrepareRequest {
  id: number;
  keys: string[];
  fps: [string, string][];
  entities: boolean;
  /** 'fingerprints': only render and fingerprint (the sweep); default: the whole prepare step. */
  kind?: 'prepare' | 'fingerprints';
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

export type PrepareResponse =
  | { id: number; result: WireResult }
  | { id: number; fingerprints: FingerprintResult }
  | { id: number; error: string }
  /** The worker could not start (say, the CRM file is unreadable); it exits next. */
  | { fatal: string };

/**
 * A PrepareResult as it crosses threads. Structured clone pays per object and
 * per array element, and the plain form (a string per chunk, two number
 * arrays per sparse vector) measured at about a third of the work it moved.
 * Here the chunk texts and point ids travel as one string each, the sparse
 * vectors as typed arrays that are transferred (not copied), and only the
 * per-record payloads as objects.
 */
export interface WireResult {
  gone: string[];
  unchanged: number;
  failures: PrepareResult['failures'];
  records: { recordKey: string; payload: PreparedRecord['payload']; fingerprint: string; chunks: number }[];
  /** Every chunk text, concatenated; textEnds[c] is where chunk c ends. */
  texts: string;
  textEnds: Int32Array;
  /** Every point id (36 characters each), concatenated. */
  ids: string;
  /** Sparse vectors, concatenated; sparseEnds[c] is where chunk c's entries end. */
  sparseEnds: Int32Array;
  sparseIndices: Uint32Array;
  sparseValues: Float64Array;
}

const ID_LENGTH = 36;

/** Worker side: pack a result; returns it and the buffers to transfer. */
export function toWire(r: PrepareResult): { wire: WireResult; transfer: ArrayBuffer[] } {
  let chunks = 0;
  let entries = 0;
  for (const rec of r.changed) {
    chunks += rec.texts.length;
    for (const v of rec.sparse) entries += v.indices.length;
  }
  const textEnds = new Int32Array(chunks);
  const sparseEnds = new Int32Array(chunks);
  const sparseIndices = new Uint32Array(entries);
  const sparseValues = new Float64Array(entries);
  const texts: string[] = [];
  const ids: string[] = [];
  let c = 0;
  let t = 0;
  let e = 0;
  for (const rec of r.changed) {
    for (let i = 0; i < rec.texts.length; i++) {
      const text = rec.texts[i]!;
      texts.push(text);
      t += text.length;
      textEnds[c] = t;
      ids.push(rec.ids[i]!);
      const v = rec.sparse[i]!;
      for (let j = 0; j < v.indices.length; j++) {
        sparseIndices[e] = v.indices[j]!;
        sparseValues[e] = v.values[j]!;
        e++;
      }
      sparseEnds[c] = e;
      c++;
    }
  }
  const wire: WireResult = {
    gone: r.gone,
    unchanged: r.unchanged,
    failures: r.failures,
    records: r.changed.map((rec) => ({
      recordKey: rec.recordKey,
      payload: rec.payload,
      fingerprint: rec.fingerprint,
      chunks: rec.texts.length,
    })),
    texts: texts.join(''),
    textEnds,
    ids: ids.join(''),
    sparseEnds,
    sparseIndices,
    sparseValues,
  };
  return {
    wire,
    transfer: [
      textEnds.buffer,
      sparseEnds.buffer,
      sparseIndices.buffer,
      sparseValues.buffer,
    ] as ArrayBuffer[],
  };
}

/** Main side: unpack into the PrepareResult the inline path would have produced. */
export function fromWire(w: WireResult): PrepareResult {
  const changed: PreparedRecord[] = [];
  let c = 0;
  let t = 0;
  let e = 0;
  for (const rec of w.records) {
    const texts: string[] = [];
    const ids: string[] = [];
    const sparse: PreparedRecord['sparse'] = [];
    for (let i = 0; i < rec.chunks; i++, c++) {
      const te = w.textEnds[c]!;
      texts.push(w.texts.slice(t, te));
      t = te;
      ids.push(w.ids.slice(c * ID_LENGTH, (c + 1) * ID_LENGTH));
      const se = w.sparseEnds[c]!;
      const indices = new Array<number>(se - e);
      const values = new Array<number>(se - e);
      for (let j = 0; e < se; j++, e++) {
        indices[j] = w.sparseIndices[e]!;
        values[j] = w.sparseValues[e]!;
      }
      sparse.push({ indices, values });
    }
    changed.push({
      recordKey: rec.recordKey,
      payload: rec.payload,
      fingerprint: rec.fingerprint,
      texts,
      ids,
      sparse,
    });
  }
  return { gone: w.gone, unchanged: w.unchanged, changed, failures: w.failures };
}

/** Worker deaths within RESTART_WINDOW_MS after which the pool pauses (batches run inline). */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 10 * 60_000;
/**
 * Workers stop after this long without a large batch, so a daemon that only
 * sees live edits does not keep their memory (about 35 MB each) for nothing.
 */
export const IDLE_STOP_MS = 30_000;
/** Keys per request to a worker. */
export const SLICE_KEYS = 64;
/**
 * Each worker's V8 heap: old generation, and young generation. The young
 * generation trades memory for GC time: a worker keeps its slice's result
 * alive while it builds it, and with 4 MB every scavenge copied that result
 * again (long-notes rebuild: ~320 scavenges and 1.1-1.2 s of GC per worker;
 * 16 MB: ~85 and 0.6-0.7 s, for about 30 MB more RSS per worker;
 * docs/benchmarks.md). V8's default (no limit) cost 50 MB of peak RSS more
 * than 4 MB on a 100k-record rebuild with the workers on every page.
 */
const WORKER_OLD_MB = 64;
const WORKER_YOUNG_MB = 16;

/** Batches the workers prepared, and sweep pages they fingerprinted, in this process (tests and diagnostics read it). */
export const poolStats = { batches: 0, fingerprintPages: 0 };

/**
 * `auto`: none on one or two cores, else one per core beside the main
 * thread's, up to 4. On this project's 2-core machine, once the main thread
 * prepared in slices and wrote in rounds, two workers gave the same wall
 * time within noise for about 1.5x the CPU and nearly twice the peak RSS
 * (docs/benchmarks.md): the two cores behave like about 1.5, and the
 * hand-over costs about what the second one gives. More cores were not
 * measured here.
 */
export function workerCountFor(setting: number | 'auto'): number {
  if (setting !== 'auto') return setting;
  const cores = availableParallelism();
  return cores <= 2 ? 0 : Math.min(cores - 1, 4);
}

interface Slot {
  worker: Worker | null;
  // The result's type follows the request's kind (see send).
  pending: Map<number, { resolve: (r: never) => void; reject: (e: Error) => void }>;
}

export class PreparePool implements Preparer {
  private readonly slots: Slot[];
  private nextId = 1;
  private nextSlot = 0;
  private inFlight = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  /** When workers died, within the restart window. */
  private deaths: number[] = [];
  private closed = false;

  constructor(
    private readonly init: WorkerInit,
    size: number,
    private readonly log: Logger,
    private readonly idleStopMs = IDLE_STOP_MS,
  ) {
    this.slots = Array.from({ length: size }, () => ({ worker: null, pending: new Map() }));
  }

  /** True while too many workers died recently: batches run inline. */
  get paused(): boolean {
    const since = Date.now() - RESTART_WINDOW_MS;
    this.deaths = this.deaths.filter((t) => t > since);
    return this.deaths.length >= MAX_RESTARTS;
  }

  /** Null when the pool is closed or paused (the caller prepares inline). */
  prepare(keys: string[], fps: Map<string, string>, entities: boolean): Promise<PrepareResult> | null {
    if (this.closed || this.paused) return null;
    const parts = Math.ceil(keys.length / SLICE_KEYS);
    const per = Math.ceil(keys.length / parts);
    const jobs: Promise<PrepareResult>[] = [];
    for (let i = 0; i < parts; i++) {
      const slice = keys.slice(i * per, (i + 1) * per);
      if (slice.length === 0) break;
      const sliceFps: [string, string][] = [];
      for (const k of slice) {
        const fp = fps.get(k);
        if (fp !== undefined) sliceFps.push([k, fp]);
      }
      const slot = this.slots[i % this.slots.length]!;
      jobs.push(this.send<PrepareResult>(slot, { id: this.nextId++, keys: slice, fps: sliceFps, entities }));
    }
    return this.track(
      Promise.all(jobs).then((parts) => {
        poolStats.batches++;
        return mergePrepared(parts);
      }),
    );
  }

  /**
   * The sweep's half of a page: render and fingerprint `keys` on the next
   * worker in turn (one request: a sweep page is already small). Null when
   * the pool is closed or paused.
   */
  fingerprints(keys: string[], entities: boolean): Promise<FingerprintResult> | null {
    if (this.closed || this.paused) return null;
    const slot = this.slots[this.nextSlot++ % this.slots.length]!;
    return this.track(
      this.send<FingerprintResult>(slot, {
        id: this.nextId++,
        keys,
        fps: [],
        entities,
        kind: 'fingerprints',
      }).then((r) => {
        poolStats.fingerprintPages++;
        return r;
      }),
    );
  }

  /** Count `job` in flight; when none is left, stop the workers after idleStopMs. */
  private track<T>(job: Promise<T>): Promise<T> {
    this.inFlight++;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    return job.finally(() => {
      if (--this.inFlight === 0 && !this.closed) {
        this.idleTimer = setTimeout(() => void this.stopWorkers(), this.idleStopMs);
        this.idleTimer.unref();
      }
    });
  }

  private send<T>(slot: Slot, req: PrepareRequest): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let w: Worker;
      try {
        w = slot.worker ?? this.spawn(slot);
      } catch (err) {
        reject(err as Error);
        return;
      }
      slot.pending.set(req.id, { resolve: resolve as (r: never) => void, reject });
      // Keep the process alive while a result is owed (an idle worker must not be).
      w.ref();
      w.postMessage(req);
    });
  }

  private spawn(slot: Slot): Worker {
    // Under tsx (tests, benchmarks) this module is TypeScript and so is the worker: register tsx in the worker first.
    const ts = import.meta.url.endsWith('.ts');
    const url = new URL(`./prepareWorker.${ts ? 'ts' : 'js'}`, import.meta.url);
    const opts = {
      workerData: this.init,
      resourceLimits: { maxOldGenerationSizeMb: WORKER_OLD_MB, maxYoungGenerationSizeMb: WORKER_YOUNG_MB },
    };
    const w = ts
      ? new Worker(
          `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url.href)}); });`,
          { ...opts, eval: true },
        )
      : new Worker(url, opts);
    w.unref();
    let fatal: string | null = null;
    w.on('message', (m: PrepareResponse) => {
      if ('fatal' in m) {
        fatal = m.fatal;
        return;
      }
      const p = slot.pending.get(m.id);
      if (!p) return;
      slot.pending.delete(m.id);
      if (slot.pending.size === 0) w.unref();
      if ('error' in m) p.reject(new Error(m.error));
      else if ('fingerprints' in m) p.resolve(m.fingerprints as never);
      else p.resolve(fromWire(m.result) as never);
    });
    const fail = (err: Error): void => {
      if (slot.worker !== w) return;
      slot.worker = null;
      if (!this.closed) {
        this.deaths.push(Date.now());
        const paused = this.paused;
        this.log.warn(
          { err: errorMessage(err), recentDeaths: this.deaths.length },
          `a prepare worker stopped (${errorMessage(err)}); its batch is redone on the main thread${paused ? `, and so is every batch for up to ${RESTART_WINDOW_MS / 60_000} minutes` : ''}`,
        );
      }
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(fatal ?? `prepare worker exited with code ${code}`)));
    slot.worker = w;
    return w;
  }

  /** Workers currently running (they start on the first large batch and stop when idle). */
  get running(): number {
    return this.slots.filter((s) => s.worker !== null).length;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    await this.stopWorkers();
  }

  /** Stop every worker (idle, or closing); the next large batch starts them again. */
  private async stopWorkers(): Promise<void> {
    this.idleTimer = null;
    await Promise.all(
      this.slots.map(async (slot) => {
        const w = slot.worker;
        slot.worker = null;
        if (!w) return;
        const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
        w.postMessage('close');
        const timer = setTimeout(() => void w.terminate(), 2_000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}

/**
 * Workers for the sweep, which only renders and fingerprints: the hand-over
 * is a key and a fingerprint per record, so unlike the prepare step it pays
 * off on two cores (a 100k-record sweep, docs/benchmarks.md). `auto`: one per
 * core beside the main thread's, up to 4; a number is taken as set (0: none).
 */
export function sweepWorkerCount(setting: number | 'auto'): number {
  return setting === 'auto' ? Math.max(0, Math.min(availableParallelism() - 1, 4)) : setting;
}

export function createPreparePool(
  config: Config,
  chunk: ChunkSettings,
  modelId: string,
  log: Logger,
  n = workerCountFor(config.prepareWorkers),
): PreparePool | null {
  if (n === 0) return null;
  return new PreparePool(
    {
      dbPath: config.dbPath,
      busyTimeoutMs: config.busyTimeoutMs,
      sourceMapPath: config.sourceMapPath,
      chunk,
      modelId,
      logLevel: config.logLevel,
    },
    n,
    log,
  );
}
