/**
 * `VectorStore` is the seam between the pipeline and where points live. Both
 * implementations (embedded SQLite, Qdrant) pass `test/stores/contract.ts`.
 *
 * Point ids are UUIDv5(recordKey + '#' + chunkIndex) (see `pointId`), so
 * re-indexing overwrites in place, and a record that shrinks has its
 * extra chunks deleted with `deleteChunksFrom`.
 *
 * Every write method resolves only once the write is durable and searchable
 * (Qdrant `wait: true`; SQLite commit): the pipeline acks the changelog after.
 */
import type { SparseVector } from '../encoders/types.js';
import type { FilterFieldName } from './filterFields.js';

export type PayloadValue = string | number | boolean | null | string[];

/** Filterable fields every point carries (null when the record has none). */
export interface ChunkPayload {
  record_key: string;
  table: string;
  chunk_index: number;
  chunk_count: number;
  fingerprint: string;
  text: string;
  title: string;
  kind: string | null;
  stage: string | null;
  organization_id: string | null;
  /** ISO-8601 date or datetime the record is about (occurred_at, created_at). */
  date: string | null;
  owner: string | null;
  entity_ids: string[];
  /** Any other payload fields the source map declares. */
  [extra: string]: PayloadValue;
}

export interface ChunkPoint {
  id: string;
  dense: Float32Array | number[];
  sparse: SparseVector;
  payload: ChunkPayload;
}

export interface RecordState {
  recordKey: string;
  fingerprint: string;
  chunkCount: number;
}

/**
 * Every given field must hold; within a field any value matches. The match
 * fields come from stores/filterFields.ts; the bounds are inclusive, on `date`
 * (stores/dates.ts normalises them to RFC 3339 UTC).
 */
export type SearchFilter = { [K in FilterFieldName]?: string[] } & {
  dateFrom?: string;
  dateTo?: string;
};

export type SearchMode = 'dense' | 'sparse' | 'hybrid';
export type Fusion = 'rrf' | 'dbsf';

export interface SearchRequest {
  mode: SearchMode;
  dense?: Float32Array | number[];
  sparse?: SparseVector;
  filter?: SearchFilter;
  limit: number;
  /** Hybrid only: fusion method (default rrf) and how many candidates each leg brings. */
  fusion?: Fusion;
  prefetchLimit?: number;
}

export interface ScoredChunk {
  id: string;
  score: number;
  payload: ChunkPayload;
}

export interface CollectionSpec {
  dim: number;
  model: string;
}

export interface VectorStore {
  readonly kind: 'embedded' | 'qdrant';
  /** Name of the generation this handle reads and writes. */
  readonly generation: string;
  /**
   * Create the collection/schema if missing. Throws StoreError when an existing
   * one has a different dimension (say which, and that a rebuild fixes it).
   */
  ensure(spec: CollectionSpec): Promise<void>;
  /** Insert or overwrite points. Resolves once durable and searchable. */
  upsert(points: ChunkPoint[]): Promise<void>;
  /** Delete every point of these records. */
  deleteRecords(recordKeys: string[]): Promise<void>;
  /** Delete chunks with chunk_index >= fromIndex for each record (a record that shrank). */
  deleteChunksFrom(entries: { recordKey: string; fromIndex: number }[]): Promise<void>;
  /** Stored state (from chunk 0) for the given records; absent keys are not in the store. */
  getRecordStates(recordKeys: string[]): Promise<Map<string, RecordState>>;
  /** Every record the store holds, in pages (for the sweep). */
  scrollRecordStates(pageSize?: number): AsyncIterable<RecordState[]>;
  search(req: SearchRequest): Promise<ScoredChunk[]>;
  /**
   * Get ready to answer searches (the embedded store builds its in-memory
   * index of the served generation), so the first search does not pay for it.
   * Optional; resolves without effect when there is nothing to load.
   */
  warm?(): Promise<void>;
  /** Number of points (chunks). */
  count(): Promise<number>;
  /** Start a fresh, empty generation; the returned handle writes to it while this one keeps serving. */
  beginGeneration(spec: CollectionSpec): Promise<VectorStore>;
  /** Atomically make `next` the generation served under the alias, then drop the old one. */
  activateGeneration(next: VectorStore): Promise<void>;
  /** Drop a generation that was begun but will not be activated (a failed rebuild). */
  dropGeneration(gen: VectorStore): Promise<void>;
  /**
   * Drop every generation but the one served: what a killed or failed rebuild
   * left behind. Only safe while holding the cursor lease (a rebuild holds it
   * for as long as its generation is not served). Returns the names dropped.
   */
  dropOrphanGenerations(): Promise<string[]>;
  /**
   * Damage the store can see in its own files (page-level corruption in the
   * embedded index), one line each; empty when none was found. A server-side
   * store (Qdrant) checks itself and returns empty.
   */
  checkIntegrity(): Promise<string[]>;
  close(): Promise<void>;
}
