/**
 * The payloads the indexer hands to the store share one hidden class per
 * table. In Node 20 a spread copy (`{ ...payload, chunk_index, text }`) of an
 * object with more than four properties gets a class of its own, so every
 * chunk had a different one and every payload read in the store missed its
 * inline cache (pipeline/prepare.ts, `payloadWith`). Real CRM file, real embeddings server
 * on 127.0.0.1, real embedded store; V8's own %HaveSameMap says whether two
 * objects share a class.
 */
import v8 from 'node:v8';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../crm/demo/rng.js';
import { bodyParagraphs, subject } from '../../crm/demo/text.js';
import { openPipeline } from '../../runs/context.js';
import { payloadWith } from '../../pipeline/prepare.js';
import { indexKeys } from '../../pipeline/stream.js';
import type { ChunkPoint } from '../../stores/types.js';
import { makeWorld, type World } from './harness.js';

v8.setFlagsFromString('--allow-natives-syntax');
const sameClass = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;

let world: World;

beforeAll(async () => {
  world = await makeWorld();
  const ins = world.crm.prepare(
    "INSERT INTO interactions (kind, occurred_at, subject, body, owner) VALUES ('meeting', '2026-01-01', ?, ?, 'ana')",
  );
  const rng = new Rng(3);
  const ctx = { org: 'Acme Robotics', people: ['Ana Lima', 'Ben Ode'], sector: 'fintech', city: 'Lisbon' };
  // Multi-page meeting notes: some hundreds of chunks, enough for the spread's inline cache to warm up.
  for (let i = 0; i < 30; i++) ins.run(subject(rng, ctx), bodyParagraphs(rng, ctx, 'long').join('\n\n'));
});

afterAll(async () => {
  await world?.close();
});

describe('payload hidden classes', () => {
  it('payloadWith gives the same keys, order and values as a spread', () => {
    const base = { kind: 'meeting', stage: null, organization_id: '2', date: 'd', owner: 'ana', title: 't' };
    const more = { title: 'new', chunk_index: 3, text: 'x' };
    expect(JSON.stringify(payloadWith(base, more))).toBe(JSON.stringify({ ...base, ...more }));
    expect(base.title).toBe('t');
  });

  it('every point of one table has the same class as the others, and a spread copy would not', async () => {
    const ctx = await openPipeline(world.config);
    try {
      const written: ChunkPoint[] = [];
      const real = ctx.store.upsert.bind(ctx.store);
      ctx.store.upsert = async (points: ChunkPoint[]) => {
        written.push(...points);
        return real(points);
      };
      const keys = (world.crm.prepare('SELECT id FROM interactions').pluck().all() as number[]).map(
        (id) => `interactions:${id}`,
      );
      const r = await indexKeys(ctx.deps, ctx.store, keys);
      expect(r.failures).toEqual([]);
      const first = written[0]!.payload;
      const records = new Set(written.map((p) => p.payload.record_key));
      expect(records.size).toBe(keys.length);
      expect(written.length).toBeGreaterThan(keys.length); // long notes: several chunks each
      expect(Object.keys(first).length).toBeGreaterThan(4); // the case where a spread gets a class of its own
      const differing = written.filter((p) => !sameClass(p.payload, first));
      expect(differing.map((p) => `${p.payload.record_key}#${p.payload.chunk_index}`)).toEqual([]);
      // The check tells them apart: spread copies of these payloads, once the spread's inline cache has
      // warmed up, do not share a class.
      const spread = (p: ChunkPoint['payload'], i: number): object => ({ ...p, chunk_index: i });
      const copies = written.map((p, i) => spread(p.payload, i));
      expect(copies.filter((c) => !sameClass(c, copies[0]!)).length).toBeGreaterThan(0);
    } finally {
      await ctx.close();
    }
  });
});
