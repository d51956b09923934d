/**
 * The seams between the pipeline and the encoders. Dense embedders return
 * L2-normalised Float32Arrays (cosine == dot product); the sparse encoder
 * returns fastembed `Qdrant/bm25`-compatible vectors.
 */

export interface SparseVector {
  /** Token ids: abs(murmur3_x86_32(stem)), unsorted (Qdrant sorts). */
  indices: number[];
  /** Document: BM25 TF weights; query: 1.0 each. */
  values: number[];
}

export interface DenseEmbedder {
  /** Model id; part of every document fingerprint, so a model change forces re-embedding. */
  readonly modelId: string;
  /** Vector size. Known after `init()`. */
  readonly dim: number;
  /** Probe the endpoint (dimension, encoding support) or load local weights. Idempotent. */
  init(): Promise<void>;
  /** One vector per input, in input order. Throws TransientError or PermanentError. */
  embed(texts: string[], opts?: { signal?: AbortSignal }): Promise<Float32Array[]>;
  /**
   * The embedder keeps at most EMBED_CONCURRENCY requests at its server and queues further calls
   * itself, starting the next one the moment a reply arrives (the HTTP clients).
   */
  readonly queues?: boolean;
  close(): Promise<void>;
}

export interface SparseEncoder {
  /** Encoder version string; part of document fingerprints. */
  readonly version: string;
  encodeDocument(text: string): SparseVector;
  encodeQuery(text: string): SparseVector;
}
