/**
 * The one behaviour suite every VectorStore passes (embedded always, Qdrant when
 * reachable). Sparse and hybrid expectations are computed here from first
 * principles (Qdrant's IDF formula, Qdrant's RRF/DBSF), so passing it on both
 * stores means both rank the same points the same way.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreError } from '../../config/errors.js';
import type { SparseVector } from '../../encoders/types.js';
import { dbsf, rrf } from '../../stores/fusion.js';
import { pointId } from '../../stores/ids.js';
import type { ChunkPayload, ChunkPoint, ScoredChunk, VectorStore } from '../../stores/types.js';
import { mulberry32 } from '../../crm/demo/rng.js';

export interface StoreFixture {
  /** A fresh store with nothing in it (ensure not yet called). */
  store: VectorStore;
  /** Another handle on the same store (another connection or client): what a second process would see. */
  openReader(): Promise<VectorStore>;
  cleanup(): Promise<void>;
}

export const DIM = 8;
const SPEC = { dim: DIM, model: 'contract-test' };

/** Seeded PRNG (mulberry32, shared with the demo generator) so runs reproduce. */
export const prng = mulberry32;

export interface PointSpec {
  recordKey: string;
  chunkIndex?: number;
  chunkCount?: number;
  dense: number[];
  sparse: SparseVector;
  payload?: Partial<ChunkPayload>;
}

export function makePoint(s: PointSpec): ChunkPoint {
  const chunkIndex = s.chunkIndex ?? 0;
  const [table] = s.recordKey.split(':');
  return {
    id: pointId(s.recordKey, chunkIndex),
    dense: s.dense,
    sparse: s.sparse,
    payload: {
      record_key: s.recordKey,
      table: table ?? 'notes',
      chunk_index: chunkIndex,
      chunk_count: s.chunkCount ?? 1,
      fingerprint: `fp-${s.recordKey}`,
      text: `text of ${s.recordKey}#${chunkIndex}`,
      title: s.recordKey,
      kind: null,
      stage: null,
      organization_id: null,
      date: null,
      owner: null,
      entity_ids: [],
      ...s.payload,
    } as ChunkPayload,
  };
}

/** A random corpus: 40 records, sparse terms from a 25-term vocabulary, BM25-like values. */
export function randomCorpus(seed: number, n = 40): ChunkPoint[] {
  const r = prng(seed);
  const tables = ['organizations', 'people', 'deals', 'activities'];
  const out: ChunkPoint[] = [];
  for (let i = 0; i < n; i++) {
    const terms = new Set<number>();
    const want = 1 + Math.floor(r() * 6);
    while (terms.size < want) terms.add(1000 + Math.floor(r() * 25));
    const indices = [...terms];
    out.push(
      makePoint({
        recordKey: `${tables[i % 4]}:${i}`,
        dense: Array.from({ length: DIM }, () => r() * 2 - 1),
        sparse: { indices, values: indices.map(() => 0.3 + r() * 1.5) },
        payload: {
          kind: i % 3 === 0 ? 'call' : 'email',
          stage: i % 5 === 0 ? 'won' : 'open',
          organization_id: `org-${i % 4}`,
          owner: `owner-${i % 2}`,
          date: `2024-01-${String((i % 28) + 1).padStart(2, '0')}T12:00:00Z`,
          entity_ids: [`ent-${i % 7}`, `ent-x${i % 3}`],
        },
      }),
    );
  }
  return out;
}

