/**
 * SQL of the embedded store: schema, one statement group per generation, and the
 * blob codecs. One row per point (never one row per posting: ~120 terms per chunk
 * at 10,000 chunks/s would be over a million rows/s); the sparse vector is one
 * blob of Uint32 indices followed by Float32 values, the dense vector one blob of
 * normalised Float32 (both native little-endian).
 *
 * Tables: `_store_meta` (key/value; `active` names the served generation),
 * `_store_generations` (name, dim, model), `_store_changes` (one row per write
 * batch: the changed row ids as one Float64 blob, so other connections catch up
 * incrementally), and one `pts_<generation>` table per generation.
 *
 * Write cost is what shapes the point table (docs/decisions/014-store-update-path.md):
 * - the only secondary index is UNIQUE(record_key, chunk_index), which is also
 *   the upsert's conflict target (a point id is UUIDv5 of `recordKey#chunkIndex`,
 *   so the pair identifies the point). A unique index on the random uuid text
 *   touched a random index page per point: ~1.6x the CPU and far more WAL bytes.
 * - the change log is one row per batch, not one per point.
 * - the filter columns, vectors and row id come first and the payload JSON
 *   last, so the mirror load reads vectors without walking the payload.
 * - the chunk text is a column of its own and the payload JSON holds the rest
 *   of the payload (the part all chunks of a record share), serialised once
 *   per record: JSON-escaping every chunk's text cost ~5 us per 1.4 KB chunk.
 *   A generation's layout is fixed when it is created: a table made before
 *   the text column (no such column) keeps the whole payload in the JSON,
 *   so a reader that opened it earlier never sees a layout change.
 * - a chunk not stored yet (every chunk of a rebuild) is written with a plain
 *   INSERT (the upsert's conflict clause cost ~7 us more per row), and a stored
 *   one is rewritten by its rid (7-13 against 22-32 us a row for the upsert).
 * - new files use 16 KiB pages: a ~3 KB row wastes a third of a 4 KiB page.
 */
import type Database from 'better-sqlite3';
import { FILTER_FIELDS, MEMORY_FIELDS, type FilterFieldName } from '../filterFields.js';
import type { ChunkPayload } from '../types.js';
import type { MirrorRow } from './mirror.js';

/** The filter fields that are columns of their own (record_key is part of the key). */
const FILTER_COLUMNS = (Object.keys(FILTER_FIELDS) as FilterFieldName[])
  .filter((f) => FILTER_FIELDS[f].column !== 'record_key')
  .map((f) => ({ field: f, ...FILTER_FIELDS[f] }));

/** Applies to a file created by this connection only (SQLite fixes it at creation). */
export const PAGE_SIZE = 16_384;

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS _store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _store_generations (
  name TEXT PRIMARY KEY, dim INTEGER NOT NULL, model TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS _store_changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, gen TEXT NOT NULL, n INTEGER NOT NULL, rids BLOB NOT NULL
);
DROP TABLE IF EXISTS _store_log;
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
  record_key TEXT NOT NULL,
  chunk_index INTEGER NOT NULL,
  id TEXT NOT NULL,
  chunk_count INTEGER NOT NULL,
  fingerprint TEXT NOT NULL,
  ${FILTER_COLUMNS.map((c) => (c.many ? `${c.column} TEXT NOT NULL DEFAULT '[]'` : `${c.column} TEXT`)).join(', ')},
  date TEXT, owner TEXT,
  dense BLOB NOT NULL,
  sparse BLOB NOT NULL,
  payload TEXT NOT NULL,
  text TEXT
);
${uniqueKeySql(gen)}`;
}

/** The conflict target of the upsert; also upgrades a table made by the first layout. */
export function uniqueKeySql(gen: string): string {
  const t = pointsTable(gen);
  return `CREATE UNIQUE INDEX IF NOT EXISTS ${t}_key ON ${t}(record_key, chunk_index);
