/**
 * The embedded store's in-memory index keeps its document frequencies (and
 * its count of live points) point by point. By property: after any sequence of
 * upserts, record deletes and shrinks, with searches in between (so the index
 * is built early and then maintained, both in the writing handle and in a
 * second handle that follows the writer through the change log), every
 * single-term sparse search scores each point exactly as a fresh load of the
 * same file does. A single-term score is idf(live, df) times the point's
 * value, so equal scores for every term mean equal df and live.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { openEmbeddedStore, type EmbeddedStore } from '../../stores/embedded.js';
import { DIM, makePoint } from './contract.js';
import { propertyParams } from '../helpers/property.js';

const TERMS = 12;
const RECORDS = 8;
const SPEC = { dim: DIM, model: 'mirror-property' };

const chunk = fc.record({
  terms: fc.uniqueArray(fc.integer({ min: 0, max: TERMS - 1 }), { maxLength: 5 }),
  seed: fc.integer({ min: 1, max: 1000 }),
});
const op = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('upsert' as const),
      rec: fc.nat(RECORDS - 1),
      chunks: fc.array(chunk, { minLength: 1, maxLength: 3 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), rec: fc.nat(RECORDS - 1) }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('shrink' as const), rec: fc.nat(RECORDS - 1), from: fc.nat(2) }),
  },
  { weight: 2, arbitrary: fc.constant({ op: 'search' as const }) },
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

const key = (rec: number) => `notes:${rec}`;

function pointsOf(rec: number, chunks: { terms: number[]; seed: number }[]) {
  return chunks.map((c, i) =>
    makePoint({
      recordKey: key(rec),
      chunkIndex: i,
      chunkCount: chunks.length,
      dense: Array.from({ length: DIM }, (_, d) => Math.sin(c.seed * (d + 1))),
      // Values in (0, 2]: any positive weight; a term may appear in no chunk at all.
      sparse: { indices: c.terms, values: c.terms.map((t) => ((c.seed * (t + 3)) % 97) / 48.5 + 0.01) },
    }),
  );
}

async function apply(store: EmbeddedStore, readers: EmbeddedStore[], o: Op): Promise<void> {
  if (o.op === 'upsert') await store.upsert(pointsOf(o.rec, o.chunks));
  else if (o.op === 'delete') await store.deleteRecords([key(o.rec)]);
  else if (o.op === 'shrink') await store.deleteChunksFrom([{ recordKey: key(o.rec), fromIndex: o.from }]);
  else for (const s of [store, ...readers]) await termScores(s);
}

/** For each term, the score every point containing it gets, by point id. */
async function termScores(store: EmbeddedStore): Promise<Record<string, number>[]> {
  const out: Record<string, number>[] = [];
  for (let t = 0; t < TERMS; t++) {
    const hits = await store.search({ mode: 'sparse', sparse: { indices: [t], values: [1] }, limit: 1000 });
    out.push(Object.fromEntries(hits.map((h) => [h.id, h.score]).sort(([a], [b]) => (a! < b! ? -1 : 1))));
  }
  return out;
}

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-index-mirror-prop-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
let run = 0;

describe('embedded store index (property)', () => {
  it('keeps the document frequencies of a fresh load through any sequence of writes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30, size: 'medium' }), async (ops) => {
        const file = path.join(root, `run-${run++}.db`);
        const writer = openEmbeddedStore(file, { backgroundCheckpoints: false });
        const readers: EmbeddedStore[] = [];
        try {
          await writer.ensure(SPEC);
          await termScores(writer); // the writer's index exists from the start, and is maintained from here
          readers.push(openEmbeddedStore(file, { readonly: true }));
          for (const o of ops) await apply(writer, readers, o);
          const fresh = openEmbeddedStore(file, { readonly: true });
          try {
            const want = await termScores(fresh);
            expect(await termScores(writer)).toEqual(want);
            expect(await termScores(readers[0]!)).toEqual(want);
          } finally {
            await fresh.close();
          }
        } finally {
          for (const r of readers) await r.close();
          await writer.close();
          fs.rmSync(file, { force: true });
          for (const ext of ['-wal', '-shm']) fs.rmSync(file + ext, { force: true });
        }
      }),
      propertyParams(60),
    );
  });
});
