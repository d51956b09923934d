/**
 * The set-up the reliability tests share: a world whose rows are indexed, with
 * follow running on it for each test, and small helpers to write a note and
 * to look a record up in the index.
 */
import { afterEach, beforeEach } from 'vitest';
import { openPipeline, type PipelineContext } from '../../runs/context.js';
import { startFollow, type FollowHandle } from '../../runs/follow.js';
import { runRefresh } from '../../runs/runs.js';
import { createSearchEngine } from '../../search/engine.js';
import { makeWorld, type World } from '../pipeline/harness.js';

export interface Following {
  world: World;
  ctx: PipelineContext;
  follow: FollowHandle;
}

/** For each test of the calling describe: a fresh indexed world with follow on it, handed to `use`. */
export function followEachTest(env: Record<string, string>, use: (f: Following) => void): void {
  let f: Following;
  beforeEach(async () => {
    const world = await makeWorld({ env });
    await runRefresh(world.config, { waitMs: 5000 });
    const ctx = await openPipeline(world.config);
    f = { world, ctx, follow: await startFollow(ctx, { waitForLeaseMs: 5000 }) };
    use(f);
  });
  afterEach(async () => {
    f.world.server.setAlways(undefined);
    await f.follow.stop();
    await f.ctx.close();
    await f.world.close();
  });
}

/** Whether a sparse search for `word` finds record `key`. */
export async function found(ctx: PipelineContext, word: string, key: string): Promise<boolean> {
  const engine = createSearchEngine({ store: ctx.store, dense: ctx.dense, sparse: ctx.sparse });
  return (await engine.search(word, { mode: 'sparse', limit: 10 })).some((h) => h.key === key);
}

/** A note about organization 1, written by the CRM's own connection. */
export function addNote(world: World, id: number, body: string): void {
  world.crm
    .prepare(
      `INSERT INTO notes (id, subject_table, subject_id, author, body) VALUES (?, 'organizations', 1, 'Ann', ?)`,
    )
    .run(id, body);
}
