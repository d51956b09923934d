/**
 * What a better-sqlite3 (or file-system) error is, read from its `code`: the
 * one place that looks at that field. better-sqlite3 reports SQLite's extended
 * result codes (`SQLITE_BUSY_SNAPSHOT`, `SQLITE_CONSTRAINT_UNIQUE`, ...), so a
 * family is matched by its prefix. What each kind means (retry, refuse, tell
 * the operator) is the caller's: `classifySqliteError` in crm/db.ts for the
 * CRM's database, `storeError` in stores/embedded.ts for the embedded index.
 */

/** The error's `code` (`SQLITE_...` or an errno name such as `ENOSPC`), or '' when it has none. */
export function sqliteCode(err: unknown): string {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : '';
}

/** Any error SQLite reported. */
export const isSqliteError = (err: unknown): boolean => sqliteCode(err).startsWith('SQLITE_');

/** Another connection holds a lock the busy timeout did not outlast. */
export const isBusy = (err: unknown): boolean => sqliteCode(err).startsWith('SQLITE_BUSY');

/** Busy, or a table locked within a connection or shared cache: both pass with time. */
export const isBusyOrLocked = (err: unknown): boolean =>
  isBusy(err) || sqliteCode(err).startsWith('SQLITE_LOCKED');

/** A NOT NULL, CHECK, UNIQUE, foreign key or other constraint refused the write. */
export const isConstraintError = (err: unknown): boolean => sqliteCode(err).startsWith('SQLITE_CONSTRAINT');

/** A UNIQUE (not primary key) constraint refused the write. */
export const isUniqueViolation = (err: unknown): boolean => sqliteCode(err) === 'SQLITE_CONSTRAINT_UNIQUE';

/** The file is not a SQLite database. */
export const isNotADatabase = (err: unknown): boolean => sqliteCode(err) === 'SQLITE_NOTADB';

/** SQLite found the database file damaged. */
export const isCorrupt = (err: unknown): boolean => sqliteCode(err) === 'SQLITE_CORRUPT';

/** The disk is full. */
export const isDiskFull = (err: unknown): boolean => ['SQLITE_FULL', 'ENOSPC'].includes(sqliteCode(err));

const NOT_WRITABLE = new Set(['SQLITE_PERM', 'EACCES', 'EROFS', 'EPERM', 'ENOTDIR', 'EEXIST']);

/** The file or its folder cannot be opened or written (permissions, read-only disk, a file in the way). */
export function isNotWritable(err: unknown): boolean {
  const code = sqliteCode(err);
  return code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN') || NOT_WRITABLE.has(code);
}

/** The operating system reported an I/O error under SQLite. */
export const isIoError = (err: unknown): boolean => sqliteCode(err).startsWith('SQLITE_IOERR');
