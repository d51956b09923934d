/**
 * The HTTP embedder on a thread of its own. Building a request body (a
 * batch of texts as JSON), writing it to the socket, parsing the reply and
 * decoding its vectors cost about as much main-thread time per chunk as
 * preparing the chunk did; on the main thread they delayed the next request
 * and each reply, and left the server waiting (decision 061). Here they run
 * in a worker (httpWorker.ts) holding an `HttpEmbedder`; this side only
 * posts the texts and receives one transferred buffer of vectors per batch.
 *
 * The contract is `HttpEmbedder`'s: the same vectors, and the same error
 * classes (TransientError, PermanentError, EmbedderFaultError, ConfigError)
 * with the same messages, rebuilt on this side. A thread that dies fails its
 * requests with a TransientError (the stream retries them) and the next call
 * starts a new one. The worker keeps the process alive only while a request
 * is out.
 */
import { Worker } from 'node:worker_threads';
import {
  ConfigError,
  EmbedderFaultError,
  PermanentError,
  TransientError,
  errorMessage,
} from '../config/errors.js';
import type { HttpEmbedderSettings, HttpEmbedderStats } from './http.js';
import type { EncodingFormat } from './httpRequests.js';
import type { DenseEmbedder } from './types.js';

/** An error as it crosses the thread boundary. */
export interface WireError {
  cls: 'fault' | 'config' | 'permanent' | 'transient' | 'other';
  name: string;
  message: string;
  retryAfterMs?: number;
}

export type ToThread =
  | { t: 'init'; id: number }
  | { t: 'embed'; id: number; texts: string[] }
  | { t: 'abort'; id: number }
  | { t: 'close' };

/** What every reply carries: the thread's client as it now is. */
interface ThreadState {
  dim: number;
  encoding: EncodingFormat;
  stats: HttpEmbedderStats;
}

export type FromThread = ThreadState &
  (
    | {
        id: number;
        ok: true;
        /** `count` vectors of `dim` values, one after the other. */
        vectors?: ArrayBuffer;
        count?: number;
      }
    | { id: number; ok: false; error: WireError }
  );

export function errorToWire(err: unknown): WireError {
  const message = errorMessage(err);
  const name = err instanceof Error ? err.name : 'Error';
  if (err instanceof EmbedderFaultError) return { cls: 'fault', name, message };
  if (err instanceof ConfigError) return { cls: 'config', name, message };
  if (err instanceof PermanentError) return { cls: 'permanent', name, message };
  if (err instanceof TransientError)
    return { cls: 'transient', name, message, retryAfterMs: err.retryAfterMs };
  return { cls: 'other', name, message };
}

export function errorFromWire(w: WireError): Error {
  switch (w.cls) {
    case 'fault':
      return new EmbedderFaultError(w.message);
    case 'config':
      return new ConfigError(w.message);
    case 'permanent':
      return new PermanentError(w.message);
    case 'transient':
      return new TransientError(w.message, { retryAfterMs: w.retryAfterMs });
    default: {
      const e = new Error(w.message);
      e.name = w.name;
      return e;
    }
  }
}

interface Waiting {
  resolve(reply: Extract<FromThread, { ok: true }>): void;
  reject(err: unknown): void;
}

/**
 * The thread's heap: it holds a few batches' texts and replies at a time, and an isolate with the
 * process's heap flag (or none) would grow to what the whole run may use (decision 061).
 */
const THREAD_HEAP = { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 8 };

/** How long close() waits for the thread's sockets to close before it stops the thread. */
const CLOSE_WAIT_MS = 5_000;

export class ThreadedHttpEmbedder implements DenseEmbedder {
  readonly modelId: string;
  readonly queues = true;
  stats: HttpEmbedderStats = { requests: 0, retries: 0, texts: 0, truncated: 0 };
  private worker: Worker | null = null;
  private exited: Promise<void> = Promise.resolve();
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private knownDim: number | undefined;
  private format: EncodingFormat;
  private initPromise: Promise<void> | undefined;
  private closed = false;

  /** What crosses to the thread: the settings but `random` (a function cannot). */
  private readonly settings: Omit<HttpEmbedderSettings, 'random'>;

