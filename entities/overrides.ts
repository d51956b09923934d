/**
 * Operator overrides: "these two records are the same entity" or "are not".
 * Stored in entity_overrides with the pair in record-key order (a < b), so a
 * pair has one verdict whichever way round it was given. They live apart from
 * the derived tables, so a full recompute reads them and never erases them.
 */
import { ConfigError } from '../config/index.js';
import type { Db } from '../crm/db.js';
import { compareRecordKeys } from './rules.js';
import type { Override } from './cluster.js';

export type Verdict = Override['verdict'];

function ordered(x: string, y: string): [string, string] {
  return compareRecordKeys(x, y) <= 0 ? [x, y] : [y, x];
}

function checkKey(k: string, arg: string): void {
  if (!/^[^:]+:.+$/.test(k)) {
    throw new ConfigError(
      `${arg} "${k}" is not a record key; expected table:pk such as people:12 or organizations:3.`,
    );
  }
}

export function setOverride(db: Db, x: string, y: string, verdict: Verdict): Override {
  checkKey(x, 'keyA');
  checkKey(y, 'keyB');
  if (x === y)
    throw new ConfigError(`keyA and keyB are both "${x}"; an override needs two different records.`);
  if (x.slice(0, x.indexOf(':')) !== y.slice(0, y.indexOf(':'))) {
    throw new ConfigError(
      `"${x}" and "${y}" are records of different tables; an override must pair two people or two organizations.`,
    );
  }
  const [a, b] = ordered(x, y);
  db.prepare(
    'INSERT INTO entity_overrides (a, b, verdict) VALUES (?, ?, ?) ON CONFLICT(a, b) DO UPDATE SET verdict = excluded.verdict',
  ).run(a, b, verdict);
  return { a, b, verdict };
}

/** Forget the verdict on a pair; returns whether there was one. */
export function removeOverride(db: Db, x: string, y: string): boolean {
  const [a, b] = ordered(x, y);
  return db.prepare('DELETE FROM entity_overrides WHERE a = ? AND b = ?').run(a, b).changes > 0;
}

export function listOverrides(db: Db): Override[] {
  return db.prepare('SELECT a, b, verdict FROM entity_overrides ORDER BY a, b').all() as Override[];
}

/** Overrides naming a record, either side. */
export function overridesOf(db: Db, recordKey: string): Override[] {
  return db
    .prepare(
      'SELECT a, b, verdict FROM entity_overrides WHERE a = ? UNION SELECT a, b, verdict FROM entity_overrides WHERE b = ?',
    )
    .all(recordKey, recordKey) as Override[];
}
