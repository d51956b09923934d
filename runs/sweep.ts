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
import { retryPolicy } from './drain.js';
import type { SweepReport } from './events.js';
import { clearRetries, recordFailures, setState } from './failures.js';
import { fingerprintKeys, type FingerprintResult } from '../pipeline/prepare.js';
import { keysSource, pagesOf, runStages } from '../pipeline/stream.js';
import { lastValueFrom } from 'rxjs';
import type { VectorStore } from '../stores/types.js';
import type { Lease } from './lease.js';
import { turn } from '../pipeline/signals.js';

/**
 * Keys per render page: big enough to amortise a read transaction, small
 * enough to keep it short, and to give the event loop a turn every 0.1-0.2 s
 * (with 2,000 keys follow's event loop went up to 0.45 s without one).
 */
const SWEEP_PAGE = 1000;
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

  let drained = false;
  scan: for (const t of recordTables(ctx.map)) {
    if (blockedTables.has(t.table)) continue;
    for (const keys of ctx.renderer.scanKeys(t.table, opts.pageSize ?? SWEEP_PAGE)) {
      if (opts.signal?.aborted) break scan;
      apply(fingerprintKeys(ctx.deps, keys));
      // A turn of the event loop between pages: the process answers its health checks and renews its
      // lease while a long sweep runs.
      await turn();
      opts.lease?.renew();
      if (opts.between && (await opts.between())) drained = true;
    }
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
    // what still differs. (Repairing the rest would be harmless, since the stream compares again,
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
    // The repairs as a source of the stream; each page's failures are recorded at its ack, and the
    // repaired records leave the retry queue and the dead letters.
    let acked = 0;
    const source = keysSource(
      pagesOf(repair, ctx.config.batchMaxRecords),
      (w) => {
        // A long repair keeps the lease between its pages.
        if (acked++ > 0) opts.lease?.renew();
        report.failed += w.failures.length;
        ctx.db.transaction(() => {
          recordFailures(ctx.db, w.failures, ctx.config.deadLetterAttempts);
          clearRetries(ctx.db, w.done);
        })();
      },
      { signal: opts.signal },
    );
    await lastValueFrom(runStages(ctx.deps, store, source, retryPolicy(ctx, opts.signal, opts.lease)), {
      defaultValue: null,
    });
  }
  report.ms = Math.round(performance.now() - started);
  setState(ctx.db, 'last_sweep', report);
  ctx.events.emit('sweep:done', report);
  return report;
}
