/**
 * The one-shot runs against a live daemon and against searches: the lease
 * hand-over (refresh while follow runs) and the zero-downtime rebuild.
 */
import { execFile } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runRebuild, runRefresh } from '../../runs/runs.js';
import { createStore } from '../../stores/factory.js';
import { createSearchEngine } from '../../search/engine.js';
import { Bm25Encoder } from '../../encoders/bm25.js';
import { driftPoint, makeWorld, waitFor, worldEnv, type World } from './harness.js';
import { CLI, spawnFollow } from './torture.js';
import { backlog } from '../../triggers/changelog.js';
import { enqueueKeys } from '../../runs/failures.js';
import { openPipeline } from '../../runs/context.js';
import { sweep } from '../../runs/sweep.js';
import { drainUntilEmpty } from '../../runs/drain.js';
import { INDEX_CONSUMER } from '../../runs/context.js';
import { Lease, makeOwner } from '../../runs/lease.js';
import type { ChildProcess } from 'node:child_process';

let world: World;

/** Run the CLI without blocking this process: the embeddings server answering it lives here. */
function runCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, ...env }, encoding: 'utf8' },
      (err, stdout, stderr) => {
        resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}
let child: ChildProcess | null = null;

beforeEach(async () => {
  world = await makeWorld();
});
afterEach(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((r) => child!.once('exit', r));
  }
  child = null;
  await world.close();
});

