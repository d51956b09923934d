/**
 * The one embedder both tools use in the peer benchmark, so the comparison
 * measures indexing, not embedding: a zero-cost hashed bag of words (feature
 * hashing with a sign bit, L2-normalised), exposed as crm-index's
 * `DenseEmbedder` and, through `LangChainEmbeddings`, as LangChain's
 * `Embeddings`. The adapter wraps any DenseEmbedder (the local GloVe one too),
 * so both sides always compute identical vectors.
 */
import { Embeddings } from '@langchain/core/embeddings';
import murmurhash from 'murmurhash';
import type { DenseEmbedder } from '../../encoders/types.js';

export const BOW_DIM = 100;

/** Words as lower-case letter/digit runs; deterministic and locale-free. */
function tokens(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** Hashed bag of words: one murmur3 per token picks a bucket and a sign. */
export function bowVector(text: string, dim = BOW_DIM): Float32Array {
  const v = new Float32Array(dim);
  for (const t of tokens(text)) {
    const h = murmurhash.v3(t, 0x5bd1e995);
    v[h % dim]! += h & 0x80000000 ? -1 : 1;
  }
  let s = 0;
  for (let d = 0; d < dim; d++) s += v[d]! * v[d]!;
  if (s === 0) {
    v[0] = 1; // the empty text still needs a unit vector
    return v;
  }
  const n = Math.sqrt(s);
  for (let d = 0; d < dim; d++) v[d]! /= n;
  return v;
}

export class BowEmbedder implements DenseEmbedder {
  readonly modelId = `bench-bow-${BOW_DIM}`;
  readonly dim = BOW_DIM;
  async init(): Promise<void> {}
  async embed(texts: string[]): Promise<Float32Array[]> {
    return texts.map((t) => bowVector(t));
  }
  async close(): Promise<void> {}
}

/**
 * Counts the texts one tool asks to embed (its share of the real cost with a
 * paid model). close() is a no-op: crm-index closes its embedder after every
 * run, but the benchmark reuses one across runs.
 */
export class CountingEmbedder implements DenseEmbedder {
  calls = 0;
  constructor(private readonly inner: DenseEmbedder) {}
  get modelId(): string {
    return this.inner.modelId;
  }
  get dim(): number {
    return this.inner.dim;
  }
  init(): Promise<void> {
    return this.inner.init();
  }
  embed(texts: string[], opts?: { signal?: AbortSignal }): Promise<Float32Array[]> {
    this.calls += texts.length;
    return this.inner.embed(texts, opts);
  }
  async close(): Promise<void> {}
}

/** LangChain's side of the same embedder. */
export class LangChainEmbeddings extends Embeddings {
  constructor(private readonly inner: DenseEmbedder) {
    super({});
  }
  async embedDocuments(documents: string[]): Promise<number[][]> {
    return (await this.inner.embed(documents)).map((v) => Array.from(v));
  }
  async embedQuery(document: string): Promise<number[]> {
    const [v] = await this.inner.embed([document]);
    return Array.from(v!);
  }
}
