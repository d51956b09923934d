/**
 * Draining the changelog: read a page after the cursor, coalesce it per
 * record, add due retries and dependents (fan-out), index, then ack — park
 * failures and advance the cursor in ONE transaction, and only after the
 * store confirmed its writes (invariant 3). A transient failure retries the
 * same page with backoff and never acks (invariant 1). Pages are processed
 * strictly one after another, so writes for one record land in the order
 * their source reads happened (invariant 2).
 */
import { EmbedderFaultError, errorMessage, TransientError } from '../config/errors.js';
import { classifySqliteError } from '../crm/db.js';
import { isSqliteError } from '../config/sqliteErrors.js';
import {
  advanceCursor,
  getCursor,
  maxSeq,
  oldestPendingAt,
  restoreHighWater,
  readChanges,
  type ChangeRow,
} from '../triggers/changelog.js';
import type { PipelineContext } from './context.js';
import { clearRetries, dueRetries, parkBlocked, recordFailures } from './failures.js';
import { addCounts, emptyCounts, type BatchCounts } from '../pipeline/prepare.js';
import { runStages, type Page, type RetryPolicy, type Source, type Written } from '../pipeline/stream.js';
import { lastValueFrom } from 'rxjs';
import type { Lease } from './lease.js';
import { parseRecordKey, recordKey } from '../crm/sourceMap.js';
import type { VectorStore } from '../stores/types.js';
import { sleep } from '../pipeline/signals.js';

export interface DrainOptions {
  consumer: string;
  lease: Lease;
  signal?: AbortSignal;
  /** Where writes go (rebuild replays into a new generation). Default: ctx.store. */
  store?: VectorStore;
  /**
   * Read and ack against this in-memory cursor instead of the stored one
   * (rebuild's replay: the stored cursor must not move until the switch).
   */
  virtualCursor?: { seq: number };
  /**
   * Return between pages when another process asks for the lease (follow
   * hands it over within a page instead of after the whole backlog).
   */
  yieldWhenWanted?: boolean;
}

/** How long a one-shot run (refresh, rebuild) keeps retrying a transient failure before it reports it. */
const ONE_SHOT_GIVE_UP_MS = 10 * 60_000;

const tableOf = (key: string): string => parseRecordKey(key).table;

/** Who wants the lease, or null; a database too busy to say counts as nobody (the next retry asks again). */
function safeWantedBy(lease: Lease): string | null {
  try {
    return lease.wantedByOther();
  } catch {
    return null;
  }
}

/** Distinct record keys of a page, in first-seen order; rows for tables that are not record tables are dropped. */
export function coalesce(ctx: PipelineContext, rows: ChangeRow[]): string[] {
  const seen = new Set<string>();
  for (const r of rows) {
    if (!ctx.renderer.isRecordTable(r.table)) continue;
    seen.add(recordKey(r.table, r.pk));
  }
  return [...seen];
}

/** The keys plus every record that shows one of them (one short read transaction). */
export function expand(ctx: PipelineContext, keys: string[]): string[] {
  const out = new Set(keys);
  ctx.db.transaction(() => {
    for (const k of keys) for (const d of ctx.renderer.dependents(k)) out.add(d);
  })();
  return [...out];
}

/**
 * The retry policy of every run: transient failures are retried with capped
 * exponential backoff until they pass or `signal` aborts (then the stream
 * stops: nothing acked, the page is read again later). A one-shot run
 * reports a non-transient failure at once and a transient one after
 * ONE_SHOT_GIVE_UP_MS; the daemon keeps retrying and reports through
 * /healthz. With `yieldWhenWanted` the stream stops between retries when
 * another process asks for the lease.
 */
