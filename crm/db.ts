/**
 * Opening the CRM database. Every connection gets WAL-friendly settings and a
 * busy timeout (invariant 5: wait, do not fail, while the CRM holds the write
 * lock), and every failure to open names the file and says what to do.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SourceError, TransientError } from '../config/errors.js';
import { isBusyOrLocked, isCorrupt, isNotADatabase, isSqliteError } from '../config/sqliteErrors.js';

export type Db = Database.Database;

export interface OpenOptions {
  readonly?: boolean;
  /** Create the file (and its folder) if missing; only the demo does this. */
  create?: boolean;
  busyTimeoutMs?: number;
}

export function openCrm(file: string, opts: OpenOptions = {}): Db {
  const abs = path.resolve(file);
  if (!opts.create && !fs.existsSync(abs)) {
    throw new SourceError(
      `The CRM database ${abs} does not exist. Set CRM_DB_PATH (or --db) to the CRM's SQLite file, or run \`crm-index demo-data\` to create a demo one.`,
    );
  }
  if (opts.create) fs.mkdirSync(path.dirname(abs), { recursive: true });
  let db: Db;
  try {
    db = new Database(abs, { readonly: opts.readonly ?? false, fileMustExist: !opts.create });
  } catch (err) {
    const folder = unwritableFolder(abs);
    if (folder) throw folder;
    throw new SourceError(
      `Cannot open the CRM database ${abs}: ${(err as Error).message}. Check the path and its permissions.`,
      {
        cause: err,
      },
    );
  }
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000))}`);
    // Reading sqlite_master is the cheapest way to find out whether this is a SQLite file at all.
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    if (!opts.readonly) {
      const mode = db.pragma('journal_mode', { simple: true }) as string;
      if (mode !== 'wal') db.pragma('journal_mode = WAL');
    }
  } catch (err) {
    db.close();
    throw unwritableFolder(abs) ?? classifySqliteError(err, `opening the CRM database ${abs}`);
  }
  return db;
}

/** Run `fn`; a raw SQLite error from it becomes a classified one that says what was being done. */
export function sqliteStep<T>(doing: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (isSqliteError(err)) throw classifySqliteError(err, doing);
    throw err;
  }
}

/** One of capture's own _cdc_ tables is gone: re-install capture (not a problem with CRM_DB_PATH). */
export class CaptureMissingError extends SourceError {}

/**
 * A readable database in a folder this user cannot write: SQLite's WAL mode
 * keeps `-wal` and `-shm` files beside the database and must create them even
 * to read, so "check that it is readable" would send the operator the wrong
 * way. Null when that is not the situation.
 */
function unwritableFolder(abs: string): SourceError | null {
  const dir = path.dirname(abs);
  try {
    fs.accessSync(abs, fs.constants.R_OK);
  } catch {
    return null;
  }
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return null;
  } catch {
    return new SourceError(
      `The CRM database ${abs} is readable, but its folder ${dir} is not writable: SQLite in WAL mode must create ${path.basename(abs)}-wal and ${path.basename(abs)}-shm beside it, even to read. ` +
        `Make the folder writable for this user (the CRM's own user usually can), or let the CRM create those files by keeping it open while crm-index runs.`,
    );
  }
}

/** Map a better-sqlite3 error to a kind: busy/locked is transient, a non-database file is a SourceError. */
export function classifySqliteError(err: unknown, doing: string): Error {
  const msg = (err as Error).message ?? String(err);
  if (isBusyOrLocked(err)) {
    return new TransientError(
      `The CRM database was locked by another writer (a migration, an import, a VACUUM) for longer than SQLITE_BUSY_TIMEOUT_MS while ${doing}. Run the command again once that writer is done, or raise SQLITE_BUSY_TIMEOUT_MS; a running follow retries by itself.`,
      { cause: err },
    );
  }
  if (isNotADatabase(err) || /not a database/i.test(msg)) {
    return new SourceError(
      `${doing}: the file is not a SQLite database. Point CRM_DB_PATH at the CRM's .db file.`,
      {
        cause: err,
      },
    );
  }
  const missing = /no such table: (?:main\.)?(_cdc_\w+)/.exec(msg);
  if (missing) {
    return new CaptureMissingError(
      `${doing}: the capture table ${missing[1]} is missing from the CRM database (dropped by hand or by a migration); while it is missing, CRM writes to mapped tables fail. Run \`crm-index install\` to re-create it (a running follow does this itself).`,
      { cause: err },
    );
  }
  if (isCorrupt(err)) {
    return new SourceError(`${doing}: the database file is corrupt (${msg}). Restore it from a backup.`, {
      cause: err,
    });
  }
  return new SourceError(
    `${doing} failed: ${msg}. Check that CRM_DB_PATH names the CRM's SQLite file and that it is readable.`,
    { cause: err },
  );
}
