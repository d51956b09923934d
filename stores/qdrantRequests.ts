/**
 * Every request body the Qdrant store sends, as pure functions of our types, so
 * the exact wire shapes are unit-tested without a server (test/stores/qdrantRequests.test.ts).
 *
 * Invariants kept here:
 * - points carry the named vectors `dense` and `bm25` the Python tools use, so a
 *   collection built by either can be read by the other;
 * - `wait: true` on every write (ack-after-write: the pipeline acks its cursor only
 *   once the points are searchable);
 * - the sparse vector is declared with `modifier: idf`, so IDF is computed by the
 *   server from the live collection (see BM25.md "IDF"): per shard, so with
 *   more than one shard a term's weight depends on the shard a point lives in;
 * - date bounds leave here in the one RFC 3339 form every server version
 *   parses (stores/dates.ts); cluster settings are sent only when set, so a
 *   cluster's own defaults (shards = peers) hold otherwise.
 *
 * The server needs 1.10 (the Query API, the `idf` modifier, a top-level filter
 * that applies to every prefetch) and 1.11 for DBSF: `MIN_SERVER`.
 * test/stores/qdrantConformance.test.ts checks every body against the client's
 * generated types and the server's constraints the types cannot express.
 */
import type { Schemas } from '@qdrant/js-client-rest';
import { ConfigError } from '../config/errors.js';
import type { SparseVector } from '../encoders/types.js';
import { normaliseDateFrom, normaliseDateTo } from './dates.js';
export { normaliseDateFrom, normaliseDateTo } from './dates.js';
import { FILTER_FIELDS, FILTER_FIELD_NAMES } from './filterFields.js';
import { defaultPrefetchLimit } from './fusion.js';
import type { ChunkPoint, CollectionSpec, SearchFilter, SearchRequest } from './types.js';

export const DENSE_VECTOR = 'dense';
export const SPARSE_VECTOR = 'bm25';

/** Unset fields are left out of the create body: the server's defaults (on a cluster, shards = peers) apply. */
export interface ClusterSettings {
  shards?: number;
  replication?: number;
  writeConsistency?: number;
}

/** Oldest server the bodies here work with, and the oldest that fuses with DBSF. */
export const MIN_SERVER = { any: [1, 10, 0], dbsf: [1, 11, 0] } as const;

