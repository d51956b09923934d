/**
 * The audit log of MCP writes. Invariant: a write and its `mcp_write_log` row
 * commit together or not at all: each write tool runs inside `loggedWrite`,
 * one IMMEDIATE transaction (the write lock is taken up front, so a busy CRM
 * makes us wait at the start instead of failing halfway).
 */
import type { Db } from '../crm/db.js';

export const WRITE_LOG_TABLE = 'mcp_write_log';

export const WRITE_LOG_SQL = `CREATE TABLE IF NOT EXISTS ${WRITE_LOG_TABLE} (
  id        INTEGER PRIMARY KEY,
  at        TEXT NOT NULL,
  tool      TEXT NOT NULL,
  arguments TEXT NOT NULL,
  before    TEXT,
  after     TEXT,
  client    TEXT
)`;

export function ensureWriteLog(db: Db): void {
  db.exec(WRITE_LOG_SQL);
}

export interface WriteEntry {
  tool: string;
  args: unknown;
  client: string | undefined;
}

export interface WriteOutcome<T> {
  before: unknown;
  after: unknown;
  result: T;
}

export interface AuditRow {
  id: number;
  at: string;
  tool: string;
  arguments: string;
  before: string | null;
  after: string | null;
  client: string | null;
}

/** Run `fn` and record it in one transaction; returns the result and the audit row id. */
export function loggedWrite<T>(
  db: Db,
  entry: WriteEntry,
  fn: () => WriteOutcome<T>,
): { result: T; auditId: number } {
  const insert = db.prepare(
    `INSERT INTO ${WRITE_LOG_TABLE} (at, tool, arguments, before, after, client) VALUES (?, ?, ?, ?, ?, ?)`,
  );
  const tx = db.transaction(() => {
    const out = fn();
    const info = insert.run(
      new Date().toISOString(),
      entry.tool,
      JSON.stringify(entry.args),
      out.before == null ? null : JSON.stringify(out.before),
      out.after == null ? null : JSON.stringify(out.after),
      entry.client ?? null,
    );
    return { result: out.result, auditId: Number(info.lastInsertRowid) };
  });
  return tx.immediate();
}

export function readWriteLog(db: Db): AuditRow[] {
  return db.prepare(`SELECT * FROM ${WRITE_LOG_TABLE} ORDER BY id`).all() as AuditRow[];
}