/** Brute-force reference: Qdrant's `modifier: idf` sparse score over all points. */
export function referenceSparse(points: ChunkPoint[], q: SparseVector): { id: string; score: number }[] {
  const n = points.length;
  const df = new Map<number, number>();
  for (const p of points) for (const t of new Set(p.sparse.indices)) df.set(t, (df.get(t) ?? 0) + 1);
  const out: { id: string; score: number }[] = [];
  for (const p of points) {
    let score = 0;
    let hit = false;
    q.indices.forEach((t, qi) => {
      const di = p.sparse.indices.indexOf(t);
      if (di < 0) return;
      hit = true;
      const d = df.get(t)!;
      score += q.values[qi]! * Math.log((n - d + 0.5) / (d + 0.5) + 1) * p.sparse.values[di]!;
    });
    if (hit) out.push({ id: p.id, score });
  }
  return out.sort((a, b) => b.score - a.score);
}

function cosine(a: number[], b: number[]): number {
  let dot = 0,
    na = 0,
    nb = 0;
  a.forEach((x, i) => {
    dot += x * b[i]!;
    na += x * x;
    nb += b[i]! * b[i]!;
  });
  return dot / Math.sqrt(na * nb);
}

export function referenceDense(points: ChunkPoint[], q: number[]): { id: string; score: number }[] {
  return points
    .map((p) => ({ id: p.id, score: cosine(Array.from(p.dense), q) }))
    .sort((a, b) => b.score - a.score);
}

const ids = (r: ScoredChunk[]) => r.map((x) => x.id);
const keys = (r: ScoredChunk[]) => r.map((x) => x.payload.record_key).sort();

