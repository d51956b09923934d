/**
 * The audit log of MCP writes. Invariant: a write and its `mcp_write_log` row
 * commit together or not at all: each write tool runs inside `loggedWrite`,
 * one IMMEDIATE transaction (the write lock is taken up front, so a busy CRM
 * makes us wait at the start instead of failing halfway).
 */
import type { Db } from '../crm/db.js';
import { ToolError } from './crm.js';

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

/**
 * Why a write argument cannot be stored, or null. SQLite stores a lone UTF-16
 * surrogate (a client that cut a string inside an emoji) as bytes that are
 * not UTF-8, and readers such as Python's sqlite3 then fail on the whole
 * table; a NUL byte hides the rest of the text from the CRM's own UI while
 * the index still shows it. Both are refused before anything is written.
 */
function textProblem(s: string): string | null {
  if (!s.isWellFormed()) {
    const at = [...s].findIndex(
      (c) => c.length === 1 && c.charCodeAt(0) >= 0xd800 && c.charCodeAt(0) <= 0xdfff,
    );
    return `holds a lone UTF-16 surrogate at character ${at} (a string cut inside an emoji or other non-BMP character), which is not valid UTF-8; send well-formed text`;
  }
  const nul = s.indexOf('\u0000');
  if (nul >= 0) return `holds a NUL byte at character ${nul}; remove it`;
  return null;
}

/** Throws a ToolError naming the first argument (by path) whose text cannot be stored. */
export function assertStorableText(args: unknown, path = ''): void {
  if (typeof args === 'string') {
    const p = textProblem(args);
    if (p) throw new ToolError(`${path || 'argument'} ${p}. Nothing was written.`);
  } else if (Array.isArray(args)) {
    args.forEach((v, i) => assertStorableText(v, `${path}[${i}]`));
  } else if (args !== null && typeof args === 'object') {
    for (const [k, v] of Object.entries(args)) {
      const keyProblem = textProblem(k);
      if (keyProblem)
        throw new ToolError(
          `${path ? `${path}.` : ''}${JSON.stringify(k)} (a field name) ${keyProblem}. Nothing was written.`,
        );
      assertStorableText(v, path ? `${path}.${k}` : k);
    }
  }
}

/**
 * Run `fn` and record it in one transaction; returns the result and the audit row id.
 * Arguments whose text cannot be stored intact are refused first (assertStorableText).
 */
export function loggedWrite<T>(
  db: Db,
  entry: WriteEntry,
  fn: () => WriteOutcome<T>,
): { result: T; auditId: number } {
  assertStorableText(entry.args);
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
