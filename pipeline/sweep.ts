/**
 * The safety sweep (invariant 6): the source is the truth. Compare every
 * source record's fingerprint with what the store itself holds, in both
 * directions; re-index what is missing or different, delete orphans, and
 * re-install triggers a CRM migration dropped. Runs under the cursor lease,
 * so it never races the stream over one record (invariant 2).
 */
import { installCapture, verifyCapture } from '../triggers/install.js';
import { parseRecordKey, recordTables } from '../crm/sourceMap.js';
import type { PipelineContext } from './context.js';
import { indexWithRetry } from './drain.js';
import type { SweepReport } from './events.js';
import { clearRetries, recordFailures, setState } from './failures.js';
import { fingerprintKeys, type Preparer } from './indexer.js';
import { createPreparePool, sweepWorkerCount, type FingerprintResult } from './preparePool.js';
import type { VectorStore } from '../stores/types.js';
import type { Lease } from './lease.js';
import { turn } from './signals.js';

/**
 * Keys per render page: big enough to amortise a read transaction, small
 * enough to keep it short, and to give the event loop a turn every 0.1-0.2 s
 * (with 2,000 keys follow's event loop went up to 0.45 s without one).
 */
const SWEEP_PAGE = 1000;
/**
 * Pages a sweep keeps queued at its workers: two, so a worker that finishes
 * one starts the next while the main thread is still rendering its own.
 */
const SWEEP_PAGES_AHEAD = 2;
/**
 * Records from which the sweep starts a worker of its own when the pipeline
 * has none. Measured on 2 cores (refresh with an empty changelog, three
 * rounds each): 20k records took 1.06x the main thread's time with the
 * worker, 50k 0.88-1.0x, 100k 0.79x; the worker costs about 60 MB of RSS
 * and some 0.3 s to start.
 */
const SWEEP_POOL_MIN_RECORDS = 50_000;

/**
 * Workers for the sweep's renders: the pipeline's own, else (on two cores,
 * where the pipeline keeps the prepare step on the main thread) a temporary
 * pool for this sweep when the index holds enough records to pay for it.
 */
function sweepPool(
  ctx: PipelineContext,
  records: number,
): { pool: Preparer; close?: () => Promise<void> } | null {
  if (ctx.deps.preparer) return { pool: ctx.deps.preparer };
  if (records < SWEEP_POOL_MIN_RECORDS) return null;
  const pool = createPreparePool(
    ctx.config,
    ctx.deps.chunk,
    ctx.dense.modelId,
    ctx.deps.log,
    sweepWorkerCount(ctx.config.prepareWorkers),
  );
  return pool ? { pool, close: () => pool.close() } : null;
}

export interface SweepOptions {
  signal?: AbortSignal;
  store?: VectorStore;
  /** Renewed after every page (a 100k sweep takes seconds; the lease lives LEASE_TTL_MS). */
  lease?: Lease;
  /**
   * Called between pages, after the event loop has had a turn: follow drains
   * the changes that arrived meanwhile, so a live edit does not wait for the
   * whole sweep. Returns whether it wrote anything (the sweep then checks its
   * findings against the store again before it repairs).
   */
  between?: () => Promise<boolean>;
  /** Keys per page (tests make it small). */
  pageSize?: number;
}

