/**
 * CRM reads for the MCP tools, driven by the source map: a record's mapped
 * columns, titles, and its related records found through the map's relations
 * (in both directions). No caller-supplied SQL ever reaches SQLite: table and
 * column names come only from the source map (checked against the live schema),
 * values only as bound parameters.
 */
import type { Db } from '../crm/db.js';
import {
  decodePk,
  encodePk,
  recordKey,
  recordTables,
  type ManyToManyRelation,
  type RecordTableMap,
  type SourceMap,
} from '../crm/sourceMap.js';

/** Related records listed per relation: enough to orient an agent, small enough to read. */
export const RELATED_LIMIT = 20;
/** Titles longer than this are cut (a note's title is its body). */
export const TITLE_MAX = 200;

export type Cell = string | number | null;
export type Row = Record<string, Cell>;

export interface RelatedRef {
  relation: string;
  table: string;
  key: string;
  id: string;
  title: string;
  date: string | null;
}

export class ToolError extends Error {}

export function q(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** SQLite values as JSON-safe cells: bigints as text, blobs as a size note. */
export function cell(v: unknown): Cell {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return v.toString();
  if (Buffer.isBuffer(v)) return `<${v.length} bytes>`;
  return String(v);
}

export function cleanRow(r: Record<string, unknown>): Row {
  const out: Row = {};
  for (const [k, v] of Object.entries(r)) out[k] = cell(v);
  return out;
}

export function shortTitle(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v).replace(/\s+/g, ' ').trim();
  return s.length > TITLE_MAX ? `${s.slice(0, TITLE_MAX - 1)}…` : s;
}

/** Reads over one connection, with the live column list of each table cached. */
export class CrmReader {
  private readonly columns = new Map<string, Set<string>>();
  constructor(
    readonly db: Db,
    readonly map: SourceMap,
  ) {}

  recordTable(table: string): RecordTableMap {
    const t = recordTables(this.map).find((x) => x.table === table);
    if (!t) {
      const names = recordTables(this.map).map((x) => x.table);
      throw new ToolError(
        `table "${table}" is not an indexed record table; use one of: ${names.join(', ')}.`,
      );
    }
    return t;
  }

  tableColumns(table: string): Set<string> {
    let cols = this.columns.get(table);
    if (!cols) {
      const rows = this.db.prepare(`SELECT name FROM pragma_table_info(?)`).all(table) as { name: string }[];
      cols = new Set(rows.map((r) => r.name));
      this.columns.set(table, cols);
    }
    return cols;
  }

  hasTable(table: string): boolean {
    return (
      this.db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(table) !==
      undefined
    );
  }

  /** Key, title, text, payload, relation and writable columns that exist in the live table. */
  mappedColumns(t: RecordTableMap): string[] {
    const want = new Set<string>([...t.key, t.titleColumn]);
    for (const f of t.text) want.add(f.column);
    for (const c of Object.values(t.payload)) want.add(c);
    for (const r of t.relations ?? []) {
      if (r.kind === 'belongsTo') want.add(r.column);
      if (r.kind === 'polymorphic') {
        want.add(r.tableColumn);
        want.add(r.idColumn);
      }
    }
    for (const c of t.writable ?? []) want.add(c);
    const live = this.tableColumns(t.table);
    return [...want].filter((c) => live.has(c));
  }

  keyValues(t: RecordTableMap, id: string): string[] {
    const parts = decodePk(id);
    if (parts.length !== t.key.length) {
      throw new ToolError(
        `id "${id}" does not fit table ${t.table}, whose key has ${t.key.length} column(s) (${t.key.join(', ')}); join composite keys with '/'.`,
      );
    }
    return parts;
  }

  /** The mapped columns of one record, or undefined when it does not exist. */
  getRow(t: RecordTableMap, id: string): Row | undefined {
    const vals = this.keyValues(t, id);
    const cols = this.mappedColumns(t);
    const where = t.key.map((k) => `${q(k)} = ?`).join(' AND ');
    const r = this.db
      .prepare(`SELECT ${cols.map(q).join(', ')} FROM ${q(t.table)} WHERE ${where}`)
      .get(...vals) as Record<string, unknown> | undefined;
    return r ? cleanRow(r) : undefined;
  }

  /** Select list giving (id, title, date) for refs of table t, aliased with `a`. */
  private refSelect(t: RecordTableMap, a: string): string {
    const id =
      t.key.length === 1 ? `${a}.${q(t.key[0]!)}` : t.key.map((k) => `${a}.${q(k)}`).join(` || '/' || `);
    const date = this.dateColumn(t);
    return `${id} AS id, ${a}.${q(t.titleColumn)} AS title, ${date ? `${a}.${q(date)}` : 'NULL'} AS date`;
  }

  dateColumn(t: RecordTableMap): string | undefined {
    const c = t.payload.date;
    return c && this.tableColumns(t.table).has(c) ? c : undefined;
  }

  private orderByDate(t: RecordTableMap, a: string): string {
    const d = this.dateColumn(t);
    return d ? `ORDER BY ${a}.${q(d)} DESC` : '';
  }