/** `"1.12.4"` (a `-dev` or other suffix ignored) as [major, minor, patch], or undefined. */
export function parseVersion(v: unknown): [number, number, number] | undefined {
  const m = typeof v === 'string' ? /^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(v.trim()) : null;
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

export function versionAtLeast(have: readonly number[], want: readonly number[]): boolean {
  for (let i = 0; i < 3; i++) {
    if ((have[i] ?? 0) !== (want[i] ?? 0)) return (have[i] ?? 0) > (want[i] ?? 0);
  }
  return true;
}

/**
 * Refuse settings the server would refuse later, or worse accept: a write that
 * waits for more replicas than exist never succeeds. Unset replication is the
 * server's default, 1.
 */
export function checkClusterSettings(c: ClusterSettings): void {
  const replication = c.replication ?? 1;
  if (c.writeConsistency !== undefined && c.writeConsistency > replication) {
    throw new ConfigError(
      `QDRANT_WRITE_CONSISTENCY=${c.writeConsistency} is greater than QDRANT_REPLICATION_FACTOR=${c.replication ?? '(unset: 1)'}; a write cannot wait for more replicas than each shard has. Lower QDRANT_WRITE_CONSISTENCY or raise QDRANT_REPLICATION_FACTOR.`,
    );
  }
}

/** Generation collections live behind the alias: `${alias}_g${stamp}`. */
export function generationName(alias: string, stamp: number | string): string {
  return `${alias}_g${stamp}`;
}

export function isGenerationOf(alias: string, collection: string): boolean {
  return collection.startsWith(`${alias}_g`);
}

export function createCollectionBody(
  spec: CollectionSpec,
  cluster: ClusterSettings,
): Schemas['CreateCollection'] {
  return {
    vectors: { [DENSE_VECTOR]: { size: spec.dim, distance: 'Cosine' } },
    sparse_vectors: { [SPARSE_VECTOR]: { modifier: 'idf' } },
    ...(cluster.shards !== undefined ? { shard_number: cluster.shards } : {}),
    ...(cluster.replication !== undefined ? { replication_factor: cluster.replication } : {}),
    ...(cluster.writeConsistency !== undefined ? { write_consistency_factor: cluster.writeConsistency } : {}),
  };
}

/**
 * Payload indexes on every filterable field. `date` is a datetime index so range
 * filters compare instants (a keyword index cannot do ranges); store dates as
 * RFC 3339 / ISO-8601, ideally UTC, so the embedded store's string comparison agrees.
 */
export const PAYLOAD_INDEXES: { field_name: string; field_schema: 'keyword' | 'integer' | 'datetime' }[] = [
  ...FILTER_FIELD_NAMES.map((k) => ({
    field_name: FILTER_FIELDS[k].payload,
    field_schema: 'keyword' as const,
  })),
  { field_name: 'owner', field_schema: 'keyword' },
  { field_name: 'chunk_index', field_schema: 'integer' },
  { field_name: 'date', field_schema: 'datetime' },
];

export function payloadIndexBodies(): Schemas['CreateFieldIndex'][] {
  return PAYLOAD_INDEXES.map((i) => ({ field_name: i.field_name, field_schema: i.field_schema }));
}

export function denseArray(v: Float32Array | number[]): number[] {
  return Array.isArray(v) ? v : Array.from(v);
}

export function sparseBody(v: SparseVector): { indices: number[]; values: number[] } {
  return { indices: v.indices, values: v.values };
}

export function toPointStruct(p: ChunkPoint): Schemas['PointStruct'] {
  return {
    id: p.id,
    vector: { [DENSE_VECTOR]: denseArray(p.dense), [SPARSE_VECTOR]: sparseBody(p.sparse) },
    payload: { ...p.payload },
  };
}

export function upsertBody(points: ChunkPoint[]): { wait: true; points: Schemas['PointStruct'][] } {
  return { wait: true, points: points.map(toPointStruct) };
}

type Condition = Schemas['Condition'];

function anyOf(key: string, values: string[]): Condition {
  return { key, match: { any: values } };
}

/** SearchFilter → Qdrant filter: every given field must hold; within a field any value matches. */
export function toQdrantFilter(f: SearchFilter | undefined): Schemas['Filter'] | undefined {
  if (!f) return undefined;
  const must: Condition[] = [];
  for (const k of FILTER_FIELD_NAMES) {
    const values = f[k];
    if (values?.length) must.push(anyOf(FILTER_FIELDS[k].payload, values));
  }
  if (f.dateFrom !== undefined || f.dateTo !== undefined) {
    // Normalised here too (idempotent), so no caller can send a form the server rejects.
    const range: Schemas['DatetimeRange'] = {};
    if (f.dateFrom !== undefined) range.gte = normaliseDateFrom(f.dateFrom);
    if (f.dateTo !== undefined) range.lte = normaliseDateTo(f.dateTo);
    must.push({ key: 'date', range });
  }
  return must.length ? { must } : undefined;
}

/** Query API body for one search in any mode. Hybrid: both legs prefetched, fused server-side. */
export function queryBody(req: SearchRequest): Schemas['QueryRequest'] {
  const filter = toQdrantFilter(req.filter);
  const base = { limit: req.limit, with_payload: true, with_vector: false, ...(filter ? { filter } : {}) };
  if (req.mode === 'dense') {
    return { ...base, query: denseArray(requireDense(req)), using: DENSE_VECTOR };
  }
  if (req.mode === 'sparse') {
    return { ...base, query: sparseBody(requireSparse(req)), using: SPARSE_VECTOR };
  }
  const prefetchLimit = req.prefetchLimit ?? defaultPrefetchLimit(req.limit);
  // No filter on the legs: from 1.10 the server merges the top-level filter into
  // every prefetch, so each leg is filtered before its limit cuts (Qdrant
  // lib/collection/src/operations/universal_query/planned_query.rs).
  const leg = (q: Schemas['QueryInterface'], using: string): Schemas['Prefetch'] => ({
    query: q,
    using,
    limit: prefetchLimit,
  });
  return {
    ...base,
    prefetch: [
      leg(sparseBody(requireSparse(req)), SPARSE_VECTOR),
      leg(denseArray(requireDense(req)), DENSE_VECTOR),
    ],
    query: { fusion: req.fusion ?? 'rrf' },
  };
}

function requireDense(req: SearchRequest): Float32Array | number[] {
  if (!req.dense) throw new TypeError(`search mode "${req.mode}" needs a dense query vector (req.dense)`);
  return req.dense;
}

function requireSparse(req: SearchRequest): SparseVector {
  if (!req.sparse) throw new TypeError(`search mode "${req.mode}" needs a sparse query vector (req.sparse)`);
  return req.sparse;
}

export function deleteRecordsBody(recordKeys: string[]): { wait: true; filter: Schemas['Filter'] } {
  return { wait: true, filter: { must: [anyOf('record_key', recordKeys)] } };
}

/** One delete for all shrunk records: any of (record_key = k AND chunk_index >= n). */
export function deleteChunksFromBody(entries: { recordKey: string; fromIndex: number }[]): {
  wait: true;
  filter: Schemas['Filter'];
} {
  return {
    wait: true,
    filter: {
      should: entries.map((e) => ({
        must: [
          { key: 'record_key', match: { value: e.recordKey } },
          { key: 'chunk_index', range: { gte: e.fromIndex } },
        ],
      })),
    },
  };
}

export const STATE_FIELDS = ['record_key', 'fingerprint', 'chunk_count'];

export function recordStatesScrollBody(recordKeys: string[]): Schemas['ScrollRequest'] {
  return {
    filter: {
      must: [
        { key: 'chunk_index', match: { value: 0 } },
        { key: 'record_key', match: { any: recordKeys } },
      ],
    },
    with_payload: STATE_FIELDS,
    with_vector: false,
    // chunk 0 is unique per record, so at most one point per key.
    limit: recordKeys.length,
  };
}

export function scrollStatesBody(
  pageSize: number,
  offset?: Schemas['ExtendedPointId'] | null,
): Schemas['ScrollRequest'] {
  return {
    filter: { must: [{ key: 'chunk_index', match: { value: 0 } }] },
    with_payload: STATE_FIELDS,
    with_vector: false,
    limit: pageSize,
    ...(offset !== undefined && offset !== null ? { offset } : {}),
  };
}

/** Point the alias at `collection` in one atomic call (delete first only when the alias exists). */
export function swapAliasActions(
  alias: string,
  collection: string,
  aliasExists: boolean,
): Schemas['ChangeAliasesOperation'] {
  const actions: Schemas['AliasOperations'][] = [];
  if (aliasExists) actions.push({ delete_alias: { alias_name: alias } });
  actions.push({ create_alias: { collection_name: collection, alias_name: alias } });
  return { actions };
}

/** The dense vector size of an existing collection, or undefined when it has no `dense` vector. */
export function denseSizeOf(info: Schemas['CollectionInfo']): number | undefined {
  const vectors = info.config.params.vectors;
  if (!vectors) return undefined;
  if ('size' in vectors && typeof vectors.size === 'number') return vectors.size;
  const named = (vectors as Record<string, { size?: number }>)[DENSE_VECTOR];
  return named?.size;
}
