/**
 * A CRM writer holds the write lock for longer than the busy timeout (a
 * migration, a bulk import, a VACUUM) while follow runs: follow must keep
 * going, say what happened in its state, and index the next write.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoDatabase } from '../../crm/demo/create.js';
import { CLI } from '../pipeline/torture.js';
import type { PipelineContext } from '../../runs/context.js';
import type { FollowHandle } from '../../runs/follow.js';
import { createSearchEngine } from '../../search/engine.js';
import { waitFor, type World } from '../pipeline/harness.js';
import { holdWriteLock } from '../helpers/lock.js';
import { followEachTest } from './following.js';

let world: World;
let ctx: PipelineContext;
let follow: FollowHandle;

describe('follow under a write lock held past the busy timeout', () => {
  followEachTest(
    { SQLITE_BUSY_TIMEOUT_MS: '200', LEASE_TTL_MS: '1200' },
    (f) => ({ world, ctx, follow } = f),
  );

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

describe('one-shot commands on a CRM locked at start', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-index-locked-'));
    createDemoDatabase({ dbPath: path.join(dir, 'crm.db'), records: 100, seed: 3 });
    env = {
      ...process.env,
      CRM_DB_PATH: path.join(dir, 'crm.db'),
      SQLITE_BUSY_TIMEOUT_MS: '200',
      LOG_LEVEL: 'silent',
    };
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const args of [['install'], ['refresh'], ['rebuild']]) {
    it(`crm-index ${args.join(' ')} exits 5 with one line naming the lock and what to do`, async () => {
      const lock = await holdWriteLock(path.join(dir, 'crm.db'), 8000);
      try {
        const r = spawnSync(process.execPath, [CLI, ...args], { env, encoding: 'utf8', timeout: 60_000 });
        expect(r.status, r.stderr).toBe(5);
        const lines = r.stderr.trim().split('\n');
        expect(lines, r.stderr).toHaveLength(1);
        expect(lines[0]).toMatch(/^crm-index: The CRM database was locked by another writer/);
        expect(lines[0]).toMatch(/Run the command again once that writer is done/);
        expect(r.stderr).not.toMatch(/unexpected error|SqliteError|at .*\.js:\d+/);
      } finally {
        lock.kill();
        await lock.released;
      }
    }, 90_000);
  }
});
