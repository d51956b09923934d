/**
 * Parameters for the fast-check property tests. The seed is fixed, so every
 * run (CI included) replays the same cases; set FC_SEED to explore others and
 * FC_RUNS to run more cases. On failure fast-check's report starts with the
 * seed and path that replay the shrunk counterexample
 * (`FC_SEED=<seed> npx vitest run <file>`; pass `path` to fc.assert to jump to it).
 */
import type { Parameters } from 'fast-check';

const FIXED_SEED = 0x2c_3d_1e;

export function propertyParams<T>(numRuns: number): Parameters<T> {
  const seed = process.env.FC_SEED === undefined ? FIXED_SEED : Number(process.env.FC_SEED);
  const runs = process.env.FC_RUNS === undefined ? numRuns : Number(process.env.FC_RUNS);
  return { seed, numRuns: runs };
}
