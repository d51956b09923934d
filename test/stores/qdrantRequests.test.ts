import { describe, expect, it } from 'vitest';
import {
  checkClusterSettings,
  createCollectionBody,
  deleteChunksFromBody,
  deleteRecordsBody,
  denseSizeOf,
  generationName,
  normaliseDateFrom,
  normaliseDateTo,
  parseVersion,
  payloadIndexBodies,
  queryBody,
  recordStatesScrollBody,
  scrollStatesBody,
  swapAliasActions,
  toQdrantFilter,
  upsertBody,
  versionAtLeast,
} from '../../stores/qdrantRequests.js';
import { serverVersionError } from '../../stores/qdrant.js';
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

  it('createCollection: unset cluster settings are left out, so the server (cluster) defaults apply', () => {
    expect(createCollectionBody({ dim: 100, model: 'm' }, {})).toEqual({
      vectors: { dense: { size: 100, distance: 'Cosine' } },
      sparse_vectors: { bm25: { modifier: 'idf' } },
    });
    expect(createCollectionBody({ dim: 100, model: 'm' }, { replication: 2 })).not.toHaveProperty(
      'shard_number',
    );
  });

  it('cluster settings: a write consistency above the replication factor is refused, naming both', () => {
    expect(() => checkClusterSettings({ replication: 2, writeConsistency: 3 })).toThrow(
      /QDRANT_WRITE_CONSISTENCY=3 is greater than QDRANT_REPLICATION_FACTOR=2/,
    );
    expect(() => checkClusterSettings({ writeConsistency: 2 })).toThrow(/unset: 1/);
    expect(() => checkClusterSettings({ replication: 3, writeConsistency: 2 })).not.toThrow();
    expect(() => checkClusterSettings({})).not.toThrow();
  });

  it('server version: 1.10 or newer is accepted, older refused naming both versions', () => {
    expect(parseVersion('1.17.0')).toEqual([1, 17, 0]);
    expect(parseVersion('v1.9-dev')).toEqual([1, 9, 0]);
    expect(parseVersion(undefined)).toBeUndefined();
    expect(versionAtLeast([1, 10, 0], [1, 10, 0])).toBe(true);
    expect(versionAtLeast([1, 9, 9], [1, 10, 0])).toBe(false);
    expect(versionAtLeast([2, 0, 0], [1, 11, 0])).toBe(true);
    expect(serverVersionError('http://q', '1.12.1')).toBeUndefined();
    expect(serverVersionError('http://q', '1.9.7')?.message).toMatch(
      /version 1\.9\.7; crm-index needs 1\.10\.0/,
    );
  });
  it('payload indexes: keyword filters, integer chunk_index, datetime date', () => {
    expect(payloadIndexBodies()).toEqual([
      { field_name: 'table', field_schema: 'keyword' },
      { field_name: 'kind', field_schema: 'keyword' },
      { field_name: 'stage', field_schema: 'keyword' },
      { field_name: 'organization_id', field_schema: 'keyword' },
      { field_name: 'entity_ids', field_schema: 'keyword' },
      { field_name: 'record_key', field_schema: 'keyword' },
      { field_name: 'owner', field_schema: 'keyword' },
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
        { key: 'date', range: { gte: '2024-01-01T00:00:00Z', lte: '2024-03-31T23:59:59.999999Z' } },
      ],
    });
    expect(toQdrantFilter({ dateTo: '2024-03-31T10:00:00Z' })).toEqual({
      must: [{ key: 'date', range: { lte: '2024-03-31T10:00:00Z' } }],
    });
  });

  it('a date-only upper bound covers that whole day; a datetime one is kept as is', () => {
    expect(normaliseDateTo('2024-02-29')).toBe('2024-02-29T23:59:59.999999Z');
    expect(normaliseDateTo('2024-02-29T08:00:00Z')).toBe('2024-02-29T08:00:00Z');
  });

  it('date bounds leave in RFC 3339 UTC, the same instant, whatever ISO form came in', () => {
    // The forms Qdrant's parser answers 400 to (lib/segment/src/types.rs), and what they become.
    const cases: [string, string][] = [
      ['2024-03-31T10:00Z', '2024-03-31T10:00:00Z'],
      ['2024-03-31T10:00+02:00', '2024-03-31T08:00:00Z'],
      ['2024-03-31 10:00Z', '2024-03-31T10:00:00Z'],
      ['2024-03-31T10:00', '2024-03-31T10:00:00Z'],
      ['2024-03-31T01:30:00.123456-0130', '2024-03-31T03:00:00.123456Z'],
      ['2024-01-01T00:30:00+01:00', '2023-12-31T23:30:00Z'],
      ['2024-03-31', '2024-03-31T00:00:00Z'],
    ];
    for (const [raw, want] of cases) {
      expect(normaliseDateFrom(raw)).toBe(want);
      expect(toQdrantFilter({ dateFrom: raw })).toEqual({ must: [{ key: 'date', range: { gte: want } }] });
    }
    for (const bad of ['2024-03-31T10', '2024-02-30', '2024-13-01', '31/03/2024', '2024-03-31T25:00Z', '']) {
      expect(() => toQdrantFilter({ dateFrom: bad })).toThrow(/dateFrom=.*YYYY-MM-DD/);
    }
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
      // The top-level filter only: the server applies it to every prefetch (1.10+).
      prefetch: [
        { query: { indices: [5], values: [1] }, using: 'bm25', limit: 20 },
        { query: [1, 0], using: 'dense', limit: 20 },
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