describe('refresh', () => {
  it('indexes rows that existed before capture (the sweep finds them missing) and is idempotent', async () => {
    const first = await runRefresh(world.config, { waitMs: 5000 });
    // The first entity pass queues every linked record; the sweep finds the rest missing. Together: all 12.
    expect(first.counts.added + (first.sweep?.missing ?? 0)).toBe(12);
    expect(first.sweep?.orphans).toBe(0);
    const second = await runRefresh(world.config, { waitMs: 5000 });
    expect(second.sweep).toMatchObject({ missing: 0, stale: 0, orphans: 0 });
  });

  it('a sweep stopped by a signal deletes nothing it did not check, and says it stopped', async () => {
    await runRefresh(world.config, { waitMs: 5000 });
    const ctx = await openPipeline(world.config);
    try {
      const points = await ctx.store.count();
      expect(points).toBeGreaterThanOrEqual(12);
      const stopped = await sweep(ctx, { signal: AbortSignal.abort() });
      expect(stopped).toMatchObject({ aborted: true, orphans: 0, missing: 0, stale: 0 });
      expect(stopped.checked).toBeLessThan(12);
      expect(await ctx.store.count()).toBe(points);
      // A whole sweep afterwards finds nothing to do.
      const whole = await sweep(ctx);
      expect(whole).toMatchObject({ checked: 12, missing: 0, stale: 0, orphans: 0 });
      expect(whole.aborted).toBeUndefined();
    } finally {
      await ctx.close();
    }
  });

  it('drains live edits between sweep pages, renews its lease, and reports only the drift that is left', async () => {
    await runRefresh(world.config, { waitMs: 5000 });
    const ctx = await openPipeline(world.config);
    const lease = new Lease(ctx.db, INDEX_CONSUMER, makeOwner('test'), 10_000);
    await lease.acquire(1000);
    try {
      // Drift the sweep must find: deal 2's points gone, and note 1 stored with another fingerprint.
      await ctx.store.deleteRecords(['deals:2']);
      const note = (await ctx.store.getRecordStates(['notes:1'])).get('notes:1')!;
      await ctx.store.upsert([driftPoint('notes:1', 'drifted', note.chunkCount)]);
      let calls = 0;
      let renews = 0;
      const renew = lease.renew.bind(lease);
      lease.renew = () => {
        renews++;
        return renew();
      };
      const report = await sweep(ctx, {
        lease,
        pageSize: 2,
        // After the first page (organizations 1-2), a live edit arrives and is drained: a new organization
        // (on a page not scanned yet) and a renamed person. Neither is drift.
        between: async () => {
          if (calls++ > 0) return false;
          world.crm.exec(
            "INSERT INTO organizations (id, name, kind) VALUES (4, 'Delta Mining', 'prospect'); UPDATE people SET full_name = 'Ada Park-Lee' WHERE id = 1",
          );
          const d = await drainUntilEmpty(ctx, { consumer: INDEX_CONSUMER, lease });
          expect(d.counts.added + d.counts.updated).toBeGreaterThanOrEqual(2);
          return true;
        },
      });
      // 13 records in pages of two (organizations 4, people 4, deals 2, interactions 2, notes 1).
      expect(calls).toBe(7);
      // Once per page, and once more by the drain in between.
      expect(renews).toBe(8);
      expect(report).toMatchObject({ checked: 13, missing: 1, stale: 1, orphans: 0, failed: 0 });
      const after = await ctx.store.getRecordStates(['deals:2', 'notes:1', 'organizations:4', 'people:1']);
      expect([...after.keys()].sort()).toEqual(['deals:2', 'notes:1', 'organizations:4', 'people:1']);
      expect(after.get('notes:1')!.fingerprint).not.toBe('drifted');
      // A second sweep finds nothing.
      expect(await sweep(ctx, { lease })).toMatchObject({ missing: 0, stale: 0, orphans: 0 });
    } finally {
      lease.release();
      await ctx.close();
    }
  });

  it('takes the cursor from a running follow, which pauses and then carries on', async () => {
    await runRefresh(world.config, { waitMs: 5000 });
    child = spawnFollow(world);
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += String(d)));
    await waitFor('follow started', () => stderr.includes('/healthz'));
    world.crm
      .prepare(
        "INSERT INTO notes (subject_table, subject_id, author, body) VALUES ('organizations', 1, 'A', 'before refresh')",
      )
      .run();
    const r = await runCli(['refresh', '--json', '--wait', '30'], worldEnv(world.dbPath, world.server.url));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { sweep: { orphans: number } };
    expect(out.sweep.orphans).toBe(0);
    // follow resumes: a later write is indexed.
    world.crm
      .prepare(
        "INSERT INTO notes (id, subject_table, subject_id, author, body) VALUES (99, 'organizations', 1, 'A', 'after refresh wombat')",
      )
      .run();
    await waitFor(
      'follow resumed',
      () =>
        backlog(world.crm, 'index') === 0 &&
        world.crm.prepare('SELECT count(*) FROM _cdc_changelog').pluck().get() !== null,
    );
    const store = await createStore(world.config);
    const { createDenseEmbedder } = await import('../../encoders/factory.js');
    const dense = await createDenseEmbedder(world.config);
    const engine = createSearchEngine({ store, dense, sparse: new Bm25Encoder() });
    await waitFor('note searchable', async () =>
      (await engine.search('wombat', { mode: 'sparse' })).some((h) => h.key === 'notes:99'),
    );
    await store.close();
    await dense.close();
  });

  it('exits with a clear message naming the holder when the cursor is not handed over in time', async () => {
    const { openPipeline } = await import('../../runs/context.js');
    const { Lease, makeOwner } = await import('../../runs/lease.js');
    const { ensureConsumer } = await import('../../triggers/changelog.js');
    const ctx = await openPipeline(world.config);
    ensureConsumer(ctx.db, 'index');
    const stubborn = new Lease(ctx.db, 'index', makeOwner('stubborn'), 60_000);
    expect(stubborn.tryAcquire()).toBe(true);
    const r = await runCli(['refresh', '--wait', '0.3'], worldEnv(world.dbPath, world.server.url));
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/held by stubborn@.*not handed over/);
    stubborn.release();
    await ctx.close();
  });
});

