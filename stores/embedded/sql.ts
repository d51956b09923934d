/**
 * SQL of the embedded store: schema, one statement group per operation, and the
 * blob codecs. One row per point (never one row per posting: ~120 terms per chunk
 * at 10,000 chunks/s would be over a million rows/s); the sparse vector is one
 * blob of Uint32 indices followed by Float32 values, the dense vector one blob of
 * normalised Float32 (both native little-endian).
 *
 * Tables: `_store_meta` (key/value; `active` names the served generation),
 * `_store_generations` (name, dim, model), `_store_log` (every point id changed,
 * per generation, so other connections catch up incrementally), and one
 * `pts_<generation>` table per generation.
 */
import type Database from 'better-sqlite3';
import type { ChunkPayload } from '../types.js';

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS _store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _store_generations (
  name TEXT PRIMARY KEY, dim INTEGER NOT NULL, model TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS _store_log (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, gen TEXT NOT NULL, rid INTEGER NOT NULL
);
`;

/** Generation names become table names: keep them to a safe alphabet. */
export const GENERATION_NAME = /^g[a-z0-9_]{1,60}$/;

export function pointsTable(gen: string): string {
  if (!GENERATION_NAME.test(gen)) throw new RangeError(`bad generation name "${gen}"`);
  return `pts_${gen}`;
}

export function createGenerationSql(gen: string): string {
  const t = pointsTable(gen);
  return `
CREATE TABLE ${t} (
  rid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  record_key TEXT NOT NULL,
  chunk_index INTEGER NOT NULL,
  chunk_count INTEGER NOT NULL,
  fingerprint TEXT NOT NULL,
  tbl TEXT NOT NULL,
  kind TEXT, stage TEXT, organization_id TEXT, date TEXT, owner TEXT,
  entity_ids TEXT NOT NULL,
  payload TEXT NOT NULL,
  dense BLOB NOT NULL,
  sparse BLOB NOT NULL
);
CREATE INDEX ${t}_rk ON ${t}(record_key, chunk_index);`;
}

export interface PointRow {
  rid: number;
  id: string;
  record_key: string;
  tbl: string;
  kind: string | null;
  stage: string | null;
  organization_id: string | null;
  date: string | null;
  owner: string | null;
  entity_ids: string;
  dense: Buffer;
  sparse: Buffer;
}

const MIRROR_COLUMNS =
  'rid, id, record_key, tbl, kind, stage, organization_id, date, owner, entity_ids, dense, sparse';

/** Prepared statements for one generation's table. */
export interface GenStatements {
  upsert: Database.Statement;
  log: Database.Statement;
  deleteRecord: Database.Statement;
  deleteFrom: Database.Statement;
  states: Database.Statement;
  scrollStates: Database.Statement;
  count: Database.Statement;
  all: Database.Statement;
  byRid: Database.Statement;
  payloads: Database.Statement;
}

export function prepareGen(db: Database.Database, gen: string): GenStatements {
  const t = pointsTable(gen);
  return {
    upsert: db.prepare(
      `INSERT INTO ${t} (id, record_key, chunk_index, chunk_count, fingerprint, tbl, kind, stage,
         organization_id, date, owner, entity_ids, payload, dense, sparse)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET record_key = excluded.record_key, chunk_index = excluded.chunk_index,
         chunk_count = excluded.chunk_count, fingerprint = excluded.fingerprint, tbl = excluded.tbl,
         kind = excluded.kind, stage = excluded.stage, organization_id = excluded.organization_id,
         date = excluded.date, owner = excluded.owner, entity_ids = excluded.entity_ids,
         payload = excluded.payload, dense = excluded.dense, sparse = excluded.sparse
       RETURNING rid`,
    ),
    log: db.prepare(`INSERT INTO _store_log (gen, rid) VALUES ('${gen}', ?)`),
    deleteRecord: db.prepare(`DELETE FROM ${t} WHERE record_key = ? RETURNING rid`),
    deleteFrom: db.prepare(`DELETE FROM ${t} WHERE record_key = ? AND chunk_index >= ? RETURNING rid`),
    states: db.prepare(
      `SELECT record_key, fingerprint, chunk_count FROM ${t}
       WHERE chunk_index = 0 AND record_key IN (SELECT value FROM json_each(?))`,
    ),
    scrollStates: db.prepare(
      `SELECT record_key, fingerprint, chunk_count FROM ${t}
       WHERE chunk_index = 0 AND record_key > ? ORDER BY record_key LIMIT ?`,
    ),
    count: db.prepare(`SELECT count(*) AS n FROM ${t}`).pluck(),
    all: db.prepare(`SELECT ${MIRROR_COLUMNS} FROM ${t}`),
    byRid: db.prepare(`SELECT ${MIRROR_COLUMNS} FROM ${t} WHERE rid = ?`),
    payloads: db.prepare(`SELECT rid, payload FROM ${t} WHERE rid IN (SELECT value FROM json_each(?))`),
  };
}

export function upsertParams(p: ChunkPayload, id: string, dense: Buffer, sparse: Buffer): unknown[] {
  return [
    id,
    p.record_key,
    p.chunk_index,
    p.chunk_count,
    p.fingerprint,
    p.table,
    p.kind ?? null,
    p.stage ?? null,
    p.organization_id ?? null,
    p.date ?? null,
    p.owner ?? null,
    JSON.stringify(p.entity_ids ?? []),
    JSON.stringify(p),
    dense,
    sparse,
  ];
}

export function encodeDense(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** Copy: SQLite's buffers need not be 4-byte aligned, typed-array views must be. */
export function decodeDense(b: Buffer): Float32Array {
  const out = new Float32Array(b.length / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

export function encodeSparse(indices: number[], values: number[]): Buffer {
  const n = indices.length;
  const ab = new ArrayBuffer(n * 8);
  const idx = new Uint32Array(ab, 0, n);
  const val = new Float32Array(ab, n * 4, n);
  for (let i = 0; i < n; i++) {
    idx[i] = indices[i]! >>> 0;
    val[i] = values[i]!;
  }
  return Buffer.from(ab);
}

export function decodeSparse(b: Buffer): { indices: Uint32Array; values: Float32Array } {
  const n = b.length / 8;
  const ab = new ArrayBuffer(b.length);
  new Uint8Array(ab).set(b);
  return { indices: new Uint32Array(ab, 0, n), values: new Float32Array(ab, n * 4, n) };
}
