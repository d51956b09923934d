/**
 * A CRM writer holds the write lock for longer than the busy timeout (a
 * migration, a bulk import, a VACUUM) while follow runs: follow must keep
 * going, say what happened in its state, and index the next write.
 */
import { spawn } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openPipeline, type PipelineContext } from '../../pipeline/context.js';
import { startFollow, type FollowHandle } from '../../pipeline/follow.js';
import { runRefresh } from '../../pipeline/runs.js';
import { createSearchEngine } from '../../search/engine.js';
import { makeWorld, waitFor, type World } from '../pipeline/harness.js';

let world: World;
let ctx: PipelineContext;
let follow: FollowHandle;

/** Hold the write lock of `dbPath` from another process for `ms`; resolves once it is held, and returns when it ends. */
export async function holdWriteLock(dbPath: string, ms: number): Promise<{ released: Promise<void> }> {
  const code = `
    const Database = require('better-sqlite3');
    const db = new Database(process.argv[1]);
    db.exec('BEGIN IMMEDIATE');
    process.stdout.write('held\\n');
    setTimeout(() => { db.exec('COMMIT'); db.close(); }, Number(process.argv[2]));
  `;
  const child = spawn(process.execPath, ['-e', code, dbPath, String(ms)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    cwd: process.cwd(),
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('held') && resolve());
    child.on('exit', (c) => reject(new Error(`lock holder exited early with ${c}`)));
  });
  return { released: new Promise((resolve) => child.on('exit', () => resolve())) };
}

describe('follow under a write lock held past the busy timeout', () => {
  beforeEach(async () => {
    world = await makeWorld({ env: { SQLITE_BUSY_TIMEOUT_MS: '200', LEASE_TTL_MS: '1200' } });
    await runRefresh(world.config, { waitMs: 5000 });
    ctx = await openPipeline(world.config);
    follow = await startFollow(ctx, { waitForLeaseMs: 5000 });
  });
  afterEach(async () => {
    await follow.stop();
    await ctx.close();
    await world.close();
  });

  it('keeps running, reports the lock, and indexes the write made after it', async () => {
    const lock = await holdWriteLock(world.dbPath, 2500);
    // While the lock is held, the lease renewals fail: follow reports it instead of dying.
    await waitFor('the lock reported', () => follow.state().lastError?.message.includes('locked'), 10_000);
    await lock.released;
    world.crm
      .prepare(
        "INSERT INTO notes (id, subject_table, subject_id, author, body) VALUES (70, 'organizations', 1, 'Ann', 'Xylophonist nonce qwertyuiop')",
      )
      .run();
    const engine = createSearchEngine({ store: ctx.store, dense: ctx.dense, sparse: ctx.sparse });
    await waitFor(
      'the write after the lock indexed',
      async () =>
        (await engine.search('qwertyuiop', { mode: 'sparse', limit: 5 })).some((h) => h.key === 'notes:70'),
      20_000,
    );
    expect(follow.state().running).toBe(true);
    expect(follow.state().streamAlive).toBe(true);
  }, 40_000);
});
