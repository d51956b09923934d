import { describe, expect, it } from 'vitest';
import { dbsf, defaultPrefetchLimit, distrNorm, RRF_K, rrf } from '../../stores/fusion.js';

const leg = (...pairs: [string, number][]) => pairs.map(([id, score]) => ({ id, score }));

describe('RRF (Qdrant)', () => {
  it('uses k = 2 with 0-based ranks: a lone top hit scores 1/2', () => {
    expect(RRF_K).toBe(2);
    expect(rrf([leg(['a', 0.9])])).toEqual([{ id: 'a', score: 0.5 }]);
  });

  it("reproduces Qdrant's own three-leg example (1.0833, 0.8333, 0.5833, 0.5)", () => {
    const out = rrf([
      leg(['2', 0.9], ['1', 0.8]),
      leg(['1', 0.7], ['2', 0.6], ['3', 0.5]),
      leg(['5', 0.9], ['3', 0.5], ['1', 0.4]),
    ]);
    expect(out.map((p) => p.id)).toEqual(['1', '2', '3', '5']);
    const want = [1 / 3 + 1 / 2 + 1 / 4, 1 / 2 + 1 / 3, 1 / 4 + 1 / 3, 1 / 2];
    out.forEach((p, i) => expect(p.score).toBeCloseTo(want[i]!, 6));
  });

  it('ignores input scores: only order matters', () => {
    const a = rrf([leg(['x', 100], ['y', 99])]);
    const b = rrf([leg(['x', 0.001], ['y', 0.0001])]);
    expect(a).toEqual(b);
  });

  it('keeps extra fields of the first occurrence and does not mutate its input', () => {
    const l1 = [{ id: 'a', score: 3, slot: 7 }];
    const out = rrf([l1, [{ id: 'a', score: 1, slot: 7 }]]);
    expect(out[0]).toEqual({ id: 'a', score: 1, slot: 7 });
    expect(l1[0]!.score).toBe(3);
  });
});

describe('DBSF (Qdrant)', () => {
  it('maps mean ± 3 sample standard deviations onto 0..1', () => {
    // scores 1,2,3: mean 2, sample sd 1 → min -1, max 5
    const out = distrNorm(leg(['a', 3], ['b', 2], ['c', 1]));
    expect(out.map((p) => p.score)).toEqual([4 / 6, 3 / 6, 2 / 6]);
  });

  it('gives 0.5 to a single point and to a leg of equal scores', () => {
    expect(distrNorm(leg(['a', 7]))[0]!.score).toBe(0.5);
    expect(distrNorm(leg(['a', 2], ['b', 2])).map((p) => p.score)).toEqual([0.5, 0.5]);
    expect(distrNorm([])).toEqual([]);
  });

  it('sums the normalised scores of a point found by both legs', () => {
    const out = dbsf([leg(['a', 3], ['b', 2], ['c', 1]), leg(['c', 10], ['a', 0])]);
    // leg 2: mean 5, sd √50 ≈ 7.071 → c = (10 - 5 + 3√50) / 6√50, a = (0 - 5 + 3√50) / 6√50
    const s = Math.sqrt(50);
    const c2 = (5 + 3 * s) / (6 * s);
    const a2 = (-5 + 3 * s) / (6 * s);
    const byId = new Map(out.map((p) => [p.id, p.score]));
    expect(byId.get('a')).toBeCloseTo(4 / 6 + a2, 9);
    expect(byId.get('c')).toBeCloseTo(2 / 6 + c2, 9);
    expect(byId.get('b')).toBeCloseTo(3 / 6, 9);
    expect(out.map((p) => p.id)).toEqual(['a', 'c', 'b']);
  });
});

describe('prefetch default', () => {
  it('brings several times the limit, with a floor for small limits', () => {
    expect(defaultPrefetchLimit(5)).toBe(40);
    expect(defaultPrefetchLimit(50)).toBe(200);
  });
});