export async function sweep(ctx: PipelineContext, opts: SweepOptions = {}): Promise<SweepReport> {
  const started = performance.now();
  const store = opts.store ?? ctx.store;
  const report: SweepReport = {
    at: new Date().toISOString(),
    ms: 0,
    checked: 0,
    stored: 0,
    missing: 0,
    stale: 0,
    orphans: 0,
    failed: 0,
    triggersRepaired: [],
  };

  // A table the live schema no longer fits is left as it is in the index: re-rendering it would
  // drop text, and its stored records are not orphans. Health reports it (SchemaGuard).
  const blockedTables = ctx.schema.problems();
  const verify = verifyCapture(ctx.db, ctx.map);
  if (!verify.ok && blockedTables.size === 0) {
    installCapture(ctx.db, ctx.map);
    report.triggersRepaired = [...verify.missing, ...verify.stale];
    ctx.deps.log.warn(
      { missing: verify.missing, stale: verify.stale },
      'sweep re-installed capture triggers that were missing or stale',
    );
  }

  const stored = new Map<string, string>();
  for await (const page of store.scrollRecordStates()) {
    for (const s of page) stored.set(s.recordKey, s.fingerprint);
    // Reading 100k states took about a second: let the event loop turn between pages.
    await turn();
  }
  report.stored = stored.size;

  // Records to re-index: those that failed to render, and the missing and stale ones with the
  // fingerprint each rendered to and the one the store held (for the re-check after drains).
  const failed: string[] = [];
  const differ = new Map<string, { fingerprint: string; have: string | undefined }>();
  const apply = (r: FingerprintResult): void => {
    report.checked += r.keys.length + r.gone.length + r.failed.length;
    for (const key of r.gone) stored.delete(key);
    // A record that fails to render is no orphan: its repair records the failure (dead letters).
    for (const key of r.failed) {
      stored.delete(key);
      failed.push(key);
    }
    for (let i = 0; i < r.keys.length; i++) {
      const key = r.keys[i]!;
      const have = stored.get(key);
      stored.delete(key);
      if (have === undefined) {
        report.missing++;
        differ.set(key, { fingerprint: r.fingerprints[i]!, have });
      } else if (have !== r.fingerprints[i]) {
        report.stale++;
        differ.set(key, { fingerprint: r.fingerprints[i]!, have });
      }
    }
  };

  // Pages go to the workers (up to SWEEP_PAGES_AHEAD queued) and the rest to the main thread (see
  // sweepPool); a worker's page is applied as soon as it is back, and one that fails is redone inline.
  const pool = sweepPool(ctx, stored.size);
  const entities = ctx.deps.entityIds !== undefined && (ctx.deps.entitiesActive?.() ?? true);
  const inflight = new Set<Promise<void>>();
  let drained = false;
  try {
    scan: for (const t of recordTables(ctx.map)) {
      if (blockedTables.has(t.table)) continue;
      for (const keys of ctx.renderer.scanKeys(t.table, opts.pageSize ?? SWEEP_PAGE)) {
        if (opts.signal?.aborted) break scan;
        const job = inflight.size < SWEEP_PAGES_AHEAD ? pool?.pool.fingerprints(keys, entities) : null;
        if (job) {
          const done: Promise<void> = job
            .then(apply, () => apply(fingerprintKeys(ctx.deps, keys)))
            .finally(() => inflight.delete(done));
          // Awaited below; a rejection before then must not count as unhandled.
          done.catch(() => undefined);
          inflight.add(done);
          continue;
        }
        apply(fingerprintKeys(ctx.deps, keys));
        // A turn of the event loop between pages: the workers' replies come in (they apply themselves),
        // and the process answers its health checks and renews its lease while a long sweep runs.
        await turn();
        opts.lease?.renew();
        if (opts.between && (await opts.between())) drained = true;
      }
    }
    await Promise.all(inflight);
  } finally {
    // After a failure too: no page may still be rendering when the pool closes or the caller retries.
    await Promise.allSettled(inflight);
    await pool?.close?.();
  }
  if (opts.signal?.aborted) {
    // Unchecked records are still in `stored`: they are not orphans. The next sweep does it all.
    report.aborted = true;
    report.ms = Math.round(performance.now() - started);
    return report;
  }
  // What is left in `stored` has no source record: orphans.
  let orphans = [...stored.keys()].filter((k) => !blockedTables.has(parseRecordKey(k).table));
  if (drained) {
    // Changes drained during the sweep may already have done part of the work: count and repair only
    // what still differs. (Repairing the rest would be harmless, since indexRecords compares again,
    // but the report would claim drift that was not there.)
    // One read for both: what the sweep found differing, and the orphans.
    const now = await store.getRecordStates([...differ.keys(), ...orphans]);
    for (const [key, d] of differ) {
      // Written since the sweep read the store (by a drain, with the record's state at that moment),
      // or now what the sweep rendered: no drift to repair.
      const fp = now.get(key)?.fingerprint;
      if (fp === d.have && fp !== d.fingerprint) continue;
      differ.delete(key);
      if (d.have === undefined) report.missing--;
      else report.stale--;
    }
    orphans = orphans.filter((k) => now.has(k));
  }
  const repair = [...failed, ...differ.keys()];
  report.orphans = orphans.length;
  if (orphans.length > 0) await store.deleteRecords(orphans);
  if (repair.length > 0) {
    const r = await indexWithRetry(ctx, store, repair, opts.signal, undefined, opts.lease);
    if (r) {
      report.failed = r.failures.length;
      ctx.db.transaction(() => {
        recordFailures(ctx.db, r.failures, ctx.config.deadLetterAttempts);
        // Repaired records leave the retry queue and the dead letters.
        clearRetries(ctx.db, r.done);
      })();
    }
  }
  report.ms = Math.round(performance.now() - started);
  setState(ctx.db, 'last_sweep', report);
  ctx.events.emit('sweep:done', report);
  return report;
}
