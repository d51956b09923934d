import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../config/errors.js';
import {
  cleanFilter,
  collapseByRecord,
  createSearchEngine,
  neighbourRefs,
  type SearchEngine,
} from '../../search/engine.js';
import { rrf } from '../../stores/fusion.js';
import type { ChunkPayload, ScoredChunk } from '../../stores/types.js';
import { LONG_MEETING_CHUNKS, makeFixture, type Fixture } from './fixtures.js';

let fx: Fixture;
let engine: SearchEngine;

beforeAll(async () => {
  fx = await makeFixture();
  engine = createSearchEngine({ store: fx.store, dense: fx.dense, sparse: fx.sparse });
});

afterAll(async () => {
  await fx.store.close();
  fs.rmSync(fx.dir, { recursive: true, force: true });
});

describe('search modes', () => {
  it('finds a rare exact word with sparse search', async () => {
    const hits = await engine.search('Zyxwv', { mode: 'sparse' });
    expect(hits[0]?.key).toBe('notes:1');
    expect(hits[0]?.title).toBe('Zyxwv quantum flux note');
    expect(hits[0]?.text).toContain('Zyxwv');
  });

  it('returns only records with a matching term in sparse mode', async () => {
    const hits = await engine.search('sailing', { mode: 'sparse' });
    expect(hits.map((h) => h.key).sort()).toEqual(['interactions:2', 'people:2']);
  });

  it('ranks by the dense vector in dense mode', async () => {
    const hits = await engine.search('Pension fund allocator in Oslo', { mode: 'dense', limit: 3 });
    expect(hits[0]?.key).toBe('organizations:2');
    expect(hits).toHaveLength(3);
  });

  it('fuses both legs in hybrid mode with rrf and dbsf', async () => {
    for (const fusion of ['rrf', 'dbsf'] as const) {
      const hits = await engine.search('gearbox supply vendor', { mode: 'hybrid', fusion });
      expect(hits[0]?.key).toBe('interactions:1');
    }
  });

  it('defaults to hybrid and limit 10', async () => {
    const hits = await engine.search('Acme Robotics Borealis Capital Jane Bob');
    expect(hits.length).toBeLessThanOrEqual(10);
    expect(hits.length).toBeGreaterThan(3);
  });
});

describe('collapsing and context', () => {
  it('returns one hit per record even when several of its chunks match', async () => {
    const hits = await engine.search('board meeting Acme', { mode: 'sparse', limit: 10 });
    const keys = hits.map((h) => h.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys).toContain('interactions:1');
  });

  it('keeps the best chunk as the hit text and reports its index', async () => {
    const [hit] = await engine.search('Shenzhen gearbox', { mode: 'sparse', limit: 1 });
    expect(hit?.key).toBe('interactions:1');
    expect(hit?.chunkIndex).toBe(1);
    expect(hit?.text).toBe(LONG_MEETING_CHUNKS[1]);
    expect(hit?.context).toBeUndefined();
  });

  it('adds the neighbouring chunks as context when asked', async () => {
    const [hit] = await engine.search('Shenzhen gearbox', { mode: 'sparse', limit: 1, context: 1 });
    expect(hit?.context?.before).toBe(LONG_MEETING_CHUNKS[0]);
    expect(hit?.context?.after).toBe(LONG_MEETING_CHUNKS[2]);
  });

  it('gives only an after-context for a first chunk', async () => {
    const [hit] = await engine.search('hiring plans warehouse team', {
      mode: 'sparse',
      limit: 1,
      context: 2,
    });
    expect(hit?.chunkIndex).toBe(0);
    expect(hit?.context?.before).toBeUndefined();
    expect(hit?.context?.after).toBe(`${LONG_MEETING_CHUNKS[1]}\n${LONG_MEETING_CHUNKS[2]}`);
  });

  it('uses a store getChunks fast path when the store has one', async () => {
    const asked: string[] = [];
    const store = Object.assign(Object.create(fx.store) as typeof fx.store, {
      search: fx.store.search.bind(fx.store),
      getChunks: async (refs: { recordKey: string; chunkIndex: number }[]) => {
        asked.push(...refs.map((r) => `${r.recordKey}#${r.chunkIndex}`));
        return refs.map(
          (r) =>
            ({
              record_key: r.recordKey,
              chunk_index: r.chunkIndex,
              text: `chunk ${r.chunkIndex}`,
            }) as ChunkPayload,
        );
      },
    });
    const e = createSearchEngine({ store, dense: fx.dense, sparse: fx.sparse });
    const [hit] = await e.search('Shenzhen gearbox', { mode: 'sparse', limit: 1, context: 1 });
    expect(asked.sort()).toEqual(['interactions:1#0', 'interactions:1#2']);
    expect(hit?.context).toEqual({ before: 'chunk 0', after: 'chunk 2' });
  });
});

