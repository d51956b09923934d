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
 *   server from the live collection (see BM25.md "IDF").
 */
import type { Schemas } from '@qdrant/js-client-rest';
import type { SparseVector } from '../encoders/types.js';
import { defaultPrefetchLimit } from './fusion.js';
import type { ChunkPoint, CollectionSpec, SearchFilter, SearchRequest } from './types.js';

export const DENSE_VECTOR = 'dense';
export const SPARSE_VECTOR = 'bm25';

export interface ClusterSettings {
  shards: number;
  replication: number;
  writeConsistency: number;
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
    shard_number: cluster.shards,
    replication_factor: cluster.replication,
    write_consistency_factor: cluster.writeConsistency,
  };
}

/**
 * Payload indexes on every filterable field. `date` is a datetime index so range
 * filters compare instants (a keyword index cannot do ranges); store dates as
 * RFC 3339 / ISO-8601, ideally UTC, so the embedded store's string comparison agrees.
 */
export const PAYLOAD_INDEXES: { field_name: string; field_schema: 'keyword' | 'integer' | 'datetime' }[] = [
  { field_name: 'record_key', field_schema: 'keyword' },
  { field_name: 'table', field_schema: 'keyword' },
  { field_name: 'kind', field_schema: 'keyword' },
  { field_name: 'stage', field_schema: 'keyword' },
  { field_name: 'organization_id', field_schema: 'keyword' },
  { field_name: 'owner', field_schema: 'keyword' },
  { field_name: 'entity_ids', field_schema: 'keyword' },
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

/**
 * A date-only upper bound includes that whole day: `2024-03-31` becomes
 * `2024-03-31T23:59:59.999Z`. Shared by both stores so "inclusive" means the same.
 */
export function normaliseDateTo(dateTo: string): string {
  return /^\d{4}-\d{2}-\d{2}$/.test(dateTo) ? `${dateTo}T23:59:59.999Z` : dateTo;
}

type Condition = Schemas['Condition'];

function anyOf(key: string, values: string[]): Condition {
  return { key, match: { any: values } };
}

/** SearchFilter → Qdrant filter: every given field must hold; within a field any value matches. */
export function toQdrantFilter(f: SearchFilter | undefined): Schemas['Filter'] | undefined {
  if (!f) return undefined;
  const must: Condition[] = [];
  if (f.tables?.length) must.push(anyOf('table', f.tables));
  if (f.kinds?.length) must.push(anyOf('kind', f.kinds));
  if (f.stages?.length) must.push(anyOf('stage', f.stages));
  if (f.organizationIds?.length) must.push(anyOf('organization_id', f.organizationIds));
  if (f.entityIds?.length) must.push(anyOf('entity_ids', f.entityIds));
  if (f.recordKeys?.length) must.push(anyOf('record_key', f.recordKeys));
  if (f.dateFrom !== undefined || f.dateTo !== undefined) {
    const range: Schemas['DatetimeRange'] = {};
    if (f.dateFrom !== undefined) range.gte = f.dateFrom;
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
  // A top-level filter is applied by Qdrant to the prefetches as well; we repeat
  // it on each prefetch so the legs are filtered before their limit cuts.
  const leg = (q: Schemas['QueryInterface'], using: string): Schemas['Prefetch'] => ({
    query: q,
    using,
    limit: prefetchLimit,
    ...(filter ? { filter } : {}),
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
