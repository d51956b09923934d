/**
 * The documented recovery must not be blocked by the failure it recovers
 * from: follow hands the cursor to refresh or rebuild between the retries of
 * a batch that keeps failing, and when a holder does not hand it over, the
 * message says what follow is doing rather than that it keeps the index fresh.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LeaseError } from '../../config/errors.js';
import { FOLLOW_ERROR_STATE, setState } from '../../runs/failures.js';
import type { FollowHandle } from '../../runs/follow.js';
import { Lease, makeOwner } from '../../runs/lease.js';
import { runRefresh } from '../../runs/runs.js';
import { makeWorld, waitFor, worldConfig, type World } from '../pipeline/harness.js';
import { startEmbeddingsServer } from '../helpers/embeddingsServer.js';
import { followEachTest } from './following.js';

let world: World;
let follow: FollowHandle;

describe('follow stuck retrying a batch', () => {
  followEachTest({ RETRY_BASE_MS: '100', RETRY_MAX_MS: '300' }, (f) => ({ world, follow } = f));

  it('hands the cursor to a refresh between retries', async () => {
    world.server.setAlways({ kind: 'status', status: 503 });
    world.crm
      .prepare(
        `INSERT INTO notes (id, subject_table, subject_id, author, body) VALUES (600, 'organizations', 1, 'Ann', 'Stuck behind a 503')`,
      )
      .run();
    await waitFor('follow retrying', () => follow.state().lastError?.message.includes('503'));
    // The operator's recovery: a refresh against a working embeddings server (the same model).
    const healthy = await startEmbeddingsServer({ dim: 16 });
    try {
      const r = await runRefresh(worldConfig(world.dbPath, healthy.url, { LOG_LEVEL: 'silent' }), {
        waitMs: 5000,
        sweep: false,
      });
      expect(r.counts.added).toBe(1);
    } finally {
      await healthy.close();
    }
    await waitFor('follow resumed', () => !follow.state().paused);
  }, 30_000);
});

describe('a holder that does not hand the cursor over', () => {
  beforeEach(async () => {
    world = await makeWorld();
    await runRefresh(world.config, { waitMs: 5000 });
  });
  afterEach(async () => {
    await world.close();
  });

  it('is named with the failure follow published, not "follow keeps the index fresh"', async () => {
    const holder = new Lease(world.crm, 'index', makeOwner('follow'), 30_000);
    expect(holder.tryAcquire()).toBe(true);
    setState(world.crm, FOLLOW_ERROR_STATE, {
      at: Date.now(),
      message: 'SQLITE_FULL: database or disk is full',
    });
    const waiter = new Lease(world.crm, 'index', makeOwner('refresh'), 30_000);
    const err = await waiter.acquire(300).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LeaseError);
    expect((err as Error).message).toMatch(/follow is not keeping the index fresh/);
    expect((err as Error).message).toMatch(/disk is full/);
    expect((err as Error).message).not.toMatch(/keeps the index fresh already/);
    holder.release();
  });
});
