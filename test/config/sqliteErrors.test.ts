/** The SQLite error classifiers against errors a real better-sqlite3 connection throws. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  isBusy,
  isBusyOrLocked,
  isConstraintError,
  isCorrupt,
  isDiskFull,
  isNotADatabase,
  isNotWritable,
  isSqliteError,
  isUniqueViolation,
  sqliteCode,
} from '../../config/sqliteErrors.js';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to throw');
}

describe('SQLite error classifiers', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sqlite-errors-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('tells a UNIQUE violation from other constraint failures', () => {
    const db = new Database(path.join(dir, 'a.db'));
    db.exec('CREATE TABLE t (k TEXT UNIQUE, v TEXT NOT NULL)');
    db.prepare('INSERT INTO t VALUES (?, ?)').run('a', 'x');
    const unique = thrown(() => db.prepare('INSERT INTO t VALUES (?, ?)').run('a', 'y'));
    const notNull = thrown(() => db.prepare('INSERT INTO t VALUES (?, ?)').run('b', null));
    expect(sqliteCode(unique)).toBe('SQLITE_CONSTRAINT_UNIQUE');
    expect([isUniqueViolation(unique), isConstraintError(unique), isSqliteError(unique)]).toEqual([
      true,
      true,
      true,
    ]);
    expect([isUniqueViolation(notNull), isConstraintError(notNull)]).toEqual([false, true]);
    expect(isBusyOrLocked(unique)).toBe(false);
    db.close();
  });

  it('classifies a write blocked by another connection as busy', () => {
    const file = path.join(dir, 'b.db');
    const a = new Database(file);
    a.exec('CREATE TABLE t (v)');
    const b = new Database(file);
    b.pragma('busy_timeout = 0');
    a.exec('BEGIN IMMEDIATE');
    const busy = thrown(() => b.exec('BEGIN IMMEDIATE'));
    a.exec('COMMIT');
    expect(sqliteCode(busy)).toMatch(/^SQLITE_BUSY/);
    expect([isBusy(busy), isBusyOrLocked(busy), isConstraintError(busy)]).toEqual([true, true, false]);
    a.close();
    b.close();
  });

  it('recognises a file that is not a database, and errno codes of the file system', () => {
    const file = path.join(dir, 'c.db');
    fs.writeFileSync(file, 'this is a text file, not SQLite, and long enough to have a header'.repeat(20));
    const db = new Database(file);
    const notDb = thrown(() => db.prepare('SELECT count(*) FROM sqlite_master').get());
    db.close();
    expect(isNotADatabase(notDb)).toBe(true);
    expect([isCorrupt(notDb), isBusy(notDb)]).toEqual([false, false]);
    const notDir = thrown(() => fs.mkdirSync(path.join(file, 'sub')));
    expect(isNotWritable(notDir)).toBe(true);
    expect(isSqliteError(notDir)).toBe(false);
    expect(isDiskFull(Object.assign(new Error('full'), { code: 'SQLITE_FULL' }))).toBe(true);
    expect([sqliteCode(new Error('plain')), sqliteCode(null), sqliteCode('text')]).toEqual(['', '', '']);
  });
});
