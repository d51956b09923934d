/**
 * Reading the changelog: named consumer cursors, their leases, and pruning.
 * These are the primitives the pipeline and entity resolution build on; one
 * SQL statement (or a close group) per function.
 *
 * Invariants kept here:
 * - a cursor never moves backwards (advance takes max(old, new));
 * - one writer per cursor: with an owner, advance only succeeds while that
 *   owner holds an unexpired lease (invariant 7);
 * - reads are single short statements, never a long read transaction, so the
 *   CRM's WAL checkpoints are never stalled (invariant 5);
 * - prune deletes only rows every consumer has passed, in bounded batches so
 *   the write lock is held briefly, and always keeps the newest row: seq is
 *   the table's rowid (max+1), so that row is what keeps seq from ever being
 *   reused after the processed changes are pruned away (see triggers/sql.ts).
 */
import { LeaseError, SourceError } from '../config/errors.js';
import { classifySqliteError, type Db } from '../crm/db.js';

export interface ChangeRow {
  seq: number;
  table: string;
  pk: string;
  op: 'I' | 'U' | 'D';
  at: number;
}

export interface ConsumerInfo {
  name: string;
  seq: number;
  updatedAt: number | null;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
}

/**
 * Run one changelog operation; SQLite errors become kinds (a lock held past the
 * busy timeout is a TransientError the caller retries), our own errors pass through.
 */
function op<T>(doing: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof LeaseError || err instanceof SourceError) throw err;
    throw classifySqliteError(err, doing);
  }
}

function unknownConsumer(name: string): SourceError {
  return new SourceError(
    `No changelog consumer named "${name}" in _cdc_consumers; create it with ensureConsumer first (crm-index install sets up capture).`,
  );
}

/** Create consumer `name` if absent: from the first retained change, or from the current end of the log. */
export function ensureConsumer(db: Db, name: string, startAt: 'beginning' | 'now' = 'beginning'): void {
  return op('ensureConsumer on the changelog', () => {
    db.prepare(
      `INSERT INTO _cdc_consumers (name, seq, updated_at) VALUES (?, ${
        startAt === 'now' ? `coalesce((SELECT max(seq) FROM _cdc_changelog), 0)` : '0'
      }, ?) ON CONFLICT (name) DO NOTHING`,
    ).run(name, Date.now());
  });
}

/** The last seq consumer `name` has processed. */
export function getCursor(db: Db, name: string): number {
  return op('getCursor on the changelog', () => {
    const row = db.prepare(`SELECT seq FROM _cdc_consumers WHERE name = ?`).get(name) as
      { seq: number } | undefined;
    if (!row) throw unknownConsumer(name);
    return row.seq;
  });
}

/** Up to `limit` changes after `afterSeq`, oldest first. */
export function readChanges(db: Db, afterSeq: number, limit: number): ChangeRow[] {
  return op('readChanges on the changelog', () => {
    return db
      .prepare(
        `SELECT c.seq AS seq, t.name AS "table", c.row_key AS pk, c.op AS op, c.at AS at
         FROM _cdc_changelog c JOIN _cdc_tables t ON t.id = c.table_id
         WHERE c.seq > ? ORDER BY c.seq LIMIT ?`,
      )
      .all(afterSeq, limit) as ChangeRow[];
  });
}

/**
 * Move consumer `name` to `seq` (never backwards). With `owner`, only while
 * that owner holds an unexpired lease on the consumer; otherwise LeaseError.
 */
export function advanceCursor(
  db: Db,
  name: string,
  seq: number,
  owner?: string,
  now: number = Date.now(),
): void {
  return op('advanceCursor on the changelog', () => {
    if (owner === undefined) {
      const r = db
        .prepare(`UPDATE _cdc_consumers SET seq = max(seq, ?), updated_at = ? WHERE name = ?`)
        .run(seq, now, name);
      if (r.changes === 0) throw unknownConsumer(name);
      return;
    }
    const r = db
      .prepare(
        `UPDATE _cdc_consumers SET seq = max(seq, ?), updated_at = ?
         WHERE name = ? AND lease_owner = ? AND lease_expires_at > ?`,
      )
      .run(seq, now, name, owner, now);
    if (r.changes === 1) return;
    const holder = leaseHolder(db, name, now);
    if (holder === null && !consumerExists(db, name)) throw unknownConsumer(name);
    throw new LeaseError(
      holder
        ? `Cannot advance cursor "${name}": its lease is held by "${holder.owner}" until ${new Date(holder.expiresAt).toISOString()}, not by "${owner}". Only one process may advance a cursor; stop the other one or wait for its lease to expire.`
        : `Cannot advance cursor "${name}": "${owner}" no longer holds its lease (it expired or was released). Acquire the lease again before advancing.`,
    );
  });
}