export function retryPolicy(
  ctx: PipelineContext,
  signal?: AbortSignal,
  lease?: Lease,
  yieldWhenWanted = false,
): RetryPolicy {
  const { config } = ctx;
  let firstFailure = 0;
  return async (err, attempt) => {
    if (attempt === 1) firstFailure = Date.now();
    if (signal?.aborted) return false;
    const e = isSqliteError(err) ? classifySqliteError(err, 'indexing') : err;
    if (ctx.oneShot && (!(e instanceof TransientError) || Date.now() - firstFailure > ONE_SHOT_GIVE_UP_MS))
      throw e;
    const retryAfter = e instanceof TransientError ? (e.retryAfterMs ?? 0) : 0;
    const delayMs = Math.max(
      retryAfter,
      Math.min(config.retryMaxMs, config.retryBaseMs * 2 ** (attempt - 1)),
    );
    ctx.deps.log.warn(
      { attempt, delayMs, err: errorMessage(e) },
      `batch failed, retrying in ${delayMs} ms: ${errorMessage(e)}`,
    );
    ctx.events.emit('batch:retry', { attempt, delayMs, error: errorMessage(e) });
    if (e instanceof EmbedderFaultError) ctx.events.emit('embedder:fault', { error: errorMessage(e) });
    await sleep(delayMs, signal);
    if (signal?.aborted) return false;
    // A one-shot run (refresh, rebuild: the documented recovery) asked for the cursor: hand it over
    // now rather than after this batch finally works. The page is read again afterwards.
    if (yieldWhenWanted && lease && safeWantedBy(lease)) return false;
    return true;
  };
}

/** What the changelog tail carries with a page to its ack. */
interface TailPage {
  cursor: number;
  lastSeq: number;
  handled: number;
  oldestChangeAt: number | null;
  started: number;
  records: number;
  blocked: string[];
  blockedTables: ReadonlyMap<string, Error>;
}

/**
 * The next page after the cursor: changelog rows coalesced per record, plus
 * due retries, plus dependents; null when nothing is left. Records of a
 * table the live schema no longer fits are held back, parked at the ack.
 */
function readTailPage(ctx: PipelineContext, opts: DrainOptions): Page<TailPage> | null {
  const { db, config } = ctx;
  for (;;) {
    // Entity ids first, so the records rendered below carry current ones.
    ctx.entities.sync();
    const cursor = opts.virtualCursor?.seq ?? getCursor(db, opts.consumer);
    const rows = readChanges(db, cursor, config.batchMaxRecords);
    const retries = dueRetries(db, config.batchMaxRecords);
    if (rows.length === 0 && retries.length === 0) {
      // An emptied or re-created changelog numbers new changes below the cursor, where no read finds them.
      const repair = opts.virtualCursor || maxSeq(db) >= cursor ? null : restoreHighWater(db);
      if (!repair) return null;
      ctx.deps.log.error(
        { ...repair },
        `the changelog restarted below the cursor (max seq ${repair.previousMax}, cursor ${repair.cursor}): it was emptied or re-created. Moved ${repair.moved} change(s) above the cursor; a sweep repairs what was removed.`,
      );
      ctx.events.emit('changelog:reset', repair);
      if (repair.moved === 0) return null;
      continue;
    }
    const started = performance.now();
    const keys = expand(ctx, [...new Set([...coalesce(ctx, rows), ...retries])]);
    const blockedTables = ctx.schema.problems();
    const blocked = blockedTables.size === 0 ? [] : keys.filter((k) => blockedTables.has(tableOf(k)));
    const ready = blocked.length === 0 ? keys : keys.filter((k) => !blockedTables.has(tableOf(k)));
    return {
      keys: ready,
      meta: {
        cursor,
        lastSeq: rows.length > 0 ? rows[rows.length - 1]!.seq : cursor,
        handled: rows.length + retries.length,
        oldestChangeAt: rows.length > 0 ? rows[0]!.at : null,
        started,
        records: keys.length,
        blocked,
        blockedTables,
      },
    };
  }
}

