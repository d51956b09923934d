/**
 * Full rebuild into a new generation (invariant 8): searches keep answering
 * from the current generation while the new one fills; changes that arrive
 * meanwhile are replayed into it; then one atomic switch. Holds the cursor
 * lease throughout, so follow pauses rather than writing to the old one.
 */
import { getCursor, maxSeq } from '../triggers/changelog.js';
import { recordTables } from '../crm/sourceMap.js';
import type { PipelineContext } from './context.js';
import { drainUntilEmpty, retryPolicy } from './drain.js';
import { clearDeadLettersBefore, dropHeld, holdQueued, recordFailures, restoreHeld } from './failures.js';
import { errorMessage } from '../config/errors.js';
import { addCounts, emptyCounts, type BatchCounts } from '../pipeline/prepare.js';
import { keysSource, runStages, type Page } from '../pipeline/stream.js';
import { lastValueFrom } from 'rxjs';
import type { Lease } from './lease.js';
import { advanceCursor } from '../triggers/changelog.js';

export interface RebuildResult {
  counts: BatchCounts;
  records: number;
  replayed: BatchCounts;
  generation: string;
  ms: number;
}

/**
 * Remove generations a killed or failed rebuild left in the store. Call only while holding the
 * cursor lease. Failure is logged, not thrown: the leftovers cost disk space, not correctness.
 */
export async function dropLeftoverGenerations(ctx: PipelineContext): Promise<void> {
  try {
    const dropped = await ctx.store.dropOrphanGenerations();
    if (dropped.length > 0)
      ctx.deps.log.warn(
        { generations: dropped },
        `removed ${dropped.length} generation(s) an unfinished rebuild left in the index: ${dropped.join(', ')}`,
      );
  } catch (err) {
    ctx.deps.log.error(
      { err: errorMessage(err) },
      `could not remove generations an unfinished rebuild left in the index: ${errorMessage(err)}`,
    );
  }
}

export async function rebuild(
  ctx: PipelineContext,
  opts: { consumer: string; lease: Lease; signal?: AbortSignal },
): Promise<RebuildResult> {
  const started = performance.now();
  const { db } = ctx;
  // Changes up to here are covered by the full scan, which reads rows after this point.
  const startSeq = maxSeq(db);
  const rebuildStartedAt = Date.now();
  // We hold the cursor lease, so no other rebuild is filling a generation: any unserved one is left over.
  await dropLeftoverGenerations(ctx);
  const next = await ctx.store.beginGeneration({ dim: ctx.dense.dim, model: ctx.dense.modelId });
  let counts = emptyCounts();
  let records = 0;
  let held = 0;
  try {
    // Queued records (entity id changes from the resolution step, requeues) are covered by the scan:
    // held back from the replay, dropped after the switch, restored if the rebuild fails.
    held = holdQueued(db);
    const totals = new Map<string, number>();
    for (const t of recordTables(ctx.map)) {
      totals.set(
        t.table,
        db
          .prepare(`SELECT count(*) FROM "${t.table.replace(/"/g, '""')}"`)
          .pluck()
          .get() as number,
      );
    }
    // The full scan as a source of the stream: its keys never repeat and the new generation only grows,
    // so a page is read as soon as the one before is prepared (no page's comparison with the store can
    // be made stale by a write before it).
    const done = new Map<string, number>();
    const scan = function* (): Generator<Page<{ table: string }>> {
      for (const t of recordTables(ctx.map))
        for (const keys of ctx.renderer.scanKeys(t.table, ctx.config.batchMaxRecords))
          yield { keys, meta: { table: t.table } };
    };
    const source = keysSource(
      scan(),
      (w) => {
        if (w.failures.length > 0)
          db.transaction(() => recordFailures(db, w.failures, ctx.config.deadLetterAttempts))();
        counts = addCounts(counts, w.counts);
        const table = w.page.meta.table;
        const d = (done.get(table) ?? 0) + w.page.keys.length;
        done.set(table, d);
        records += w.page.keys.length;
        opts.lease.renew();
        ctx.events.emit('rebuild:progress', { table, done: d, total: totals.get(table) ?? d });
      },
      { overlap: true, signal: opts.signal },
    );
    await lastValueFrom(runStages(ctx.deps, next, source, retryPolicy(ctx, opts.signal)), {
      defaultValue: null,
    });
    if (opts.signal?.aborted) throw new Error('rebuild interrupted');
    // Replay what changed during the scan into the new generation. The stored
    // cursor stays put until the switch: a crash before it must leave the
    // current generation's backlog intact (invariant 1).
    const virtualCursor = { seq: Math.max(startSeq, getCursor(db, opts.consumer)) };
    const replay = await drainUntilEmpty(ctx, {
      consumer: opts.consumer,
      lease: opts.lease,
      store: next,
      signal: opts.signal,
      virtualCursor,
    });
    if (replay.aborted) throw new Error('rebuild interrupted');
    await ctx.store.activateGeneration(next);
    if (held > 0) dropHeld(db);
    // Dead letters from before the scan that did not fail again are indexed in the new generation.
    clearDeadLettersBefore(db, rebuildStartedAt);
    // After the switch: a crash here replays (seq, virtual] into the new generation, which is idempotent.
    if (virtualCursor.seq > getCursor(db, opts.consumer))
      advanceCursor(db, opts.consumer, virtualCursor.seq, opts.lease.owner);
    return {
      counts,
      records,
      replayed: replay.counts,
      generation: next.generation,
      ms: Math.round(performance.now() - started),
    };
  } catch (err) {
    await ctx.store.dropGeneration(next).catch((dropErr: unknown) =>
      // Not silent: on a full disk this is the space the operator needs back.
      ctx.deps.log.error(
        { generation: next.generation, err: errorMessage(dropErr) },
        `could not remove the failed rebuild's generation ${next.generation} (${errorMessage(dropErr)}); it holds disk space until the next rebuild or follow start removes it`,
      ),
    );
    try {
      restoreHeld(db);
    } catch (restoreErr) {
      // Not lost: the next run's start restores them (openPipeline).
      ctx.deps.log.warn(
        { err: errorMessage(restoreErr) },
        `could not requeue the records the rebuild held back; the next run will: ${errorMessage(restoreErr)}`,
      );
    }
    throw err;
  }
}
