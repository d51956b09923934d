/**
 * The safety sweep (invariant 6): the source is the truth. Compare every
 * source record's fingerprint with what the store itself holds, in both
 * directions; re-index what is missing or different, delete orphans, and
 * re-install triggers a CRM migration dropped. Runs under the cursor lease,
 * so it never races the stream over one record (invariant 2).
 */
import { installCapture, verifyCapture } from '../triggers/install.js';
import { recordTables } from '../crm/sourceMap.js';
import type { PipelineContext } from './context.js';
import { indexWithRetry } from './drain.js';
import type { SweepReport } from './events.js';
import { recordFailures, setState } from './failures.js';
import { describeDoc, renderBatch } from './indexer.js';
import type { VectorStore } from '../stores/types.js';

/** Keys per render page: big enough to amortise a read transaction, small enough to keep it short. */
const SWEEP_PAGE = 2000;

export async function sweep(
  ctx: PipelineContext,
  opts: { signal?: AbortSignal; store?: VectorStore } = {},
): Promise<SweepReport> {
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

  const verify = verifyCapture(ctx.db, ctx.map);
  if (!verify.ok) {
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
  }
  report.stored = stored.size;

  const repair: string[] = [];
  for (const t of recordTables(ctx.map)) {
    for (const keys of ctx.renderer.scanKeys(t.table, SWEEP_PAGE)) {
      if (opts.signal?.aborted) break;
      const { docs, entityIds } = renderBatch(ctx.deps, keys);
      for (const [key, doc] of docs) {
        report.checked++;
        const have = stored.get(key);
        stored.delete(key);
        if (!doc) continue;
        if (have === undefined) {
          report.missing++;
          repair.push(key);
          continue;
        }
        if (have !== describeDoc(ctx.deps, doc, entityIds.get(key) ?? []).fingerprint) {
          report.stale++;
          repair.push(key);
        }
      }
    }
  }
  // What is left in `stored` has no source record: orphans.
  const orphans = [...stored.keys()];
  report.orphans = orphans.length;
  if (orphans.length > 0) await store.deleteRecords(orphans);
  if (repair.length > 0) {
    const r = await indexWithRetry(ctx, store, repair, opts.signal);
    if (r && r.failures.length > 0) {
      report.failed = r.failures.length;
      ctx.db.transaction(() => recordFailures(ctx.db, r.failures, ctx.config.deadLetterAttempts))();
    }
  }
  report.ms = Math.round(performance.now() - started);
  setState(ctx.db, 'last_sweep', report);
  ctx.events.emit('sweep:done', report);
  return report;
}
