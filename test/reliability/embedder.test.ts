/**
 * A fault of the embeddings server that hits every record (wrong vector
 * dimension, refused credentials, an unknown model) is the server's: follow
 * pauses and reports it in health, dead-letters nothing, and indexes
 * everything once the server is right again. A one-shot run stops with it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openPipeline, type PipelineContext } from '../../runs/context.js';
import type { FollowHandle } from '../../runs/follow.js';
import { countDeadLetters, listDeadLetters } from '../../runs/failures.js';
import { followHealth } from '../../runs/health.js';
import { runRefresh } from '../../runs/runs.js';
import { makeWorld, waitFor, type World } from '../pipeline/harness.js';
import { addNote, followEachTest, found } from './following.js';

let world: World;
let ctx: PipelineContext;
let follow: FollowHandle;

describe('an embedder that is wrong for every record', () => {
  followEachTest({ DEAD_LETTER_ATTEMPTS: '2' }, (f) => ({ world, ctx, follow } = f));

  for (const [what, fault] of [
    ['returns vectors of the wrong dimension', { kind: 'wrongDim', dim: 8 }],
    ['refuses the credentials (401)', { kind: 'status', status: 401 }],
    ['does not know the model (404)', { kind: 'status', status: 404 }],
  ] as const) {
    it(`pauses and reports it in health, dead-letters nothing, and catches up when the server ${what} and then recovers`, async () => {
      world.server.setAlways(fault);
      for (let i = 0; i < 5; i++)
        addNote(world, 400 + i, `Ibex nonce ${i} written while the embedder is wrong`);
      await waitFor('the fault reported', () =>
        follow.problems().some((p) => p.includes('embeddings server')),
      );
      const h = followHealth({
        state: follow.state(),
        backlog: 1,
        lagSeconds: 1,
        problems: follow.problems(),
      });
      expect(h).toMatchObject({ ok: false, status: 'failing' });
      // Retries go on well past DEAD_LETTER_ATTEMPTS, and nothing is blamed on the records.
      const seen = world.server.count;
      await waitFor('more retries', () => world.server.count > seen + 3);
      expect(countDeadLetters(ctx.db)).toBe(0);
      world.server.setAlways(undefined);
      await waitFor('caught up', () => found(ctx, 'ibex', 'notes:404'));
      await waitFor('the fault cleared', () => follow.problems().length === 0);
      expect(countDeadLetters(ctx.db)).toBe(0);
    }, 30_000);
  }
});

describe('dead letters', () => {
  beforeEach(async () => {
    world = await makeWorld({
      env: { DEAD_LETTER_ATTEMPTS: '1' },
      server: { rejectInputsContaining: 'poisonword' },
    });
    await runRefresh(world.config, { waitMs: 5000 });
  });
  afterEach(async () => {
    await world.close();
  });

  it('leave the list once their record is indexed again', async () => {
    addNote(world, 500, 'a poisonword the server refuses');
    await runRefresh(world.config, { waitMs: 5000, sweep: false });
    ctx = await openPipeline(world.config);
    try {
      expect(listDeadLetters(ctx.db).map((d) => d.recordKey)).toEqual(['notes:500']);
    } finally {
      await ctx.close();
    }
    world.crm.prepare(`UPDATE notes SET body = 'an acceptable wombat body' WHERE id = 500`).run();
    await runRefresh(world.config, { waitMs: 5000 });
    ctx = await openPipeline(world.config);
    try {
      expect(countDeadLetters(ctx.db)).toBe(0);
    } finally {
      await ctx.close();
    }
  }, 30_000);
});
