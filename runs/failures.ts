/**
 * Per-record failures: a record whose processing fails permanently (a render
 * error, an embedding the server rejects) is parked in `_index_retry` with a
 * backoff and retried; after DEAD_LETTER_ATTEMPTS it becomes a dead letter
 * (`_index_dead_letters`) that an operator can list and requeue.
 *
 * Parking happens in the same transaction that advances the cursor (see
 * `ackBatch`), so a failed record is never lost between the changelog and the
 * retry table (invariant 1).
 */
import type { Db } from '../crm/db.js';

import type { RecordFailure } from '../pipeline/prepare.js';
export type { RecordFailure } from '../pipeline/prepare.js';

export interface DeadLetter {
  recordKey: string;
  step: string;
  error: string;
  attempts: number;
  firstFailedAt: number;
  lastFailedAt: number;
}

/** Columns of the retry queue; a rebuild's hold table has the same, so rows move between them as they are. */
const RETRY_COLUMNS = `
      record_key TEXT PRIMARY KEY,
      attempts INTEGER NOT NULL,
      next_at INTEGER NOT NULL,
      step TEXT NOT NULL,
      error TEXT NOT NULL,
      first_failed_at INTEGER NOT NULL`;

export function ensureFailureTables(db: Db): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS _index_retry (${RETRY_COLUMNS}
    );
    CREATE TABLE IF NOT EXISTS _index_dead_letters (
      record_key TEXT PRIMARY KEY,
      step TEXT NOT NULL,
      error TEXT NOT NULL,
      attempts INTEGER NOT NULL,
      first_failed_at INTEGER NOT NULL,
      last_failed_at INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS _index_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS _index_rebuild_hold (${RETRY_COLUMNS}
    );
  `);
}

/**
 * A rebuild's full scan indexes every record as it is now, so records queued
 * before the scan (attempts 0: entity id changes, operator requeues) need no
 * replay into the new generation. They are moved to `_index_rebuild_hold`
 * for the rebuild: dropped after the switch (`dropHeld`), put back if it
 * fails (`restoreHeld`), and put back by the next run's start if the process
 * died in between, so the current generation never loses them. Records
 * queued during the rebuild stay in `_index_retry` and are replayed.
 * Returns how many were held.
 */
export function holdQueued(db: Db): number {
  return db.transaction(() => {
    const n = db
      .prepare('INSERT OR REPLACE INTO _index_rebuild_hold SELECT * FROM _index_retry WHERE attempts = 0')
      .run().changes;
    db.prepare('DELETE FROM _index_retry WHERE attempts = 0').run();
    return n;
  })();
}

/** Put held records back in the queue (a failed or interrupted rebuild). Returns how many. */
export function restoreHeld(db: Db): number {
  return db.transaction(() => {
    const n = db
      .prepare(
        `INSERT INTO _index_retry (record_key, attempts, next_at, step, error, first_failed_at)
         SELECT record_key, attempts, next_at, step, error, first_failed_at FROM _index_rebuild_hold WHERE true
         ON CONFLICT(record_key) DO UPDATE SET next_at = min(next_at, excluded.next_at)`,
      )
      .run().changes;
    db.prepare('DELETE FROM _index_rebuild_hold').run();
    return n;
  })();
}

/** The rebuild switched: the new generation holds the held records' current state. */
export function dropHeld(db: Db): void {
  db.prepare('DELETE FROM _index_rebuild_hold').run();
}

/** Backoff before retry n (1-based): 2s, 4s, 8s ... capped at 10 minutes. */
export function retryDelayMs(attempt: number): number {
  return Math.min(600_000, 1000 * 2 ** attempt);
}

/**
 * Record failures: bump attempts, or move to dead letters at `maxAttempts`.
 * Returns the keys that became dead letters. Call inside the ack transaction.
 */
export function recordFailures(
  db: Db,
  failures: RecordFailure[],
  maxAttempts: number,
  now = Date.now(),
): string[] {
  const get = db.prepare('SELECT attempts, first_failed_at FROM _index_retry WHERE record_key = ?');
  const upsert = db.prepare(
    `INSERT INTO _index_retry (record_key, attempts, next_at, step, error, first_failed_at) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT(record_key) DO UPDATE SET attempts = excluded.attempts, next_at = excluded.next_at, step = excluded.step, error = excluded.error`,
  );
  const del = db.prepare('DELETE FROM _index_retry WHERE record_key = ?');
  const dead = db.prepare(
    `INSERT INTO _index_dead_letters (record_key, step, error, attempts, first_failed_at, last_failed_at) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT(record_key) DO UPDATE SET step = excluded.step, error = excluded.error, attempts = excluded.attempts, last_failed_at = excluded.last_failed_at`,
  );
  const out: string[] = [];
  for (const f of failures) {
    const prev = get.get(f.recordKey) as { attempts: number; first_failed_at: number } | undefined;
    const attempts = (prev?.attempts ?? 0) + 1;
    const first = prev?.first_failed_at ?? now;
    const error = f.error.slice(0, 2000);
    if (attempts >= maxAttempts) {
      del.run(f.recordKey);
      dead.run(f.recordKey, f.step, error, attempts, first, now);
      out.push(f.recordKey);
    } else {
      upsert.run(f.recordKey, attempts, now + retryDelayMs(attempts), f.step, error, first);
    }
  }
  return out;
}

/**
 * A record that went through clears its retry state (it may have been parked
 * earlier) and leaves the dead letters: it is indexed as it is now.
 */
export function clearRetries(db: Db, keys: string[]): void {
  const del = db.prepare('DELETE FROM _index_retry WHERE record_key = ?');
  const undead = db.prepare('DELETE FROM _index_dead_letters WHERE record_key = ?');
  for (const k of keys) {
    del.run(k);
    undead.run(k);
  }
}

/**
 * Queue records for (re-)indexing without a changelog row: entity id changes,
 * operator requeues. They come back as due retries with no attempt counted.
 */
export function enqueueKeys(db: Db, keys: string[], why: string, now = Date.now()): void {
  const ins = db.prepare(
    `INSERT INTO _index_retry (record_key, attempts, next_at, step, error, first_failed_at) VALUES (?, 0, ?, 'queued', ?, ?)
     ON CONFLICT(record_key) DO UPDATE SET next_at = min(next_at, excluded.next_at)`,
  );
  db.transaction(() => {
    for (const k of keys) ins.run(k, now, why, now);
  })();
}

/** How long a record held back for a schema problem waits before it is looked at again. */
export const BLOCKED_RECHECK_MS = 30_000;

/**
 * Hold records back without counting an attempt: their table does not fit the
 * source map (SchemaGuard). They come back as due retries after
 * BLOCKED_RECHECK_MS and are held again until the problem is fixed; never
 * dead-lettered. Call inside the ack transaction.
 */
export function parkBlocked(db: Db, keys: string[], why: string, now = Date.now()): void {
  const ins = db.prepare(
    `INSERT INTO _index_retry (record_key, attempts, next_at, step, error, first_failed_at) VALUES (?, 0, ?, 'blocked', ?, ?)
     ON CONFLICT(record_key) DO UPDATE SET next_at = excluded.next_at, error = excluded.error`,
  );
  for (const k of keys) ins.run(k, now + BLOCKED_RECHECK_MS, why.slice(0, 2000), now);
}

/** Retries whose backoff has passed. */
export function dueRetries(db: Db, limit: number, now = Date.now()): string[] {
  return db
    .prepare('SELECT record_key FROM _index_retry WHERE next_at <= ? ORDER BY next_at LIMIT ?')
    .pluck()
    .all(now, limit) as string[];
}

export function nextRetryAt(db: Db): number | null {
  return (db.prepare('SELECT min(next_at) FROM _index_retry').pluck().get() as number | null) ?? null;
}

export function listDeadLetters(db: Db): DeadLetter[] {
  return db
    .prepare(
      'SELECT record_key AS recordKey, step, error, attempts, first_failed_at AS firstFailedAt, last_failed_at AS lastFailedAt FROM _index_dead_letters ORDER BY last_failed_at DESC',
    )
    .all() as DeadLetter[];
}

export function countDeadLetters(db: Db): number {
  return db.prepare('SELECT count(*) FROM _index_dead_letters').pluck().get() as number;
}

/** Remove dead letters that last failed before `at` (a rebuild since indexed their records afresh). */
export function clearDeadLettersBefore(db: Db, at: number): number {
  return db.prepare('DELETE FROM _index_dead_letters WHERE last_failed_at < ?').run(at).changes;
}

/** Put dead letters back: they become due retries with a fresh attempt count. Returns how many. */
export function requeueDeadLetters(db: Db, keys: string[] | 'all', now = Date.now()): number {
  return db.transaction(() => {
    const rows = (
      keys === 'all'
        ? db.prepare('SELECT record_key FROM _index_dead_letters').pluck().all()
        : keys.filter((k) => db.prepare('SELECT 1 FROM _index_dead_letters WHERE record_key = ?').get(k))
    ) as string[];
    const ins = db.prepare(
      `INSERT INTO _index_retry (record_key, attempts, next_at, step, error, first_failed_at) VALUES (?, 0, ?, 'requeue', 'requeued by operator', ?)
       ON CONFLICT(record_key) DO UPDATE SET attempts = 0, next_at = excluded.next_at`,
    );
    const del = db.prepare('DELETE FROM _index_dead_letters WHERE record_key = ?');
    for (const k of rows) {
      ins.run(k, now, now);
      del.run(k);
    }
    return rows.length;
  })();
}

/** _index_state key of follow's latest error ({ at, message }, or null once a batch went through). */
export const FOLLOW_ERROR_STATE = 'follow_last_error';

export function setState(db: Db, key: string, value: unknown): void {
  db.prepare(
    'INSERT INTO _index_state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
  ).run(key, JSON.stringify(value));
}

export function getState<T>(db: Db, key: string): T | undefined {
  const v = db.prepare('SELECT value FROM _index_state WHERE key = ?').pluck().get(key) as string | undefined;
  return v === undefined ? undefined : (JSON.parse(v) as T);
}
