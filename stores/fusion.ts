/**
 * Score fusion for hybrid search, identical to Qdrant's server-side fusion so the
 * embedded store ranks hybrid results the way a Qdrant collection would.
 *
 * - RRF: score(p) = sum over legs of 1 / (rank + k), rank 0-based, k = 2
 *   (Qdrant `lib/segment/src/common/reciprocal_rank_fusion.rs`, DEFAULT_RRF_K = 2;
 *   not the k = 60 of the original paper).
 * - DBSF: each leg normalised by (s - (mean - 3σ)) / 6σ with the sample standard
 *   deviation (n - 1); a single-point leg or a leg of equal scores scores 0.5; then
 *   the normalised scores are summed (Qdrant `lib/segment/src/common/score_fusion.rs`).
 *
 * Pure: inputs are ranked lists (best first), output is a new list, best first.
 */

export interface Ranked {
  id: string;
  score: number;
}

/** Qdrant's RRF constant (DEFAULT_RRF_K in the Qdrant server). */
export const RRF_K = 2;

/**
 * Candidates each hybrid leg brings when the caller gives no prefetchLimit: a few
 * times the final limit so a point ranked modestly by both legs can still win,
 * with a floor so tiny limits still fuse over a meaningful pool.
 */
export const PREFETCH_FACTOR = 4;
export const PREFETCH_MIN = 40;

export function defaultPrefetchLimit(limit: number): number {
  return Math.max(limit * PREFETCH_FACTOR, PREFETCH_MIN);
}

/** Stable sort by score descending; ties keep first-seen order (deterministic, unlike Qdrant's unstable sort). */
function sortDesc<T extends Ranked>(items: T[]): T[] {
  return items.sort((a, b) => b.score - a.score);
}

/**
 * `weights[l]` scales leg l's contributions (weighted RRF; missing weights are 1,
 * so the default is Qdrant's plain RRF, where every leg weighs 1).
 */
export function rrf<T extends Ranked>(legs: T[][], k: number = RRF_K, weights: readonly number[] = []): T[] {
  const byId = new Map<string, T>();
  for (let l = 0; l < legs.length; l++) {
    const w = weights[l] ?? 1;
    legs[l]!.forEach((p, pos) => {
      const s = w / (pos + k);
      const seen = byId.get(p.id);
      if (seen) seen.score += s;
      else byId.set(p.id, { ...p, score: s });
    });
  }
  return sortDesc([...byId.values()]);
}

/** Qdrant's `distr_norm`: map mean ± 3σ onto [0, 1] (values outside that band go beyond it). */
export function distrNorm<T extends Ranked>(leg: T[]): T[] {
  if (leg.length === 0) return [];
  if (leg.length === 1) return [{ ...leg[0]!, score: 0.5 }];
  // Welford, as Qdrant does, for the same rounding behaviour on long legs.
  let mean = 0;
  let agg = 0;
  leg.forEach((p, i) => {
    const oldDelta = p.score - mean;
    mean += oldDelta / (i + 1);
    agg += oldDelta * (p.score - mean);
  });
  const std = Math.sqrt(agg / (leg.length - 1));
  const min = mean - 3 * std;
  const max = mean + 3 * std;
  if (min === max) return leg.map((p) => ({ ...p, score: 0.5 }));
  return leg.map((p) => ({ ...p, score: (p.score - min) / (max - min) }));
}

export function dbsf<T extends Ranked>(legs: T[][]): T[] {
  const byId = new Map<string, T>();
  for (const leg of legs) {
    for (const p of distrNorm(leg)) {
      const seen = byId.get(p.id);
      if (seen) seen.score += p.score;
      else byId.set(p.id, p);
    }
  }
  return sortDesc([...byId.values()]);
}

export function fuse<T extends Ranked>(method: 'rrf' | 'dbsf', legs: T[][]): T[] {
  return method === 'dbsf' ? dbsf(legs) : rrf(legs);
}
