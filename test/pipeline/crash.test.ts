import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runRefresh } from '../../runs/runs.js';
import { makeWorld, type World } from './harness.js';
import { torture } from './torture.js';

let world: World;

describe('crash torture (short; bench/crash-torture.ts runs the long one)', () => {
  beforeEach(async () => {
    world = await makeWorld();
    await runRefresh(world.config, { waitMs: 5000 });
  });
  afterEach(async () => world.close());

  it('leaves the store equal to a fresh full index after kill -9 of follow at random moments', async () => {
    const { report, writes } = await torture(world, { kills: 6, seed: 7 });
    expect(writes).toBeGreaterThan(20);
    expect({ missing: report.missing, stale: report.stale, orphans: report.orphans }).toEqual({
      missing: 0,
      stale: 0,
      orphans: 0,
    });
    expect(report.checked).toBeGreaterThan(10);
  }, 120_000);
});
