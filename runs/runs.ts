/**
 * The one-shot runs behind `crm-index refresh` and `crm-index rebuild`. Both
 * take the cursor lease first (follow hands it over and pauses), so a run
 * started by an operator never fights the daemon (invariant 7).
 */
import type { Config } from '../config/index.js';
import { sqliteStep } from '../crm/db.js';
import { errorMessage } from '../config/errors.js';
import { ensureConsumer, pruneChangelog } from '../triggers/changelog.js';
import { installCapture, verifyCapture } from '../triggers/install.js';
import { INDEX_CONSUMER, openPipeline, type OpenOverrides, type PipelineContext } from './context.js';
import { drainUntilEmpty } from './drain.js';
import type { SweepReport } from './events.js';
import type { BatchCounts } from '../pipeline/prepare.js';
import { Lease, makeOwner } from './lease.js';
import { rebuild, type RebuildResult } from './rebuild.js';
import { sweep } from './sweep.js';
import { resolveStep } from './resolveStep.js';

export interface RunOptions {
  /** How long to wait for the cursor lease (follow hands it over within a batch). */
  waitMs: number;
  signal?: AbortSignal;
  onContext?: (ctx: PipelineContext) => void;
  overrides?: OpenOverrides;
}

export interface RefreshResult {
  counts: BatchCounts;
  sweep: SweepReport | null;
  seq: number;
  ms: number;
}

async function withLease<T>(
  config: Config,
  role: string,
  opts: RunOptions,
  fn: (ctx: PipelineContext, lease: Lease) => Promise<T>,
): Promise<T> {
  const ctx = await openPipeline(config, opts.overrides);
  ctx.oneShot = true;
  opts.onContext?.(ctx);
  let lease: Lease;
  try {
    lease = sqliteStep(
      'preparing the cursor lease',
      () => new Lease(ctx.db, INDEX_CONSUMER, makeOwner(role), config.leaseTtlMs),
    );
  } catch (err) {
    await ctx.close();
    throw err;
  }
  try {
    // Capture first: a CRM that never had it installed has no changelog or cursors yet.
    const v = verifyCapture(ctx.db, ctx.map);
    if (!v.ok) installCapture(ctx.db, ctx.map);
    ensureConsumer(ctx.db, INDEX_CONSUMER, 'beginning');
    await lease.acquire(opts.waitMs, (holder) =>
      ctx.deps.log.info({ holder }, `asked ${holder} to hand over the index cursor; waiting`),
    );
    const renew = setInterval(
      () => {
        try {
          lease.renew();
        } catch (err) {
          // A CRM holding the write lock: the next tick (or the ack, which needs the lease) tries again.
          ctx.deps.log.warn(
            { err: errorMessage(err) },
            `could not renew the cursor lease: ${errorMessage(err)}`,
          );
        }
      },
      Math.max(250, Math.floor(config.leaseTtlMs / 3)),
    );
    try {
      return await fn(ctx, lease);
    } finally {
      clearInterval(renew);
    }
  } finally {
    try {
      lease.release();
    } catch (err) {
      // It expires after LEASE_TTL_MS; the error that ended the run is the one to report.
      ctx.deps.log.warn(
        { err: errorMessage(err) },
        `could not release the cursor lease: ${errorMessage(err)}`,
      );
    }
    await ctx.close();
  }
}

/** One incremental pass: drain the changelog, then the reconciliation sweep. Never drops anything. */
export function runRefresh(config: Config, opts: RunOptions & { sweep?: boolean }): Promise<RefreshResult> {
  return withLease(config, 'refresh', opts, async (ctx, lease) => {
    const started = performance.now();
    const d = await drainUntilEmpty(ctx, { consumer: INDEX_CONSUMER, lease, signal: opts.signal });
    pruneChangelog(ctx.db, config.pruneBatchSize);
    const s = opts.sweep === false || d.aborted ? null : await sweep(ctx, { signal: opts.signal, lease });
    return { counts: d.counts, sweep: s, seq: d.seq, ms: Math.round(performance.now() - started) };
  });
}

export function runRebuild(config: Config, opts: RunOptions & { resolve?: boolean }): Promise<RebuildResult> {
  return withLease(config, 'rebuild', opts, async (ctx, lease) => {
    // Entity resolution first, as the old "Build search index" did: the new generation gets fresh entity ids.
    if (opts.resolve !== false) await resolveStep(ctx);
    return rebuild(ctx, { consumer: INDEX_CONSUMER, lease, signal: opts.signal });
  });
}