DROP INDEX IF EXISTS ${t}_rk;`;
}

/** The columns of a generation's table. */
export function tableColumns(db: Database.Database, gen: string): Set<string> {
  const cols = db
    .prepare(`SELECT name FROM pragma_table_info('${pointsTable(gen)}')`)
    .pluck()
    .all() as string[];
  return new Set(cols);
}

/** Whether a generation's table has the text column (tables of the first layout do not). */
export function hasTextColumn(db: Database.Database, gen: string): boolean {
  return tableColumns(db, gen).has('text');
}

/** A `raw()` row of the mirror's columns: rid, date, dense, sparse, then the memory fields in MEMORY_FIELDS order. */
export type MirrorRawRow = [
  rid: number,
  date: string | null,
  dense: Buffer,
  sparse: Buffer,
  ...fields: (string | null)[],
];

/** Prepared statements for one generation's table, prepared on first use (a reader needs few). */
export class GenStatements {
  private readonly cache = new Map<string, Database.Statement>();
  readonly table: string;
  /** False for a table of the first layout: the text is inside the payload JSON. */
  readonly textColumn: boolean;
  /**
   * The filter fields this table has columns for: a generation made before a field was added
   * to stores/filterFields.ts has none for it (read as null, not written) until a rebuild.
   */
  readonly filterColumns: typeof FILTER_COLUMNS;
  private readonly mirrorSelect: string;
  private readonly lastList: (string | null)[] = [];
  private readonly lastParsed: string[][] = [];
  constructor(
    private readonly db: Database.Database,
    readonly gen: string,
  ) {
    this.table = pointsTable(gen);
    const cols = tableColumns(db, gen);
    this.textColumn = cols.has('text');
    this.filterColumns = FILTER_COLUMNS.filter((c) => cols.has(c.column));
    const memory = MEMORY_FIELDS.map((f) => {
      const c = FILTER_FIELDS[f];
      return cols.has(c.column) ? c.column : c.many ? `'[]'` : 'NULL';
    });
    this.mirrorSelect = ['rid', 'date', 'dense', 'sparse', ...memory].join(', ');
  }

  /** A raw mirror row as the mirror takes it (decodes the blobs; parses list fields). */
  mirrorRow(r: MirrorRawRow): MirrorRow {
    const sp = decodeSparse(r[3]);
    const fields: MirrorRow['fields'] = {};
    MEMORY_FIELDS.forEach((f, i) => {
      const v = (r[4 + i] ?? null) as string | null;
      if (!FILTER_FIELDS[f].many) {
        fields[f] = v;
      } else if (v === this.lastList[i]) {
        // A record's chunks are adjacent and share their lists: parse each text once.
        fields[f] = this.lastParsed[i];
      } else {
        this.lastList[i] = v;
        fields[f] = this.lastParsed[i] = JSON.parse(v ?? '[]') as string[];
      }
    });
    return {
      rid: r[0],
      date: r[1],
      dense: decodeDense(r[2]),
      sparseIdx: sp.indices,
      sparseVal: sp.values,
      fields,
    };
  }

  /**
   * The values of one point for `insert` (in its column order); `update` takes the same
   * values after the first two (the key), then the rid.
   */
  params(p: ChunkPayload, id: string, dense: Buffer, sparse: Buffer, payloadJson: string): unknown[] {
    const params: unknown[] = [p.record_key, p.chunk_index, id, p.chunk_count, p.fingerprint];
    for (const c of this.filterColumns) {
      const v = p[c.payload];
      params.push(c.many ? JSON.stringify(v ?? []) : v === undefined || v === null ? null : String(v));
    }
    params.push(p.date ?? null, p.owner ?? null, dense, sparse, payloadJson);
    if (this.textColumn) params.push(p.text ?? '');
    return params;
  }

  /** The columns `params` fills, after the key. */
  private valueColumns(): string[] {
    const cols = ['id', 'chunk_count', 'fingerprint', ...this.filterColumns.map((c) => c.column)];
    cols.push('date', 'owner', 'dense', 'sparse', 'payload');
    if (this.textColumn) cols.push('text');
    return cols;
  }

  private stmt(key: string, sql: () => string, raw = false, pluck = false): Database.Statement {
    let s = this.cache.get(key);
    if (!s) {
      s = this.db.prepare(sql());
      if (raw) s.raw(true);
      if (pluck) s.pluck(true);
      this.cache.set(key, s);
    }
    return s;
  }

  private insertSql(): string {
    const cols = ['record_key', 'chunk_index', ...this.valueColumns()];
    return `INSERT INTO ${this.table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`;
  }
  get upsert(): Database.Statement {
    return this.stmt(
      'upsert',
      () =>
        `${this.insertSql()}
         ON CONFLICT(record_key, chunk_index) DO UPDATE SET ${this.valueColumns()
           .map((c) => `${c} = excluded.${c}`)
           .join(', ')}
         RETURNING rid`,
      false,
      true,
    );
  }
  /**
   * The same row with no conflict clause: fails (SQLITE_CONSTRAINT_UNIQUE) when
   * the chunk exists (the upsert above is then the fallback). Run it and read
   * the rid from lastInsertRowid, which is cheaper than `RETURNING rid`
   * (docs/decisions/014-store-update-path.md).
   */
  get insert(): Database.Statement {
    return this.stmt('insert', () => this.insertSql());
  }
  /**
   * The record's stored chunks as [chunk_index, rid] rows (read from the unique key alone): a
   * chunk stored already is updated by its rid, any other inserted.
   */
  get chunkRids(): Database.Statement {
    return this.stmt(
      'chunkRids',
      () => `SELECT chunk_index, rid FROM ${this.table} WHERE record_key = ?`,
      true,
    );
  }
  /**
   * A stored chunk's row rewritten by its rid, with upsertParams' values after the first two
   * (the key, which does not change) and then the rid: cheaper than the upsert's conflict clause
   * (docs/decisions/014-store-update-path.md).
   */
  get update(): Database.Statement {
    return this.stmt(
      'update',
      () =>
        `UPDATE ${this.table} SET ${this.valueColumns()
          .map((c) => `${c} = ?`)
          .join(', ')} WHERE rid = ?`,
    );
  }
  get logChanges(): Database.Statement {
    return this.stmt('log', () => `INSERT INTO _store_changes (gen, n, rids) VALUES ('${this.gen}', ?, ?)`);
  }
  get deleteRecord(): Database.Statement {
    return this.stmt(
      'delRec',
      () => `DELETE FROM ${this.table} WHERE record_key = ? RETURNING rid`,
      false,
      true,
    );
  }
  get deleteFrom(): Database.Statement {
    return this.stmt(
      'delFrom',
      () => `DELETE FROM ${this.table} WHERE record_key = ? AND chunk_index >= ? RETURNING rid`,
      false,
      true,
    );
  }
  get states(): Database.Statement {
    return this.stmt(
      'states',
      () =>
        `SELECT record_key, fingerprint, chunk_count FROM ${this.table}
         WHERE chunk_index = 0 AND record_key IN (SELECT value FROM json_each(?))`,
    );
  }
  get scrollStates(): Database.Statement {
    return this.stmt(
      'scroll',
      () =>
        `SELECT record_key, fingerprint, chunk_count FROM ${this.table}
         WHERE chunk_index = 0 AND record_key > ? ORDER BY record_key LIMIT ?`,
    );
  }
  get count(): Database.Statement {
    return this.stmt('count', () => `SELECT count(*) FROM ${this.table}`, false, true);
  }
  get all(): Database.Statement {
    return this.stmt('all', () => `SELECT ${this.mirrorSelect} FROM ${this.table}`, true);
  }
  /** Pass 1 of a mirror build: the sparse blobs alone. */
  get allSparse(): Database.Statement {
    return this.stmt('allSparse', () => `SELECT sparse FROM ${this.table}`, false, true);
  }
  get byRid(): Database.Statement {
    return this.stmt('byRid', () => `SELECT ${this.mirrorSelect} FROM ${this.table} WHERE rid = ?`, true);
  }
  /** The f32 rows of a search's candidates, for exact rescoring (the mirror keeps int8 codes). */
  get denseRows(): Database.Statement {
    return this.stmt(
      'denseRows',
      () => `SELECT rid, dense FROM ${this.table} WHERE rid IN (SELECT value FROM json_each(?))`,
      true,
    );
  }
  /** Rows whose `column` is one of a JSON array of values (a filter field evaluated in SQL). */
  ridsWhere(column: string): Database.Statement {
    return this.stmt(
      `rids:${column}`,
      () => `SELECT rid FROM ${this.table} WHERE ${column} IN (SELECT value FROM json_each(?))`,
      false,
      true,
    );
  }
  get payloads(): Database.Statement {
    return this.stmt(
      'payloads',
      () =>
        `SELECT rid, id, payload, chunk_index, ${this.textColumn ? 'text' : 'NULL'} FROM ${this.table} WHERE rid IN (SELECT value FROM json_each(?))`,
      true,
    );
  }
  get chunk(): Database.Statement {
    return this.stmt(
      'chunk',
      () =>
        `SELECT payload, chunk_index, ${this.textColumn ? 'text' : 'NULL'} FROM ${this.table} WHERE record_key = ? AND chunk_index = ?`,
      true,
    );
  }
}

/**
 * The stored payload JSON of each point, in order. With `textColumn` (the
 * current layout) it is the payload without chunk_index and text, which have
 * columns of their own; every chunk of one record version (same record_key
 * and fingerprint) shares it, so it is serialised once per record. Without
 * (a generation of the first layout) it is the whole payload: the shared part
 * serialised once per record, each chunk appending its index and text.
 */
export function payloadJsons(payloads: ChunkPayload[], textColumn = true): string[] {
  const out: string[] = new Array<string>(payloads.length);
  let key = '';
  let fp = '';
  let json = '';
  let prefix = '';
  for (let i = 0; i < payloads.length; i++) {
    const p = payloads[i]!;
    if (i === 0 || p.record_key !== key || p.fingerprint !== fp) {
      // eslint-disable-next-line @typescript-eslint/no-unused-vars
      const { chunk_index, text, ...rest } = p;
      json = JSON.stringify(rest);
      if (!textColumn) prefix = json === '{}' ? '{' : `${json.slice(0, -1)},`;
      key = p.record_key;
      fp = p.fingerprint;
    }
    out[i] = textColumn
      ? json
      : `${prefix}"chunk_index":${JSON.stringify(p.chunk_index)},"text":${JSON.stringify(p.text)}}`;
  }
  return out;
}

/**
 * A stored row back to its payload. `text` is null for a row of the first
 * layout, whose JSON holds the whole payload.
 */
export function payloadFromRow(json: string, chunkIndex: number, text: string | null): ChunkPayload {
  // Parsed first so the keys keep the order JSON.stringify of the indexer's payload gives.
  const p = JSON.parse(json) as ChunkPayload;
  if (text === null) return p;
  p.chunk_index = chunkIndex;
  p.text = text;
  return p;
}

export function encodeDense(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** A Float32 view of a blob; copies only when SQLite's buffer is not 4-byte aligned. */
export function decodeDense(b: Buffer): Float32Array {
  if ((b.byteOffset & 3) === 0) return new Float32Array(b.buffer, b.byteOffset, b.length >> 2);
  const out = new Float32Array(b.length >> 2);
  new Uint8Array(out.buffer).set(b);
  return out;
}

export function encodeSparse(indices: ArrayLike<number>, values: ArrayLike<number>): Buffer {
  return encodeSparseAt(new ArrayBuffer(indices.length * 8), 0, indices, values);
}

/**
 * The blob of one sparse vector written at `byteOffset` of `ab` (a multiple
 * of 4, with `indices.length * 8` bytes free there) and returned as a view:
 * an upsert encodes all its points into one allocation.
 */
export function encodeSparseAt(
  ab: ArrayBuffer,
  byteOffset: number,
  indices: ArrayLike<number>,
  values: ArrayLike<number>,
): Buffer {
  const n = indices.length;
  const idx = new Uint32Array(ab, byteOffset, n);
  const val = new Float32Array(ab, byteOffset + n * 4, n);
  for (let i = 0; i < n; i++) {
    idx[i] = indices[i]! >>> 0;
    val[i] = values[i]!;
  }
  return Buffer.from(ab, byteOffset, n * 8);
}

/** Views of a sparse blob; copies only when SQLite's buffer is not 4-byte aligned. */
export function decodeSparse(b: Buffer): { indices: Uint32Array; values: Float32Array } {
  const n = b.length >> 3;
  let ab: ArrayBufferLike = b.buffer;
  let off = b.byteOffset;
  if ((off & 3) !== 0) {
    const copy = new ArrayBuffer(b.length);
    new Uint8Array(copy).set(b);
    ab = copy;
    off = 0;
  }
  return { indices: new Uint32Array(ab, off, n), values: new Float32Array(ab, off + n * 4, n) };
}

/** Row ids of one write batch, as stored in `_store_changes.rids`. */
export function encodeRids(rids: number[]): Buffer {
  return Buffer.from(Float64Array.from(rids).buffer);
}

export function decodeRids(b: Buffer): Float64Array {
  if ((b.byteOffset & 7) === 0) return new Float64Array(b.buffer, b.byteOffset, b.length >> 3);
  const out = new Float64Array(b.length >> 3);
  new Uint8Array(out.buffer).set(b);
  return out;
}