describe('rebuild', () => {
  it('keeps searches answering throughout, and writes made during it are present after the switch', async () => {
    const insert = world.crm.prepare(
      "INSERT INTO notes (subject_table, subject_id, author, body) VALUES ('organizations', 2, 'B', ?)",
    );
    world.crm.transaction(() => {
      for (let i = 0; i < 400; i++) insert.run(`Filler note ${i} about quarterly reporting`);
    })();
    await runRefresh(world.config, { waitMs: 5000 });
    world.server.setAlways({ kind: 'delay', ms: 3 });
    const store = await createStore(world.config);
    const { createDenseEmbedder } = await import('../../encoders/factory.js');
    const dense = await createDenseEmbedder(world.config);
    const engine = createSearchEngine({ store, dense, sparse: new Bm25Encoder() });
    let searching = true;
    let searches = 0;
    let empty = 0;
    const loop = (async () => {
      while (searching) {
        const hits = await engine.search('quarterly reporting', { mode: 'sparse', limit: 5 });
        searches++;
        if (hits.length === 0) empty++;
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    let wrote = false;
    const result = await runRebuild(world.config, {
      waitMs: 5000,
      onContext: (ctx) =>
        ctx.events.on('rebuild:progress', () => {
          if (wrote) return;
          wrote = true;
          world.crm
            .prepare(
              "INSERT INTO notes (id, subject_table, subject_id, author, body) VALUES (999, 'organizations', 2, 'B', 'Mid-rebuild narwhal note')",
            )
            .run();
        }),
    });
    searching = false;
    await loop;
    expect(wrote).toBe(true);
    expect(result.records).toBeGreaterThan(400);
    expect(searches).toBeGreaterThan(5);
    expect(empty).toBe(0);
    const hits = await engine.search('narwhal', { mode: 'sparse' });
    expect(hits.map((h) => h.key)).toContain('notes:999');
    await store.close();
    await dense.close();
  });

  it('does not replay records queued before the scan, and drops them after the switch', async () => {
    await runRefresh(world.config, { waitMs: 5000 });
    const keys = (world.crm.prepare('SELECT id FROM people').pluck().all() as number[]).map(
      (id) => `people:${id}`,
    );
    expect(keys.length).toBeGreaterThan(2);
    enqueueKeys(world.crm, keys, 'test: entity ids changed');
    const r = await runRebuild(world.config, { waitMs: 5000, resolve: false });
    // The full scan indexed them; the replay had nothing to redo.
    expect(r.replayed.unchanged + r.replayed.updated + r.replayed.added).toBe(0);
    expect(world.crm.prepare('SELECT count(*) FROM _index_retry').pluck().get()).toBe(0);
    expect(world.crm.prepare('SELECT count(*) FROM _index_rebuild_hold').pluck().get()).toBe(0);
  });

  it('puts the held records back in the queue when the rebuild fails, and after a crash at the next start', async () => {
    await runRefresh(world.config, { waitMs: 5000 });
    const keys = (world.crm.prepare('SELECT id FROM people').pluck().all() as number[]).map(
      (id) => `people:${id}`,
    );
    enqueueKeys(world.crm, keys, 'test: entity ids changed');
    const abort = new AbortController();
    await expect(
      runRebuild(world.config, {
        waitMs: 5000,
        resolve: false,
        signal: abort.signal,
        onContext: (ctx) => ctx.events.on('rebuild:progress', () => abort.abort()),
      }),
    ).rejects.toThrow(/interrupted/);
    const queued = () =>
      (
        world.crm.prepare('SELECT record_key FROM _index_retry ORDER BY record_key').pluck().all() as string[]
      ).sort();
    expect(queued()).toEqual([...keys].sort());
    expect(world.crm.prepare('SELECT count(*) FROM _index_rebuild_hold').pluck().get()).toBe(0);

    // A rebuild killed between hold and switch leaves them in the hold table: the next run's start requeues them.
    world.crm.exec('INSERT INTO _index_rebuild_hold SELECT * FROM _index_retry; DELETE FROM _index_retry;');
    expect(queued()).toEqual([]);
    const ctx = await openPipeline(world.config);
    await ctx.close();
    expect(queued()).toEqual([...keys].sort());
    expect(world.crm.prepare('SELECT count(*) FROM _index_rebuild_hold').pluck().get()).toBe(0);
  });
});