function consumerExists(db: Db, name: string): boolean {
  return db.prepare(`SELECT 1 FROM _cdc_consumers WHERE name = ?`).get(name) !== undefined;
}

/**
 * The highest seq ever assigned (0 if none). The changelog's newest row is
 * never pruned, so max(seq) stays correct after pruning; one rowid lookup.
 */
export function maxSeq(db: Db): number {
  return op('maxSeq on the changelog', () => {
    const row = db.prepare(`SELECT coalesce(max(seq), 0) AS s FROM _cdc_changelog`).get() as { s: number };
    return row.s;
  });
}

/** The highest cursor of any consumer (0 if none). */
export function maxCursor(db: Db): number {
  return op('maxCursor on the changelog', () => {
    return db.prepare(`SELECT coalesce(max(seq), 0) FROM _cdc_consumers`).pluck().get() as number;
  });
}

/** Marks the high-water mark in an empty changelog: no table has id 0, so no reader joins it. */
const PLACEHOLDER_TABLE_ID = 0;

export interface HighWaterRepair {
  /** The highest cursor, which seq must stay above. */
  cursor: number;
  /** max(seq) found: below the cursor. */
  previousMax: number;
  /** Rows moved above the cursor (changes made since the log was emptied or re-created). */
  moved: number;
}

/**
 * Keep seq above every cursor. seq is the changelog's rowid, so after
 * `DELETE FROM _cdc_changelog` or a drop and re-create SQLite numbers new
 * changes from 1 again, below the cursors, and every reader would skip them.
 * When max(seq) is below the highest cursor, every row is moved above it
 * (order kept; a change processed twice is harmless) or, in an empty log, a
 * placeholder row marks the cursor. Changes deleted with the old rows are
 * gone from the log: the caller runs a sweep. One IMMEDIATE transaction;
 * returns null when nothing was wrong.
 */
export function restoreHighWater(db: Db): HighWaterRepair | null {
  return op('restoring the changelog high-water mark', () =>
    db
      .transaction((): HighWaterRepair | null => {
        const cursor = maxCursor(db);
        const previousMax = maxSeq(db);
        if (previousMax >= cursor) return null;
        const moved = db.prepare(`UPDATE _cdc_changelog SET seq = seq + ?`).run(cursor).changes;
        if (moved === 0) {
          db.prepare(
            `INSERT INTO _cdc_changelog (seq, table_id, row_key, op, at) VALUES (?, ?, '', 'H', ?)`,
          ).run(cursor, PLACEHOLDER_TABLE_ID, Date.now());
        }
        return { cursor, previousMax, moved };
      })
      .immediate(),
  );
}

/** Exact number of changes consumer `name` has not processed yet. */
export function backlog(db: Db, name: string): number {
  return op('backlog on the changelog', () => {
    const row = db
      .prepare(
        `SELECT count(*) AS n FROM _cdc_changelog WHERE seq > (SELECT seq FROM _cdc_consumers WHERE name = ?) AND table_id <> ${PLACEHOLDER_TABLE_ID}`,
      )
      .get(name) as { n: number };
    if (row.n === 0 && !consumerExists(db, name)) throw unknownConsumer(name);
    return row.n;
  });
}

/** When the oldest unprocessed change of consumer `name` was written (epoch ms), or null if it is caught up. */
export function oldestPendingAt(db: Db, name: string): number | null {
  return op('oldestPendingAt on the changelog', () => {
    const row = db
      .prepare(
        `SELECT at FROM _cdc_changelog WHERE seq > (SELECT seq FROM _cdc_consumers WHERE name = ?) AND table_id <> ${PLACEHOLDER_TABLE_ID} ORDER BY seq LIMIT 1`,
      )
      .get(name) as { at: number } | undefined;
    if (!row && !consumerExists(db, name)) throw unknownConsumer(name);
    return row?.at ?? null;
  });
}