describe('filters', () => {
  const q = 'Acme Robotics Borealis Capital Jane Bob board call intro deal note';
  it('restricts to tables', async () => {
    const hits = await engine.search(q, { filter: { tables: ['people'] } });
    expect(hits.map((h) => h.table)).toEqual(['people', 'people']);
  });
  it('restricts to kinds', async () => {
    const hits = await engine.search(q, { filter: { kinds: ['call'] } });
    expect(hits.map((h) => h.key)).toEqual(['interactions:2']);
  });
  it('restricts to deal stages', async () => {
    const hits = await engine.search(q, { filter: { stages: ['diligence'] } });
    expect(hits.map((h) => h.key)).toEqual(['deals:1']);
  });
  it('restricts to an organization', async () => {
    const hits = await engine.search(q, { filter: { organizationIds: ['2'] } });
    expect(hits.map((h) => h.key).sort()).toEqual(['deals:2', 'interactions:2', 'people:2']);
  });
  it('restricts to an entity', async () => {
    const hits = await engine.search(q, { filter: { entityIds: ['ent-jane'] } });
    expect(hits.map((h) => h.key)).toEqual(['people:1']);
  });
  it('restricts to a date range, with a bare end date covering that whole day', async () => {
    const hits = await engine.search(q, {
      filter: { tables: ['interactions'], dateFrom: '2024-01-01', dateTo: '2024-05-01' },
    });
    expect(hits.map((h) => h.key)).toEqual(['interactions:1']);
  });
});

describe('validation', () => {
  it('rejects an empty query', async () => {
    await expect(engine.search('   ')).rejects.toThrow(ConfigError);
  });
  it('rejects a limit above 100, naming limit', async () => {
    await expect(engine.search('x', { limit: 101 })).rejects.toThrow(/limit=101/);
  });
  it('rejects an unknown mode', async () => {
    await expect(engine.search('x', { mode: 'fuzzy' as never })).rejects.toThrow(/mode "fuzzy"/);
  });
  it('rejects a date range that ends before it starts', () => {
    expect(() => cleanFilter({ dateFrom: '2024-02-01', dateTo: '2024-01-01' })).toThrow(/after dateTo/);
  });
});

