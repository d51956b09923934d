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
import { addCounts, emptyCounts, indexRecords, type BatchCounts, type PreparedBatch } from './indexer.js';
import type { Lease } from './lease.js';
import { parseRecordKey, recordKey } from '../crm/sourceMap.js';
import type { VectorStore } from '../stores/types.js';
import { sleep, turn } from './signals.js';

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
 * Index `keys` into `store`, retrying transient failures with capped
 * exponential backoff until it works or `signal` aborts (then returns null:
 * nothing acked, the page is replayed later).
 */
export async function indexWithRetry(
  ctx: PipelineContext,
  store: VectorStore,
  keys: string[],
  signal?: AbortSignal,
  /** The first attempt's prepare step, already started (rebuild); retries prepare afresh. */
  prepared?: PreparedBatch,
  /**
   * Renewed between batches of BATCH_MAX_RECORDS keys, with a turn of the
   * event loop: one page can hold many more keys than that (an organization
   * renamed re-renders all its people, deals and notes), and on synchronous
   * encoders it could otherwise outlast the lease.
   */
  lease?: Lease,
  /** Give up between retries (null: nothing acked) when another process asks for the lease. */
  yieldWhenWanted = false,
): Promise<{
  counts: BatchCounts;
  failures: import('./failures.js').RecordFailure[];
  done: string[];
} | null> {
  const { config } = ctx;
  let attempt = 0;
  const firstFailure = Date.now();
  for (;;) {
    if (signal?.aborted) return null;
    try {
      let counts = emptyCounts();
      const failures = [];
      const done: string[] = [];
      const first = attempt === 0 && prepared && keys.length <= config.batchMaxRecords ? prepared : undefined;
      for (let i = 0; i < keys.length; i += config.batchMaxRecords) {
        if (i > 0 && lease) {
          lease.renew();
          await turn();
        }
        const r = await indexRecords(ctx.deps, store, keys.slice(i, i + config.batchMaxRecords), first);
        counts = addCounts(counts, r.counts);
        failures.push(...r.failures);
        done.push(...r.done);
      }
      return { counts, failures, done };
    } catch (err) {
      const e = isSqliteError(err) ? classifySqliteError(err, 'indexing') : err;
      // A one-shot run reports a non-transient failure (unwritable index, bad settings) at once, and gives up
      // on a transient one after ONE_SHOT_GIVE_UP_MS; the daemon keeps retrying and reports through /healthz.
      if (ctx.oneShot && (!(e instanceof TransientError) || Date.now() - firstFailure > ONE_SHOT_GIVE_UP_MS))
        throw e;
      attempt++;
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
      // A one-shot run (refresh, rebuild: the documented recovery) asked for the cursor: hand it over
      // now rather than after this batch finally works. The page is read again afterwards.
      if (yieldWhenWanted && lease && safeWantedBy(lease)) return null;
    }
  }
}

/**
 * One page: returns the number of changelog rows + retries handled (0 when the
 * changelog is drained), or null when aborted before the ack.
 */
export async function drainPage(
  ctx: PipelineContext,
  opts: DrainOptions,
): Promise<{ handled: number; counts: BatchCounts; seq: number } | null> {
  const { db, config } = ctx;
  const store = opts.store ?? ctx.store;
  // Entity ids first, so the records rendered below carry current ones.
  ctx.entities.sync();
  const cursor = opts.virtualCursor?.seq ?? getCursor(db, opts.consumer);
  const rows = readChanges(db, cursor, config.batchMaxRecords);
  const retries = dueRetries(db, config.batchMaxRecords);
  if (rows.length === 0 && retries.length === 0) {
    // An emptied or re-created changelog numbers new changes below the cursor, where no read finds them.
    const repair = opts.virtualCursor || maxSeq(db) >= cursor ? null : restoreHighWater(db);
    if (repair) {
      ctx.deps.log.error(
        { ...repair },
        `the changelog restarted below the cursor (max seq ${repair.previousMax}, cursor ${repair.cursor}): it was emptied or re-created. Moved ${repair.moved} change(s) above the cursor; a sweep repairs what was removed.`,
      );
      ctx.events.emit('changelog:reset', repair);
      if (repair.moved > 0) return { handled: repair.moved, counts: emptyCounts(), seq: cursor };
    }
    return { handled: 0, counts: emptyCounts(), seq: cursor };
  }
  const oldestChangeAt = rows.length > 0 ? rows[0]!.at : null;
  const started = performance.now();
  const keys = expand(ctx, [...new Set([...coalesce(ctx, rows), ...retries])]);
  // Records of a table the live schema no longer fits are held back, not indexed with less text.
  const blockedTables = ctx.schema.problems();
  const blocked = blockedTables.size === 0 ? [] : keys.filter((k) => blockedTables.has(tableOf(k)));
  const ready = blocked.length === 0 ? keys : keys.filter((k) => !blockedTables.has(tableOf(k)));
  const result = await indexWithRetry(
    ctx,
    store,
    ready,
    opts.signal,
    undefined,
    opts.lease,
    opts.yieldWhenWanted,
  );
  if (!result) return null;
  const lastSeq = rows.length > 0 ? rows[rows.length - 1]!.seq : cursor;
  let dead: string[] = [];
  db.transaction(() => {
    dead = recordFailures(db, result.failures, config.deadLetterAttempts);
    clearRetries(db, result.done);
    for (const [table, err] of blockedTables) {
      const held = blocked.filter((k) => tableOf(k) === table);
      if (held.length > 0) parkBlocked(db, held, err.message);
    }
    if (lastSeq > cursor && !opts.virtualCursor) advanceCursor(db, opts.consumer, lastSeq, opts.lease.owner);
  })();
  if (opts.virtualCursor) opts.virtualCursor.seq = lastSeq;
  if (blocked.length > 0)
    ctx.deps.log.error(
      { records: blocked.length, tables: [...blockedTables.keys()] },
      `held back ${blocked.length} record(s) whose table does not fit the source map: ${[...blockedTables.values()].map((e) => e.message).join(' ')}`,
    );
  for (const f of result.failures) {
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
    records: keys.length,
    counts: result.counts,
    seq: lastSeq,
    ms: performance.now() - started,
    oldestChangeAt,
  });
  return { handled: rows.length + retries.length, counts: result.counts, seq: lastSeq };
}

/** Drain until the changelog has nothing after the cursor (and no retry is due). */
export async function drainUntilEmpty(
  ctx: PipelineContext,
  opts: DrainOptions,
): Promise<{ counts: BatchCounts; seq: number; aborted: boolean }> {
  let counts = emptyCounts();
  let seq = opts.virtualCursor?.seq ?? getCursor(ctx.db, opts.consumer);
  for (;;) {
    if (opts.signal?.aborted) return { counts, seq, aborted: true };
    const page = await drainPage(ctx, opts);
    if (!page) return { counts, seq, aborted: true };
    counts = addCounts(counts, page.counts);
    seq = page.seq;
    if (page.handled === 0) {
      ctx.events.emit('drain:idle', { seq });
      return { counts, seq, aborted: false };
    }
    // A backlog can take minutes: keep the lease (the next ack needs it) and let the event loop turn.
    opts.lease.renew();
    await turn();
    if (opts.yieldWhenWanted && opts.lease.wantedByOther()) return { counts, seq, aborted: false };
  }
}

/** Seconds since the oldest change still waiting, or 0 when caught up. */
export function lagSeconds(ctx: PipelineContext, consumer: string): number {
  const at = oldestPendingAt(ctx.db, consumer);
  return at === null ? 0 : Math.max(0, (Date.now() - at) / 1000);
}