/** Park the page's failures and held-back records and advance the cursor, in one transaction. */
function ackTailPage(ctx: PipelineContext, opts: DrainOptions, w: Written<TailPage>): void {
  const { db, config } = ctx;
  const m = w.page.meta;
  let dead: string[] = [];
  db.transaction(() => {
    dead = recordFailures(db, w.failures, config.deadLetterAttempts);
    clearRetries(db, w.done);
    for (const [table, err] of m.blockedTables) {
      const held = m.blocked.filter((k) => tableOf(k) === table);
      if (held.length > 0) parkBlocked(db, held, err.message);
    }
    if (m.lastSeq > m.cursor && !opts.virtualCursor)
      advanceCursor(db, opts.consumer, m.lastSeq, opts.lease.owner);
  })();
  if (opts.virtualCursor) opts.virtualCursor.seq = m.lastSeq;
  if (m.blocked.length > 0)
    ctx.deps.log.error(
      { records: m.blocked.length, tables: [...m.blockedTables.keys()] },
      `held back ${m.blocked.length} record(s) whose table does not fit the source map: ${[...m.blockedTables.values()].map((e) => e.message).join(' ')}`,
    );
  for (const f of w.failures) {
    if (dead.includes(f.recordKey)) {
      ctx.deps.log.error(
        { record: f.recordKey, step: f.step },
        `record ${f.recordKey} moved to dead letters after ${config.deadLetterAttempts} attempts: ${f.error}`,
      );
      ctx.events.emit('record:dead', f);
    } else {
      ctx.deps.log.warn(
        { record: f.recordKey, step: f.step },
        `record ${f.recordKey} failed at ${f.step}, will retry: ${f.error}`,
      );
    }
  }
  ctx.events.emit('batch:written', {
    records: m.records,
    counts: w.counts,
    seq: m.lastSeq,
    ms: performance.now() - m.started,
    oldestChangeAt: m.oldestChangeAt,
  });
}

/**
 * Drain until the changelog has nothing after the cursor (and no retry is
 * due): the changelog tail as a source of the stream, one page at a time
 * (pages can repeat a record, so the next is read only after this one is
 * acked). `aborted`: stopped by the signal or a hand-over between retries,
 * with the page not acked.
 */
export async function drainUntilEmpty(
  ctx: PipelineContext,
  opts: DrainOptions,
): Promise<{ counts: BatchCounts; seq: number; aborted: boolean }> {
  let counts = emptyCounts();
  let seq = opts.virtualCursor?.seq ?? getCursor(ctx.db, opts.consumer);
  let idle = false;
  let yielded = false;
  let acked = 0;
  let renewedAt = Date.now();
  const source: Source<TailPage> = {
    signal: opts.signal,
    // One page can hold many more records than BATCH_MAX_RECORDS (an organization renamed re-renders all
    // its people, deals and notes) and outlast the lease: renew it while the page is prepared.
    tick: () => {
      if (Date.now() - renewedAt < opts.lease.ttlMs / 4) return;
      renewedAt = Date.now();
      opts.lease.renew();
    },
    next: () => {
      if (opts.signal?.aborted) return null;
      if (acked > 0) {
        // A backlog can take minutes: keep the lease (the next ack needs it), and hand it over between pages.
        opts.lease.renew();
        renewedAt = Date.now();
        if (opts.yieldWhenWanted && opts.lease.wantedByOther()) {
          yielded = true;
          return null;
        }
      }
      const page = readTailPage(ctx, opts);
      if (!page) idle = true;
      return page;
    },
    ack: (w) => {
      ackTailPage(ctx, opts, w);
      counts = addCounts(counts, w.counts);
      seq = w.page.meta.lastSeq;
      acked++;
    },
  };
  const store = opts.store ?? ctx.store;
  await lastValueFrom(
    runStages(ctx.deps, store, source, retryPolicy(ctx, opts.signal, opts.lease, opts.yieldWhenWanted)),
    { defaultValue: null },
  );
  if (idle) {
    ctx.events.emit('drain:idle', { seq });
    return { counts, seq, aborted: false };
  }
  return { counts, seq, aborted: !yielded };
}

/** Seconds since the oldest change still waiting, or 0 when caught up. */
export function lagSeconds(ctx: PipelineContext, consumer: string): number {
  const at = oldestPendingAt(ctx.db, consumer);
  return at === null ? 0 : Math.max(0, (Date.now() - at) / 1000);
}