  private toRefs(relation: string, t: RecordTableMap, rows: unknown[]): RelatedRef[] {
    return (rows as { id: unknown; title: unknown; date: unknown }[]).map((r) => {
      const id = t.key.length === 1 ? encodePk([cell(r.id)]) : String(cell(r.id));
      return {
        relation,
        table: t.table,
        key: recordKey(t.table, id),
        id,
        title: shortTitle(r.title),
        date: r.date === null || r.date === undefined ? null : String(cell(r.date)),
      };
    });
  }

  /** The title of any record, or undefined when the table is not mapped or the row is gone. */
  ref(relation: string, table: string, id: string): RelatedRef | undefined {
    const t = recordTables(this.map).find((x) => x.table === table);
    if (!t) return undefined;
    const parts = decodePk(id);
    if (parts.length !== t.key.length) return undefined;
    const where = t.key.map((k) => `a.${q(k)} = ?`).join(' AND ');
    const r = this.db
      .prepare(`SELECT ${this.refSelect(t, 'a')} FROM ${q(t.table)} a WHERE ${where}`)
      .get(...parts);
    return r ? this.toRefs(relation, t, [r])[0] : undefined;
  }

  /**
   * Records related to `row` of `t`: what it points at (belongsTo, polymorphic,
   * manyToMany) and what points at it (the reverse of every relation in the map
   * that targets `t`), newest first where the table has a date.
   */
  related(t: RecordTableMap, id: string, row: Row): RelatedRef[] {
    const out: RelatedRef[] = [];
    const keyVals = this.keyValues(t, id);
    for (const r of t.relations ?? []) {
      if (r.kind === 'belongsTo') {
        const v = row[r.column];
        if (v !== null && v !== undefined) {
          const ref = this.ref(r.name, r.table, encodePk([v]));
          if (ref) out.push(ref);
        }
      } else if (r.kind === 'polymorphic') {
        const tv = row[r.tableColumn];
        const iv = row[r.idColumn];
        if (tv !== null && tv !== undefined && iv !== null && iv !== undefined) {
          const ref = this.ref(r.name, String(tv), encodePk([iv]));
          if (ref) out.push(ref);
        }
      } else {
        out.push(
          ...this.viaLink(
            r,
            r.name,
            this.recordTableOrNull(r.table),
            r.localColumns,
            r.remoteColumns,
            keyVals,
          ),
        );
      }
    }
    for (const u of recordTables(this.map)) {
      for (const r of u.relations ?? []) {
        const name = u.table;
        if (r.kind === 'belongsTo' && r.table === t.table && t.key.length === 1) {
          if (!this.tableColumns(u.table).has(r.column)) continue;
          const rows = this.db
            .prepare(
              `SELECT ${this.refSelect(u, 'a')} FROM ${q(u.table)} a WHERE a.${q(r.column)} = ? ${this.orderByDate(u, 'a')} LIMIT ${RELATED_LIMIT}`,
            )
            .all(keyVals[0]);
          out.push(...this.toRefs(name, u, rows));
        } else if (r.kind === 'manyToMany' && r.table === t.table) {
          out.push(...this.viaLink(r, name, u, r.remoteColumns, r.localColumns, keyVals));
        } else if (r.kind === 'polymorphic' && t.key.length === 1) {
          const rows = this.db
            .prepare(
              `SELECT ${this.refSelect(u, 'a')} FROM ${q(u.table)} a WHERE a.${q(r.tableColumn)} = ? AND a.${q(r.idColumn)} = ? ${this.orderByDate(u, 'a')} LIMIT ${RELATED_LIMIT}`,
            )
            .all(t.table, keyVals[0]);
          out.push(...this.toRefs(name, u, rows));
        }
      }
    }
    return out;
  }

  private recordTableOrNull(table: string): RecordTableMap | undefined {
    return recordTables(this.map).find((x) => x.table === table);
  }

  /**
   * Records of `other` linked through r.via, where the link's `fromCols` hold
   * our key and `toCols` hold theirs (swap them to walk the relation backwards).
   */
  private viaLink(
    r: ManyToManyRelation,
    name: string,
    other: RecordTableMap | undefined,
    fromCols: string[],
    toCols: string[],
    keyVals: string[],
  ): RelatedRef[] {
    if (!other || !this.hasTable(r.via) || other.key.length !== toCols.length) return [];
    const join = toCols.map((c, i) => `a.${q(other.key[i]!)} = v.${q(c)}`).join(' AND ');
    const where = fromCols.map((c) => `v.${q(c)} = ?`).join(' AND ');
    const rows = this.db
      .prepare(
        `SELECT ${this.refSelect(other, 'a')} FROM ${q(r.via)} v JOIN ${q(other.table)} a ON ${join} WHERE ${where} ${this.orderByDate(other, 'a')} LIMIT ${RELATED_LIMIT}`,
      )
      .all(...keyVals);
    return this.toRefs(name, other, rows);
  }
}