export function runStoreContract(
  name: string,
  makeFixture: () => Promise<StoreFixture>,
  opts: { skip?: string } = {},
): void {
  const skip = opts.skip !== undefined;
  if (skip) console.warn(`[${name}] contract suite skipped: ${opts.skip}`);

  describe.skipIf(skip)(`VectorStore contract: ${name}`, () => {
    let fx: StoreFixture;
    let store: VectorStore;
    const corpus = randomCorpus(7);
    const q = { indices: [1003, 1010, 1017], values: [1, 1, 1] };
    const qd = Array.from({ length: DIM }, (_, i) => Math.sin(i + 1));

    beforeEach(async () => {
      fx = await makeFixture();
      store = fx.store;
      await store.ensure(SPEC);
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('counts the points it was given, and a re-upsert of the same points changes nothing', async () => {
      await store.upsert(corpus);
      expect(await store.count()).toBe(corpus.length);
      const before = await store.search({ mode: 'sparse', sparse: q, limit: 10 });
      await store.upsert(corpus);
      expect(await store.count()).toBe(corpus.length);
      const after = await store.search({ mode: 'sparse', sparse: q, limit: 10 });
      expect(ids(after)).toEqual(ids(before));
    });

    it('dense search ranks by cosine similarity and returns the stored payload', async () => {
      await store.upsert(corpus);
      const got = await store.search({ mode: 'dense', dense: qd, limit: 5 });
      const want = referenceDense(corpus, qd).slice(0, 5);
      expect(ids(got)).toEqual(want.map((w) => w.id));
      got.forEach((g, i) => expect(g.score).toBeCloseTo(want[i]!.score, 4));
      const first = corpus.find((p) => p.id === got[0]!.id)!;
      expect(got[0]!.payload).toEqual(first.payload);
    });

    it("sparse ranking equals a brute-force reference using Qdrant's IDF formula", async () => {
      await store.upsert(corpus);
      const got = await store.search({ mode: 'sparse', sparse: q, limit: 100 });
      const want = referenceSparse(corpus, q);
      expect(want.length).toBeGreaterThan(5);
      expect(ids(got)).toEqual(want.map((w) => w.id));
      got.forEach((g, i) => expect(g.score).toBeCloseTo(want[i]!.score, 4));
    });

    it('sparse IDF follows deletions (N and df shrink with the collection)', async () => {
      await store.upsert(corpus);
      const gone = corpus.slice(0, 10);
      await store.deleteRecords(gone.map((p) => p.payload.record_key));
      const rest = corpus.slice(10);
      const got = await store.search({ mode: 'sparse', sparse: q, limit: 100 });
      const want = referenceSparse(rest, q);
      expect(ids(got)).toEqual(want.map((w) => w.id));
      got.forEach((g, i) => expect(g.score).toBeCloseTo(want[i]!.score, 4));
    });

    it('hybrid RRF fuses the sparse and dense legs with k = 2 (Qdrant)', async () => {
      await store.upsert(corpus);
      const got = await store.search({ mode: 'hybrid', dense: qd, sparse: q, limit: 8, prefetchLimit: 10 });
      const want = rrf([referenceSparse(corpus, q).slice(0, 10), referenceDense(corpus, qd).slice(0, 10)]);
      expect(got).toHaveLength(8);
      // Equal RRF scores may come in either order: compare scores by rank, and each id's score.
      got.forEach((g, i) => expect(g.score).toBeCloseTo(want[i]!.score, 5));
      const wantById = new Map(want.map((w) => [w.id, w.score]));
      for (const g of got) expect(g.score).toBeCloseTo(wantById.get(g.id)!, 5);
    });

    it('hybrid DBSF sums mean ± 3σ normalised leg scores (Qdrant)', async () => {
      await store.upsert(corpus);
      const got = await store.search({
        mode: 'hybrid',
        fusion: 'dbsf',
        dense: qd,
        sparse: q,
        limit: 8,
        prefetchLimit: 10,
      });
      const want = dbsf([referenceSparse(corpus, q).slice(0, 10), referenceDense(corpus, qd).slice(0, 10)]);
      expect(ids(got)).toEqual(want.slice(0, 8).map((w) => w.id));
      got.forEach((g, i) => expect(g.score).toBeCloseTo(want[i]!.score, 3));
    });

    describe('filters', () => {
      const every = { indices: Array.from({ length: 25 }, (_, i) => 1000 + i), values: Array(25).fill(1) };
      const run = async (filter: object) =>
        store
          .search({ mode: 'sparse', sparse: every, limit: 100, filter })
          .then((r) => r.map((x) => x.payload));
      beforeEach(async () => {
        await store.upsert(corpus);
      });

      it('tables, kinds, stages, organizationIds and recordKeys match any listed value', async () => {
        const t = await run({ tables: ['deals', 'people'] });
        expect(t.length).toBe(20);
        expect(t.every((p) => p.table === 'deals' || p.table === 'people')).toBe(true);
        const k = await run({ kinds: ['call'] });
        expect(k.length).toBe(14);
        expect(k.every((p) => p.kind === 'call')).toBe(true);
        const s = await run({ stages: ['won'] });
        expect(s.map((p) => p.record_key).sort()).toEqual(
          corpus
            .filter((p) => p.payload.stage === 'won')
            .map((p) => p.payload.record_key)
            .sort(),
        );
        const o = await run({ organizationIds: ['org-1'] });
        expect(o.length).toBe(10);
        expect(o.every((p) => p.organization_id === 'org-1')).toBe(true);
        const r = await run({ recordKeys: ['deals:2', 'people:5', 'nope:1'] });
        expect(r.map((p) => p.record_key).sort()).toEqual(['deals:2', 'people:5']);
      });

      it('entityIds matches a point holding any of the given entities', async () => {
        const e = await run({ entityIds: ['ent-3', 'ent-x1'] });
        const want = corpus.filter((p) => p.payload.entity_ids.some((x) => x === 'ent-3' || x === 'ent-x1'));
        expect(e.map((p) => p.record_key).sort()).toEqual(want.map((p) => p.payload.record_key).sort());
      });

      it('dateFrom/dateTo are inclusive, and a date-only dateTo includes that whole day', async () => {
        const d = await run({ dateFrom: '2024-01-03T12:00:00Z', dateTo: '2024-01-05' });
        const want = corpus.filter((p) =>
          ['2024-01-03', '2024-01-04', '2024-01-05'].includes(p.payload.date!.slice(0, 10)),
        );
        expect(want.length).toBeGreaterThan(0);
        expect(d.map((p) => p.record_key).sort()).toEqual(want.map((p) => p.payload.record_key).sort());
      });

      it('combined filters all hold, in every search mode', async () => {
        const filter = { tables: ['organizations'], kinds: ['call'], organizationIds: ['org-0'] };
        const want = corpus
          .filter((p) => p.payload.table === 'organizations' && p.payload.kind === 'call')
          .map((p) => p.payload.record_key)
          .sort();
        expect(want.length).toBeGreaterThan(0);
        expect((await run(filter)).map((p) => p.record_key).sort()).toEqual(want);
        const dense = await store.search({ mode: 'dense', dense: qd, limit: 100, filter });
        expect(keys(dense)).toEqual(want);
        const hybrid = await store.search({ mode: 'hybrid', dense: qd, sparse: every, limit: 100, filter });
        expect(keys(hybrid)).toEqual(want);
      });
    });

    it('deleteChunksFrom removes only the chunks past the new end of a shrunk record', async () => {
      const big = [0, 1, 2, 3].map((i) =>
        makePoint({
          recordKey: 'deals:big',
          chunkIndex: i,
          chunkCount: 4,
          dense: qd,
          sparse: { indices: [1], values: [1] },
        }),
      );
      const other = makePoint({
        recordKey: 'deals:other',
        chunkIndex: 2,
        chunkCount: 3,
        dense: qd,
        sparse: { indices: [1], values: [1] },
      });
      await store.upsert([...big, other]);
      await store.upsert(big.slice(0, 2).map((p) => ({ ...p, payload: { ...p.payload, chunk_count: 2 } })));
      await store.deleteChunksFrom([{ recordKey: 'deals:big', fromIndex: 2 }]);
      expect(await store.count()).toBe(3);
      const left = await store.search({ mode: 'sparse', sparse: { indices: [1], values: [1] }, limit: 10 });
      expect(left.map((p) => `${p.payload.record_key}#${p.payload.chunk_index}`).sort()).toEqual([
        'deals:big#0',
        'deals:big#1',
        'deals:other#2',
      ]);
      const states = await store.getRecordStates(['deals:big']);
      expect(states.get('deals:big')?.chunkCount).toBe(2);
    });

    it('deleteRecords removes every chunk of those records and nothing else', async () => {
      await store.upsert(corpus);
      await store.deleteRecords(['deals:2', 'people:1', 'never:1']);
      expect(await store.count()).toBe(corpus.length - 2);
      const r = await store.search({
        mode: 'dense',
        dense: qd,
        limit: 100,
        filter: { recordKeys: ['deals:2', 'people:1'] },
      });
      expect(r).toEqual([]);
    });

    it('getRecordStates returns chunk-0 state for present keys only; scrollRecordStates pages through all', async () => {
      await store.upsert(corpus);
      const states = await store.getRecordStates(['deals:2', 'people:1', 'absent:9']);
      expect([...states.keys()].sort()).toEqual(['deals:2', 'people:1']);
      expect(states.get('deals:2')).toEqual({
        recordKey: 'deals:2',
        fingerprint: 'fp-deals:2',
        chunkCount: 1,
      });
      const seen: string[] = [];
      let pages = 0;
      for await (const page of store.scrollRecordStates(7)) {
        pages++;
        expect(page.length).toBeLessThanOrEqual(7);
        seen.push(...page.map((s) => s.recordKey));
      }
      expect(pages).toBeGreaterThanOrEqual(6);
      expect(seen.sort()).toEqual(corpus.map((p) => p.payload.record_key).sort());
    });

    it('another handle sees writes and deletes made through this one', async () => {
      const reader = await fx.openReader();
      try {
        await store.upsert(corpus.slice(0, 10));
        expect(await reader.search({ mode: 'sparse', sparse: q, limit: 100 })).not.toEqual([]);
        await store.upsert(corpus.slice(10));
        const got = await reader.search({ mode: 'sparse', sparse: q, limit: 100 });
        expect(ids(got)).toEqual(referenceSparse(corpus, q).map((w) => w.id));
        await store.deleteRecords(corpus.map((p) => p.payload.record_key));
        expect(await reader.search({ mode: 'sparse', sparse: q, limit: 100 })).toEqual([]);
        expect(await reader.count()).toBe(0);
      } finally {
        await reader.close();
      }
    });

    it('a generation switch never leaves a reader with empty results, then serves the new generation', async () => {
      await store.upsert(corpus);
      const reader = await fx.openReader();
      const marker = makePoint({ recordKey: 'deals:marker', dense: qd, sparse: q });
      let empty = 0;
      let searches = 0;
      let sawMarker = false;
      let stop = false;
      const loop = (async () => {
        while (!stop) {
          for (const mode of ['dense', 'sparse', 'hybrid'] as const) {
            const r = await reader.search({ mode, dense: qd, sparse: q, limit: 5 });
            searches++;
            if (r.length === 0) empty++;
            if (r.some((x) => x.payload.record_key === 'deals:marker')) sawMarker = true;
          }
          await new Promise((res) => setImmediate(res));
        }
      })();
      try {
        const next = await store.beginGeneration(SPEC);
        expect(next.generation).not.toBe(store.generation);
        for (let i = 0; i < corpus.length; i += 8) {
          await next.upsert(corpus.slice(i, i + 8));
          await new Promise((res) => setImmediate(res));
        }
        await next.upsert([marker]);
        // Until activation the old generation is served: no marker yet.
        expect(keys(await reader.search({ mode: 'dense', dense: qd, limit: 100 }))).not.toContain(
          'deals:marker',
        );
        await store.activateGeneration(next);
        expect(store.generation).toBe(next.generation);
        const after = await reader.search({ mode: 'dense', dense: qd, limit: 100 });
        expect(keys(after)).toContain('deals:marker');
        expect(await store.count()).toBe(corpus.length + 1);
        // Let the reader loop run a few rounds against the new generation.
        const target = searches + 6;
        while (searches < target) await new Promise((res) => setTimeout(res, 5));
      } finally {
        stop = true;
        await loop;
        await reader.close();
      }
      expect(searches).toBeGreaterThan(3);
      expect(empty).toBe(0);
      expect(sawMarker).toBe(true);
    });

    it('dropGeneration discards a begun generation and leaves the served one alone', async () => {
      await store.upsert(corpus);
      const next = await store.beginGeneration(SPEC);
      await next.upsert(corpus.slice(0, 3));
      await store.dropGeneration(next);
      expect(await store.count()).toBe(corpus.length);
      await expect(next.upsert(corpus.slice(0, 1))).rejects.toThrow();
    });

    it('dropOrphanGenerations removes generations left unserved (a killed rebuild) and keeps the served one', async () => {
      await store.upsert(corpus);
      // A rebuild killed mid-way: its generation was begun and filled, never activated nor dropped.
      const left = await store.beginGeneration(SPEC);
      await left.upsert(corpus.slice(0, 3));
      const dropped = await store.dropOrphanGenerations();
      expect(dropped).toContain(left.generation);
      expect(dropped).not.toContain(store.generation);
      expect(await store.count()).toBe(corpus.length);
      expect(await store.dropOrphanGenerations()).toEqual([]);
    });

    it('ensure with a different dimension is a StoreError naming both sizes and the rebuild', async () => {
      const err = await store.ensure({ dim: DIM + 4, model: 'other' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(StoreError);
      const msg = (err as Error).message;
      expect(msg).toContain(String(DIM));
      expect(msg).toContain(String(DIM + 4));
      expect(msg).toMatch(/crm-index rebuild/);
      // and ensure with the right one is idempotent
      await store.ensure(SPEC);
    });
  });
}
