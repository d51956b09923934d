/**
 * A long backlog on an embedder and a store that both complete synchronously
 * (the defaults: the local embedder and the embedded store never yield to
 * the event loop on their own). The drain must keep its lease, let timers,
 * health checks and signals run between pages, and let follow hand the
 * cursor to a one-shot run within a page rather than after the whole
 * backlog.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DenseEmbedder } from '../../encoders/types.js';
import { INDEX_CONSUMER, openPipeline, type PipelineContext } from '../../runs/context.js';
import { drainUntilEmpty } from '../../runs/drain.js';
import { startFollow } from '../../runs/follow.js';
import { Lease, makeOwner } from '../../runs/lease.js';
import { runRebuild, runRefresh } from '../../runs/runs.js';
import { backlog, ensureConsumer } from '../../triggers/changelog.js';
import { makeWorld, waitFor, type World } from './harness.js';

/** A 16-dim embedder that blocks its thread for `ms` per call and never yields (like the local one). */
class BlockingEmbedder implements DenseEmbedder {
  readonly modelId = 'blocking-16';
  readonly dim = 16;
  private readonly cell = new Int32Array(new SharedArrayBuffer(4));
  constructor(private readonly ms: number) {}
  async init(): Promise<void> {}
  async close(): Promise<void> {}
  async embed(texts: string[]): Promise<Float32Array[]> {
    if (this.ms > 0) Atomics.wait(this.cell, 0, 0, this.ms);
    return texts.map((t) => {
      const v = new Float32Array(16);
      v[t.length % 16] = 1;
      return v;
    });
  }
}

let world: World;
let ctx: PipelineContext | null = null;

beforeEach(async () => {
  // Pages of 10 records, embeddings requests of 10 chunks one at a time (an embedder that blocks holds the
  // thread for every request in flight); a lease that lapses after 1 s unless renewed.
  world = await makeWorld({
    env: { BATCH_MAX_RECORDS: '10', EMBED_BATCH_SIZE: '10', EMBED_CONCURRENCY: '1', LEASE_TTL_MS: '1000' },
  });
});
afterEach(async () => {
  await ctx?.close();
  ctx = null;
  await world.close();
});

function addNotes(n: number): void {
  const ins = world.crm.prepare(
    "INSERT INTO notes (subject_table, subject_id, author, body) VALUES ('organizations', 1, 'Ann', ?)",
  );
  world.crm.transaction(() => {
    for (let i = 0; i < n; i++) ins.run(`Backlog note ${i} about tidal energy`);
  })();
}

describe('a long backlog on synchronous encoders', () => {
  it('keeps the lease across pages, lets the event loop turn between them, and acks everything', async () => {
    addNotes(150);
    ctx = await openPipeline(world.config, { dense: new BlockingEmbedder(120) });
    ensureConsumer(ctx.db, INDEX_CONSUMER);
    const lease = new Lease(ctx.db, INDEX_CONSUMER, makeOwner('test'), 1000);
    await lease.acquire(1000);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    try {
      // 15 pages of at least 120 ms: the lease would lapse mid-way without renewals (the ack then throws).
      const r = await drainUntilEmpty(ctx, { consumer: INDEX_CONSUMER, lease });
      expect(r.counts.added).toBeGreaterThanOrEqual(150);
      // Timers ran while the drain went on (each embeddings request blocks for 120 ms, so 10 ms ticks can
      // only come between).
      expect(ticks).toBeGreaterThanOrEqual(10);
      expect(backlog(ctx.db, INDEX_CONSUMER)).toBe(0);
    } finally {
      clearInterval(timer);
      lease.release();
    }
  });

  it('a rebuild can be interrupted by a signal that a timer fires, and the serving index stays as it was', async () => {
    addNotes(300);
    const dense = new BlockingEmbedder(0);
    await runRefresh(world.config, { waitMs: 2000, sweep: false, overrides: { dense } });
    const count = async (): Promise<number> => {
      const c = await openPipeline(world.config, { dense });
      try {
        return await c.store.count();
      } finally {
        await c.close();
      }
    };
    const before = await count();
    expect(before).toBeGreaterThanOrEqual(312);
    // 31 pages of 10 records at 120 ms or more each: the timer fires between pages, not after the scan.
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 400);
    const started = Date.now();
    await expect(
      runRebuild(world.config, {
        waitMs: 2000,
        resolve: false,
        signal: ac.signal,
        overrides: { dense: new BlockingEmbedder(120) },
      }),
    ).rejects.toThrow(/interrupted/);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await count()).toBe(before);
  });

  it('follow hands the cursor to a one-shot run within a page of a long backlog, then carries on', async () => {
    // The seed rows first (their first page also holds every record the entity pass queues).
    await runRefresh(world.config, {
      waitMs: 2000,
      sweep: false,
      overrides: { dense: new BlockingEmbedder(0) },
    });
    addNotes(300);
    ctx = await openPipeline(world.config, { dense: new BlockingEmbedder(120) });
    const follow = await startFollow(ctx, { waitForLeaseMs: 5000 });
    const paused: number[] = [];
    ctx.events.on('lease:paused', () => paused.push(backlog(ctx!.db, INDEX_CONSUMER)));
    try {
      // Follow is now working through 30 pages of 120 ms or more; a refresh asks for the cursor.
      await new Promise((r) => setTimeout(r, 300));
      const refresh = await runRefresh(world.config, {
        waitMs: 2000,
        sweep: false,
        overrides: { dense: new BlockingEmbedder(0) },
      });
      // Follow paused with most of the backlog left, and the refresh drained it.
      expect(paused.length).toBe(1);
      expect(paused[0]).toBeGreaterThan(100);
      expect(refresh.counts.added).toBeGreaterThan(100);
      await waitFor('follow resumed', () => !follow.state().paused);
      expect(backlog(ctx.db, INDEX_CONSUMER)).toBe(0);
    } finally {
      await follow.stop();
    }
  });
});