describe('pure helpers', () => {
  const chunk = (key: string, idx: number, score: number): ScoredChunk => ({
    id: `${key}#${idx}`,
    score,
    payload: { record_key: key, chunk_index: idx, chunk_count: 3 } as ChunkPayload,
  });
  it('collapseByRecord keeps the best chunk per record in score order', () => {
    const out = collapseByRecord(
      [chunk('a', 0, 0.5), chunk('b', 1, 0.9), chunk('a', 2, 0.7), chunk('c', 0, 0.1)],
      2,
    );
    expect(out.map((c) => c.id)).toEqual(['b#1', 'a#2']);
  });
  it('neighbourRefs stays inside the record', () => {
    const refs = neighbourRefs(
      [{ key: 'a', chunkIndex: 0, payload: { chunk_count: 2 } as ChunkPayload } as never],
      2,
    );
    expect(refs).toEqual([{ recordKey: 'a', chunkIndex: 1 }]);
  });
  it('cleanFilter normalises both date bounds to RFC 3339 UTC, a bare upper bound to the end of its day', () => {
    expect(cleanFilter({ dateFrom: '2024-05-01T10:00+02:00', dateTo: '2024-05-01' })).toEqual({
      dateFrom: '2024-05-01T08:00:00Z',
      dateTo: '2024-05-01T23:59:59.999999Z',
    });
    expect(cleanFilter({ dateTo: '2024-05-01T10:00:00Z' })).toEqual({ dateTo: '2024-05-01T10:00:00Z' });
  });
  it('cleanFilter refuses a bound that names no instant, naming it (CLI, web form and MCP all pass here)', () => {
    expect(() => cleanFilter({ dateFrom: '2024-05-01T10' })).toThrow(/dateFrom="2024-05-01T10".*YYYY-MM-DD/);
    expect(() => cleanFilter({ dateTo: 'last tuesday' })).toThrow(/dateTo="last tuesday"/);
    expect(() => cleanFilter({ dateFrom: '2024-05-02', dateTo: '2024-05-01' })).toThrow(/after dateTo/);
  });
  it('cleanFilter drops empty lists and returns undefined when nothing is left', () => {
    expect(cleanFilter({ tables: [], kinds: [''] })).toBeUndefined();
    expect(cleanFilter({ tables: ['people'], stages: [] })).toEqual({ tables: ['people'] });
  });
});

describe('weighted hybrid (dense leg weight)', () => {
  it('ranks exactly as the store fusion when both legs weigh 1', async () => {
    const q = 'gearbox supply vendor Acme Oslo';
    const store = await engine.search(q, { mode: 'hybrid', fusion: 'rrf', limit: 10, denseWeight: 1 });
    // A weight of 1 + 1e-9 takes the engine's own fusion path but cannot reorder distinct RRF scores.
    const local = await engine.search(q, { mode: 'hybrid', fusion: 'rrf', limit: 10, denseWeight: 1 + 1e-9 });
    expect(local.map((h) => h.key)).toEqual(store.map((h) => h.key));
  });

  it('with dense weight 0 ranks the sparse hits in sparse order first', async () => {
    const sparse = await engine.search('sailing', { mode: 'sparse' });
    const weighted = await engine.search('sailing', { mode: 'hybrid', denseWeight: 0, limit: 10 });
    expect(weighted.slice(0, sparse.length).map((h) => h.key)).toEqual(sparse.map((h) => h.key));
  });

  it('takes its default from the engine and refuses an out-of-range weight', async () => {
    const e = createSearchEngine({
      store: fx.store,
      dense: fx.dense,
      sparse: fx.sparse,
      hybridDenseWeight: 0,
    });
    const sparse = await engine.search('sailing', { mode: 'sparse' });
    const hits = await e.search('sailing', { mode: 'hybrid' });
    expect(hits.slice(0, sparse.length).map((h) => h.key)).toEqual(sparse.map((h) => h.key));
    await expect(engine.search('x', { mode: 'hybrid', denseWeight: -1 })).rejects.toThrow(/denseWeight/);
  });

  it('rrf with weights sums weight / (rank + k) over the legs', () => {
    const c = (id: string): ScoredChunk => ({ id, score: 0, payload: {} as ChunkPayload });
    const fused = rrf(
      [
        [c('a'), c('b')],
        [c('b'), c('c')],
      ],
      2,
      [1, 0.5],
    );
    expect(fused.map((x) => [x.id, x.score])).toEqual([
      ['b', 1 / 3 + 0.5 / 2],
      ['a', 1 / 2],
      ['c', 0.5 / 3],
    ]);
  });
});