/**
 * Delete changes every consumer has processed (seq <= the smallest cursor),
 * at most `batchSize` rows per transaction, until none are left, keeping the
 * newest row (the high-water mark that keeps seq from being reused). With no
 * consumers nothing is deleted: nobody has read those changes yet.
 */
export function pruneChangelog(db: Db, batchSize: number): number {
  return op('pruneChangelog on the changelog', () => {
    const size = Math.max(1, Math.floor(batchSize));
    const bound = db
      .prepare(
        `SELECT min((SELECT min(seq) FROM _cdc_consumers), (SELECT max(seq) FROM _cdc_changelog) - 1) AS s`,
      )
      .get() as { s: number | null };
    if (bound.s === null) return 0;
    // Each statement is its own short transaction, so the CRM waits at most one batch for the write lock.
    const del = db.prepare(
      `DELETE FROM _cdc_changelog WHERE seq IN (SELECT seq FROM _cdc_changelog WHERE seq <= ? ORDER BY seq LIMIT ?)`,
    );
    let total = 0;
    for (;;) {
      const n = del.run(bound.s, size).changes;
      total += n;
      if (n < size) return total;
    }
  });
}

/**
 * Take the lease on consumer `consumer` for `ttlMs`: succeeds (true) when it
 * is free, expired, or already `owner`'s; one statement, so two processes
 * racing for it cannot both win.
 */
export function acquireLease(
  db: Db,
  consumer: string,
  owner: string,
  ttlMs: number,
  now: number = Date.now(),
): boolean {
  return op('acquireLease on the changelog', () => {
    const r = db
      .prepare(
        `UPDATE _cdc_consumers SET lease_owner = ?, lease_expires_at = ?
         WHERE name = ? AND (lease_owner IS NULL OR lease_owner = ? OR lease_expires_at IS NULL OR lease_expires_at <= ?)`,
      )
      .run(owner, now + ttlMs, consumer, owner, now);
    if (r.changes === 0 && !consumerExists(db, consumer)) throw unknownConsumer(consumer);
    return r.changes === 1;
  });
}

/**
 * Extend `owner`'s lease. False if someone else took it. An expired lease
 * nobody else took is still renewable: no other process can have advanced
 * the cursor without acquiring it first.
 */
export function renewLease(
  db: Db,
  consumer: string,
  owner: string,
  ttlMs: number,
  now: number = Date.now(),
): boolean {
  return op('renewLease on the changelog', () => {
    const r = db
      .prepare(`UPDATE _cdc_consumers SET lease_expires_at = ? WHERE name = ? AND lease_owner = ?`)
      .run(now + ttlMs, consumer, owner);
    return r.changes === 1;
  });
}

/** Give the lease up, if `owner` holds it; a no-op otherwise. */
export function releaseLease(db: Db, consumer: string, owner: string): void {
  return op('releaseLease on the changelog', () => {
    db.prepare(
      `UPDATE _cdc_consumers SET lease_owner = NULL, lease_expires_at = NULL WHERE name = ? AND lease_owner = ?`,
    ).run(consumer, owner);
  });
}

/** Who holds an unexpired lease on `consumer`, or null. */
export function leaseHolder(
  db: Db,
  consumer: string,
  now: number = Date.now(),
): { owner: string; expiresAt: number } | null {
  return op('leaseHolder on the changelog', () => {
    const row = db
      .prepare(
        `SELECT lease_owner AS owner, lease_expires_at AS expiresAt FROM _cdc_consumers
         WHERE name = ? AND lease_owner IS NOT NULL AND lease_expires_at > ?`,
      )
      .get(consumer, now) as { owner: string; expiresAt: number } | undefined;
    return row ?? null;
  });
}

export function listConsumers(db: Db): ConsumerInfo[] {
  return op('listConsumers on the changelog', () => {
    return db
      .prepare(
        `SELECT name, seq, updated_at AS updatedAt, lease_owner AS leaseOwner, lease_expires_at AS leaseExpiresAt
         FROM _cdc_consumers ORDER BY name`,
      )
      .all() as ConsumerInfo[];
  });
}