  constructor({ random: _random, ...settings }: HttpEmbedderSettings) {
    this.settings = settings;
    this.modelId = settings.model;
    this.knownDim = settings.dim;
    this.format = settings.encodingFormat ?? 'base64';
  }

  get dim(): number {
    return this.knownDim ?? 0;
  }

  /** The encoding the thread's client currently requests. */
  get encoding(): EncodingFormat {
    return this.format;
  }

  init(): Promise<void> {
    this.initPromise ??= this.call({ t: 'init' }).then(
      () => undefined,
      (err: unknown) => {
        this.initPromise = undefined; // a later call may succeed once the server is up
        throw err;
      },
    );
    return this.initPromise;
  }

  async embed(texts: string[], opts: { signal?: AbortSignal } = {}): Promise<Float32Array[]> {
    if (this.closed)
      throw new PermanentError(
        'The HTTP embedder was used after close(); this is a bug in the caller; report it with the stack trace.',
      );
    if (texts.length === 0) return [];
    const reply = await this.call({ t: 'embed', texts }, opts.signal);
    const count = reply.count ?? 0;
    const all = new Float32Array(reply.vectors ?? new ArrayBuffer(0));
    const dim = count > 0 ? all.length / count : 0;
    const out = new Array<Float32Array>(count);
    for (let i = 0; i < count; i++) out[i] = all.subarray(i * dim, (i + 1) * dim);
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return this.exited;
    this.closed = true;
    const w = this.worker;
    if (!w) return;
    w.postMessage({ t: 'close' } satisfies ToThread);
    const timer = setTimeout(() => void w.terminate(), CLOSE_WAIT_MS);
    await this.exited;
    clearTimeout(timer);
  }

  private call(
    msg: { t: 'init' } | { t: 'embed'; texts: string[] },
    signal?: AbortSignal,
  ): Promise<Extract<FromThread, { ok: true }>> {
    signal?.throwIfAborted();
    const w = this.thread();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        if (!this.waiting.delete(id)) return;
        w.postMessage({ t: 'abort', id } satisfies ToThread);
        this.idle();
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.set(id, {
        resolve: (r) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(r);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      });
      // A request out keeps the process alive, as a socket of the in-thread client would.
      if (this.waiting.size === 1) w.ref();
      w.postMessage({ ...msg, id } as ToThread);
    });
  }

  private idle(): void {
    if (this.waiting.size === 0) this.worker?.unref();
  }

  /** The running thread, or a new one. */
  private thread(): Worker {
    if (this.worker) return this.worker;
    // Under tsx (tests, benchmarks) this module is TypeScript and so is the worker: register tsx in it first.
    const ts = import.meta.url.endsWith('.ts');
    const url = new URL(`./httpWorker.${ts ? 'ts' : 'js'}`, import.meta.url);
    // The configured dimension, not a learned one: a mismatch must name where the expected size came from.
    const workerData = { settings: { ...this.settings, encodingFormat: this.format } };
    const opts = { workerData, resourceLimits: THREAD_HEAP };
    const w = ts
      ? new Worker(
          `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url.href)}); });`,
          { ...opts, eval: true },
        )
      : new Worker(url, opts);
    this.worker = w;
    this.exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    w.on('message', (m: FromThread) => {
      const waiting = this.waiting.get(m.id);
      this.knownDim = m.dim || this.knownDim;
      this.format = m.encoding;
      this.stats = m.stats;
      if (!waiting) return;
      this.waiting.delete(m.id);
      this.idle();
      if (m.ok) waiting.resolve(m);
      else waiting.reject(errorFromWire(m.error));
    });
    const lost = (why: string): void => {
      if (this.worker !== w) return;
      this.worker = null;
      const err = new TransientError(
        `The embeddings client's thread stopped (${why}); its requests are retried on a new one.`,
      );
      for (const waiting of this.waiting.values()) waiting.reject(err);
      this.waiting.clear();
    };
    w.on('error', (err) => lost(errorMessage(err)));
    w.on('exit', (code) => lost(`exit code ${code}`));
    w.unref();
    return w;
  }
}
