/**
 * Fusion by property: a hybrid result must not depend on which leg came first
 * (RRF and DBSF), RRF reads only each leg's order, DBSF only each leg's scores
 * (not their order within the leg), and an empty leg changes nothing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dbsf, rrf, type Ranked } from '../../stores/fusion.js';
import { propertyParams } from '../helpers/property.js';

const ID = fc.constantFrom(...'abcdefghijkl'.split(''));
const score = fc.double({ min: -5, max: 5, noNaN: true, noDefaultInfinity: true });

/** A ranked leg: distinct ids, scores best first (as a store returns them). */
const leg = fc
  .uniqueArray(fc.tuple(ID, score), { selector: ([id]) => id, maxLength: 10 })
  .map((ps) => ps.map(([id, s]) => ({ id, score: s })).sort((a, b) => b.score - a.score));
const legs = fc.array(leg, { minLength: 1, maxLength: 4 });

/** Fused scores by id; the output must also be sorted best first. */
function scores(out: Ranked[]): Map<string, number> {
  for (let i = 1; i < out.length; i++) expect(out[i - 1]!.score).toBeGreaterThanOrEqual(out[i]!.score);
  return new Map(out.map((p) => [p.id, p.score]));
}

function expectSameScores(a: Ranked[], b: Ranked[], tolerance: number): void {
  const x = scores(a);
  const y = scores(b);
  expect([...y.keys()].sort()).toEqual([...x.keys()].sort());
  for (const [id, s] of x) expect(Math.abs(s - y.get(id)!), id).toBeLessThanOrEqual(tolerance);
}

/** A permutation of `xs` drawn by fast-check (so it shrinks), applied without touching the input. */
const shuffled = <T>(xs: T[], keys: number[]): T[] =>
  xs
    .map((x, i) => ({ x, k: keys[i] ?? 0 }))
    .sort((a, b) => a.k - b.k)
    .map((e) => e.x);
const keys = fc.array(fc.integer(), { minLength: 12, maxLength: 12 });

describe('fusion (property)', () => {
  it('RRF and DBSF give every point the same score whatever the order of the legs', () => {
    fc.assert(
      fc.property(legs, keys, (ls, k) => {
        const other = shuffled(ls, k);
        expectSameScores(rrf(ls), rrf(other), 1e-12);
        expectSameScores(dbsf(ls), dbsf(other), 1e-9);
      }),
      propertyParams(500),
    );
  });

  it("RRF reads only each leg's order: any scores in the same order fuse the same", () => {
    fc.assert(
      fc.property(legs, (ls) => {
        const rescored = ls.map((l) => l.map((p, i) => ({ id: p.id, score: 1000 - i * 7 })));
        expect(rrf(rescored)).toEqual(rrf(ls));
      }),
      propertyParams(300),
    );
  });

  it("DBSF reads only each leg's scores: their order within a leg does not matter", () => {
    fc.assert(
      fc.property(legs, keys, (ls, k) => {
        expectSameScores(dbsf(ls), dbsf(ls.map((l) => shuffled(l, k))), 1e-9);
      }),
      propertyParams(300),
    );
  });

  it('an empty leg changes nothing, and every point of every leg is in the result', () => {
    fc.assert(
      fc.property(legs, fc.nat(4), (ls, at) => {
        const withEmpty = [...ls.slice(0, at), [], ...ls.slice(at)];
        expect(rrf(withEmpty)).toEqual(rrf(ls));
        expect(dbsf(withEmpty)).toEqual(dbsf(ls));
        const ids = new Set(ls.flatMap((l) => l.map((p) => p.id)));
        expect(new Set(rrf(ls).map((p) => p.id))).toEqual(ids);
        expect(new Set(dbsf(ls).map((p) => p.id))).toEqual(ids);
      }),
      propertyParams(300),
    );
  });
});
