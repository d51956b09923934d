import { describe, expect, it } from 'vitest';
import {
  createCollectionBody,
  deleteChunksFromBody,
  deleteRecordsBody,
  denseSizeOf,
  generationName,
  normaliseDateTo,
  payloadIndexBodies,
  queryBody,
  recordStatesScrollBody,
  scrollStatesBody,
  swapAliasActions,
  toQdrantFilter,
  upsertBody,
} from '../../stores/qdrantRequests.js';
import type { Schemas } from '@qdrant/js-client-rest';
import { makePoint } from './contract.js';

describe('Qdrant request bodies', () => {
  it('createCollection: named cosine dense vector, bm25 sparse with idf, cluster settings', () => {
    expect(
      createCollectionBody({ dim: 768, model: 'm' }, { shards: 3, replication: 2, writeConsistency: 2 }),
    ).toEqual({
      vectors: { dense: { size: 768, distance: 'Cosine' } },
      sparse_vectors: { bm25: { modifier: 'idf' } },
      shard_number: 3,
      replication_factor: 2,
      write_consistency_factor: 2,
    });
  });

  it('payload indexes: keyword filters, integer chunk_index, datetime date', () => {
    expect(payloadIndexBodies()).toEqual([
      { field_name: 'record_key', field_schema: 'keyword' },
      { field_name: 'table', field_schema: 'keyword' },
      { field_name: 'kind', field_schema: 'keyword' },
      { field_name: 'stage', field_schema: 'keyword' },
      { field_name: 'organization_id', field_schema: 'keyword' },
      { field_name: 'owner', field_schema: 'keyword' },
      { field_name: 'entity_ids', field_schema: 'keyword' },
      { field_name: 'chunk_index', field_schema: 'integer' },
      { field_name: 'date', field_schema: 'datetime' },
    ]);
  });

  it('upsert: wait true, Float32Array becomes a plain number array, payload copied', () => {
    const p = makePoint({
      recordKey: 'deals:1',
      dense: [0.5, 0.25],
      sparse: { indices: [7, 3], values: [1.5, 0.5] },
      payload: { stage: 'won', entity_ids: ['e1'] },
    });
    const f32 = { ...p, dense: new Float32Array([0.5, 0.25]) };
    const body = upsertBody([f32]);
    expect(body.wait).toBe(true);
    expect(body.points).toHaveLength(1);
    const pt = body.points[0]!;
    expect(pt.id).toBe(p.id);
    expect(pt.vector).toEqual({ dense: [0.5, 0.25], bm25: { indices: [7, 3], values: [1.5, 0.5] } });
    expect(Array.isArray((pt.vector as Record<string, unknown>).dense)).toBe(true);
    expect(pt.payload).toEqual(p.payload);
    expect(JSON.parse(JSON.stringify(body)).points[0].vector.dense).toEqual([0.5, 0.25]);
  });

  it('filter: absent or empty → undefined; each field → match any; dates → datetime range', () => {
    expect(toQdrantFilter(undefined)).toBeUndefined();
    expect(toQdrantFilter({ tables: [] })).toBeUndefined();
    expect(
      toQdrantFilter({
        tables: ['deals'],
        kinds: ['call', 'email'],
        stages: ['won'],
        organizationIds: ['o1'],
        entityIds: ['e1', 'e2'],
        recordKeys: ['deals:1'],
        dateFrom: '2024-01-01',
        dateTo: '2024-03-31',
      }),
    ).toEqual({
      must: [
        { key: 'table', match: { any: ['deals'] } },
        { key: 'kind', match: { any: ['call', 'email'] } },
        { key: 'stage', match: { any: ['won'] } },
        { key: 'organization_id', match: { any: ['o1'] } },
        { key: 'entity_ids', match: { any: ['e1', 'e2'] } },
        { key: 'record_key', match: { any: ['deals:1'] } },
        { key: 'date', range: { gte: '2024-01-01', lte: '2024-03-31T23:59:59.999Z' } },
      ],
    });
    expect(toQdrantFilter({ dateTo: '2024-03-31T10:00:00Z' })).toEqual({
      must: [{ key: 'date', range: { lte: '2024-03-31T10:00:00Z' } }],
    });
  });

  it('a date-only upper bound covers that whole day; a datetime one is kept as is', () => {
    expect(normaliseDateTo('2024-02-29')).toBe('2024-02-29T23:59:59.999Z');
    expect(normaliseDateTo('2024-02-29T08:00:00Z')).toBe('2024-02-29T08:00:00Z');
  });

  it('query bodies: dense and sparse use the named vector; hybrid prefetches both and fuses', () => {
    const dense = new Float32Array([1, 0]);
    const sparse = { indices: [5], values: [1] };
    expect(queryBody({ mode: 'dense', dense, limit: 3 })).toEqual({
      query: [1, 0],
      using: 'dense',
      limit: 3,
      with_payload: true,
      with_vector: false,
    });
    expect(queryBody({ mode: 'sparse', sparse, limit: 3, filter: { kinds: ['call'] } })).toEqual({
      query: { indices: [5], values: [1] },
      using: 'bm25',
      limit: 3,
      with_payload: true,
      with_vector: false,
      filter: { must: [{ key: 'kind', match: { any: ['call'] } }] },
    });
    const filter = { must: [{ key: 'table', match: { any: ['deals'] } }] };
    expect(
      queryBody({
        mode: 'hybrid',
        dense,
        sparse,
        limit: 5,
        prefetchLimit: 20,
        filter: { tables: ['deals'] },
      }),
    ).toEqual({
      prefetch: [
        { query: { indices: [5], values: [1] }, using: 'bm25', limit: 20, filter },
        { query: [1, 0], using: 'dense', limit: 20, filter },
      ],
      query: { fusion: 'rrf' },
      limit: 5,
      with_payload: true,
      with_vector: false,
      filter,
    });
    const dbsf = queryBody({
      mode: 'hybrid',
      dense,
      sparse,
      limit: 5,
      fusion: 'dbsf',
    }) as Schemas['QueryRequest'];
    expect(dbsf.query).toEqual({ fusion: 'dbsf' });
    expect(dbsf.prefetch).toEqual([
      { query: { indices: [5], values: [1] }, using: 'bm25', limit: 40 },
      { query: [1, 0], using: 'dense', limit: 40 },
    ]);
  });

  it('query bodies: a mode without its vector is a clear error', () => {
    expect(() => queryBody({ mode: 'dense', limit: 1 })).toThrow(/dense query vector/);
    expect(() => queryBody({ mode: 'hybrid', dense: [1], limit: 1 })).toThrow(/sparse query vector/);
  });

  it('delete bodies: by record key, and by record key + chunk_index >= n for each shrunk record', () => {
    expect(deleteRecordsBody(['a:1', 'b:2'])).toEqual({
      wait: true,
      filter: { must: [{ key: 'record_key', match: { any: ['a:1', 'b:2'] } }] },
    });
    expect(
      deleteChunksFromBody([
        { recordKey: 'a:1', fromIndex: 2 },
        { recordKey: 'b:2', fromIndex: 1 },
      ]),
    ).toEqual({
      wait: true,
      filter: {
        should: [
          {
            must: [
              { key: 'record_key', match: { value: 'a:1' } },
              { key: 'chunk_index', range: { gte: 2 } },
            ],
          },
          {
            must: [
              { key: 'record_key', match: { value: 'b:2' } },
              { key: 'chunk_index', range: { gte: 1 } },
            ],
          },
        ],
      },
    });
  });

  it('scroll bodies: chunk 0 only, state fields only, no vectors, offset when paging', () => {
    expect(recordStatesScrollBody(['a:1', 'b:2'])).toEqual({
      filter: {
        must: [
          { key: 'chunk_index', match: { value: 0 } },
          { key: 'record_key', match: { any: ['a:1', 'b:2'] } },
        ],
      },
      with_payload: ['record_key', 'fingerprint', 'chunk_count'],
      with_vector: false,
      limit: 2,
    });
    expect(scrollStatesBody(500)).toEqual({
      filter: { must: [{ key: 'chunk_index', match: { value: 0 } }] },
      with_payload: ['record_key', 'fingerprint', 'chunk_count'],
      with_vector: false,
      limit: 500,
    });
    expect(scrollStatesBody(500, 'c0ffee00-0000-5000-8000-000000000000').offset).toBe(
      'c0ffee00-0000-5000-8000-000000000000',
    );
  });

  it('alias switch: delete + create in one call when the alias exists, create only otherwise', () => {
    expect(swapAliasActions('crm_chunks', 'crm_chunks_g2', true)).toEqual({
      actions: [
        { delete_alias: { alias_name: 'crm_chunks' } },
        { create_alias: { collection_name: 'crm_chunks_g2', alias_name: 'crm_chunks' } },
      ],
    });
    expect(swapAliasActions('crm_chunks', 'crm_chunks_g1', false)).toEqual({
      actions: [{ create_alias: { collection_name: 'crm_chunks_g1', alias_name: 'crm_chunks' } }],
    });
    expect(generationName('crm_chunks', 17)).toBe('crm_chunks_g17');
  });

  it('reads the dense size from named or unnamed vector configs', () => {
    const info = (vectors: unknown) =>
      ({ config: { params: { vectors } } }) as unknown as Schemas['CollectionInfo'];
    expect(denseSizeOf(info({ dense: { size: 384, distance: 'Cosine' } }))).toBe(384);
    expect(denseSizeOf(info({ size: 100, distance: 'Cosine' }))).toBe(100);
    expect(denseSizeOf(info({ other: { size: 5, distance: 'Dot' } }))).toBeUndefined();
    expect(denseSizeOf(info(undefined))).toBeUndefined();
  });
});
