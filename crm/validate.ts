/**
 * Validating a source map: against itself (relations point at mapped tables,
 * key counts line up) and against the live database (every table is a real
 * table with a primary key, every column exists). Invariant kept: capture is
 * never installed from a map that would produce triggers on a view, on a
 * virtual table, or with record keys that do not identify a row.
 *
 * Introspection uses PRAGMA table_info / index_list outside any trigger; the
 * trigger bodies themselves never call pragma functions (docs/capture.md).
 */
import { SourceMapError } from '../config/errors.js';
import type { Db } from './db.js';
import { watchedColumns, type RecordTableMap, type SourceMap, type TableMap } from './sourceMap.js';

export interface ColumnInfo {
  name: string;
  type: string;
  /** 1-based position in the primary key, 0 when not part of it. */
  pk: number;
}

export type TableInfo =
  | { name: string; kind: 'missing' }
  | { name: string; kind: 'view' }
  | { name: string; kind: 'virtual' }
  | {
      name: string;
      kind: 'table';
      columns: ColumnInfo[];
      /** Declared primary-key columns in key order; empty for a table keyed only by the implicit rowid. */
      primaryKey: string[];
      /** Column sets of UNIQUE indexes (they identify a row as well as the primary key does). */
      uniqueKeys: string[][];
      withoutRowid: boolean;
      /** The INTEGER PRIMARY KEY column that aliases the rowid: always an integer, never NULL. */
      rowidAlias: string | null;
    };

const quoteIdent = (s: string): string => `"${s.replace(/"/g, '""')}"`;

/** What `name` is in the live database, with its columns and keys when it is an ordinary table. */
export function inspectTable(db: Db, name: string): TableInfo {
  const row = db
    .prepare(
      `SELECT type, name, sql FROM sqlite_master WHERE type IN ('table','view') AND name = ? COLLATE NOCASE`,
    )
    .get(name) as { type: string; name: string; sql: string | null } | undefined;
  if (!row) return { name, kind: 'missing' };
  if (row.type === 'view') return { name: row.name, kind: 'view' };
  const sql = row.sql ?? '';
  if (/^\s*CREATE\s+VIRTUAL\s+TABLE/i.test(sql)) return { name: row.name, kind: 'virtual' };
  const columns = (db.pragma(`table_info(${quoteIdent(row.name)})`) as ColumnInfo[]).map((c) => ({
    name: c.name,
    type: c.type,
    pk: c.pk,
  }));
  const primaryKey = columns
    .filter((c) => c.pk > 0)
    .sort((a, b) => a.pk - b.pk)
    .map((c) => c.name);
  const uniqueKeys: string[][] = [];
  for (const ix of db.pragma(`index_list(${quoteIdent(row.name)})`) as {
    name: string;
    unique: number;
    partial: number;
  }[]) {
    if (!ix.unique || ix.partial) continue;
    const cols = (db.pragma(`index_info(${quoteIdent(ix.name)})`) as { name: string | null }[]).map(
      (c) => c.name,
    );
    if (cols.every((c): c is string => c !== null)) uniqueKeys.push(cols);
  }
  // Table options follow the closing parenthesis of the column list: "...) STRICT, WITHOUT ROWID".
  const tail = sql.slice(sql.lastIndexOf(')') + 1);
  const withoutRowid = /\bWITHOUT\s+ROWID\b/i.test(tail);
  const only = primaryKey.length === 1 ? columns.find((c) => c.name === primaryKey[0]) : undefined;
  // SQLite quirk: only a column declared exactly INTEGER PRIMARY KEY (not INT, not DESC) on a rowid table
  // aliases the rowid; the DESC case is rare enough that we accept treating it as an alias too.
  const rowidAlias = !withoutRowid && only && only.type.toUpperCase() === 'INTEGER' ? only.name : null;
  return { name: row.name, kind: 'table', columns, primaryKey, uniqueKeys, withoutRowid, rowidAlias };
}

const sameSet = (a: string[], b: string[]): boolean => {
  const la = a.map((s) => s.toLowerCase()).sort();
  const lb = b.map((s) => s.toLowerCase()).sort();
  return la.length === lb.length && la.every((v, i) => v === lb[i]);
};

/** Every column the map reads from a table, with where in the map it is named (for error messages). */
function referencedColumns(map: SourceMap, t: TableMap): { column: string; where: string }[] {
  const out: { column: string; where: string }[] = [];
  t.key.forEach((c, i) => out.push({ column: c, where: `key[${i}]` }));
  for (const c of watchedColumns(t)) out.push({ column: c, where: 'its text/payload/relation columns' });
  if (t.kind === 'record') {
    (t.chunkColumns ?? []).forEach((c, i) => out.push({ column: c, where: `chunkColumns[${i}]` }));
    (t.writable ?? []).forEach((c, i) => out.push({ column: c, where: `writable[${i}]` }));
    (t.watch ?? []).forEach((c, i) => out.push({ column: c, where: `watch[${i}]` }));
  }
  // Link-table columns named by a manyToMany relation of another table.
  for (const rt of map.tables) {
    if (rt.kind !== 'record') continue;
    for (const r of rt.relations ?? []) {
      if (r.kind === 'manyToMany' && r.via === t.table) {
        for (const c of [...r.localColumns, ...r.remoteColumns]) {
          out.push({ column: c, where: `relation "${r.name}" of table "${rt.table}"` });
        }
      }
    }
  }
  return out;
}

/**
 * The map's own consistency, without a database: unique table names, relation
 * and link targets that are mapped record tables, and key column counts that
 * match the table they point at. Throws SourceMapError naming the first problem.
 */
export function checkSourceMapConsistency(map: SourceMap): void {
  const seen = new Set<string>();
  const byName = new Map<string, TableMap>();
  for (const t of map.tables) {
    const lower = t.table.toLowerCase();
    if (seen.has(lower))
      throw new SourceMapError(`The source map lists table "${t.table}" twice; keep one entry.`);
    seen.add(lower);
    byName.set(lower, t);
    if (t.table.includes(':')) {
      throw new SourceMapError(
        `The source map's table "${t.table}" contains ':', which record keys (table:pk) use as a separator; such a table cannot be indexed.`,
      );
    }
    if (/^(_cdc_|sqlite_)/i.test(t.table)) {
      throw new SourceMapError(
        `The source map names "${t.table}", a table crm-index or SQLite owns; remove it from the map.`,
      );
    }
    if (t.key.length === 0)
      throw new SourceMapError(
        `Table "${t.table}" in the source map has no key columns; list its primary key in "key".`,
      );
  }
  const record = (name: string): RecordTableMap | undefined => {
    const t = byName.get(name.toLowerCase());
    return t?.kind === 'record' ? t : undefined;
  };
  for (const t of map.tables) {
    if (t.kind === 'link') {
      if (t.sides.length === 0)
        throw new SourceMapError(
          `Link table "${t.table}" in the source map has no sides; list the two tables it links.`,
        );
      for (const [i, s] of t.sides.entries()) {
        const target = record(s.table);
        if (!target) {
          throw new SourceMapError(
            `Link table "${t.table}" side ${i} points at "${s.table}", which is not a record table in the source map; add it or fix the side.`,
          );
        }
        if (s.columns.length !== target.key.length) {
          throw new SourceMapError(
            `Link table "${t.table}" side ${i} gives ${s.columns.length} column(s) for "${s.table}", whose key has ${target.key.length} (${target.key.join(', ')}); give one link column per key column.`,
          );
        }
      }
      continue;
    }
    const keyCols = new Set(t.key.map((c) => c.toLowerCase()));
    for (const c of t.writable ?? []) {
      if (keyCols.has(c.toLowerCase())) {
        throw new SourceMapError(
          `Table "${t.table}": key column "${c}" is listed in "writable"; a record's key cannot be edited through MCP (it would move the record), so remove "${c}" from "writable".`,
        );
      }
    }
    const textCols = new Set(t.text.map((f) => f.column));
    for (const c of t.chunkColumns ?? []) {
      if (!textCols.has(c)) {
        throw new SourceMapError(
          `Table "${t.table}": chunk column "${c}" is not one of its text columns; add it to "text" or remove it from "chunkColumns".`,
        );
      }
    }
    for (const r of t.relations ?? []) {
      if (r.kind === 'polymorphic') continue;
      const target = record(r.table);
      if (!target) {
        throw new SourceMapError(
          `Table "${t.table}": relation "${r.name}" points at "${r.table}", which is not a record table in the source map; add it or fix the relation.`,
        );
      }
      if (r.kind === 'belongsTo' && target.key.length !== 1) {
        throw new SourceMapError(
          `Table "${t.table}": belongsTo relation "${r.name}" uses one column but "${r.table}" has a ${target.key.length}-column key; belongsTo needs a single-column key.`,
        );
      }
      if (r.kind === 'manyToMany') {
        const via = byName.get(r.via.toLowerCase());
        if (!via || via.kind !== 'link') {
          throw new SourceMapError(
            `Table "${t.table}": relation "${r.name}" goes via "${r.via}", which is not a link table in the source map; add it as { kind: "link" }.`,
          );
        }
        if (r.localColumns.length !== t.key.length) {
          throw new SourceMapError(
            `Table "${t.table}": relation "${r.name}" gives ${r.localColumns.length} localColumns but "${t.table}" has a ${t.key.length}-column key; give one local column per key column.`,
          );
        }
        if (r.remoteColumns.length !== target.key.length) {
          throw new SourceMapError(
            `Table "${t.table}": relation "${r.name}" gives ${r.remoteColumns.length} remoteColumns but "${r.table}" has a ${target.key.length}-column key; give one remote column per key column.`,
          );
        }
      }
    }
  }
}

/**
 * Check `map` against the live database. Throws SourceMapError naming the
 * first table or column that does not fit, and what to do about it.
 */
export function validateSourceMap(db: Db, map: SourceMap): void {
  checkSourceMapConsistency(map);
  for (const t of map.tables) {
    const problem = tableProblem(db, map, t);
    if (problem) throw problem;
  }
}

/**
 * Each mapped table whose live schema no longer fits the map (a column
 * renamed or dropped by a CRM migration, a table gone), with the error that
 * says so. The map's own consistency is not checked here (validateSourceMap).
 */
export function tableProblems(db: Db, map: SourceMap): Map<string, SourceMapError> {
  const out = new Map<string, SourceMapError>();
  for (const t of map.tables) {
    const problem = tableProblem(db, map, t);
    if (problem) out.set(t.table, problem);
  }
  return out;
}

function tableProblem(db: Db, map: SourceMap, t: TableMap): SourceMapError | null {
  const info = inspectTable(db, t.table);
  if (info.kind === 'missing') {
    return new SourceMapError(
      `The source map names table "${t.table}", which does not exist in the CRM database; fix the name or remove it from the map.`,
    );
  }
  if (info.kind === 'view') {
    return new SourceMapError(
      `The source map names "${t.table}", which is a view; views cannot carry change triggers. Map the tables the view reads instead.`,
    );
  }
  if (info.kind === 'virtual') {
    return new SourceMapError(
      `The source map names "${t.table}", which is a virtual table (FTS5 or similar); virtual tables cannot carry change triggers. Map its content table instead.`,
    );
  }
  if (info.primaryKey.length === 0) {
    return new SourceMapError(
      `Table "${t.table}" has no primary key (only the implicit rowid, which VACUUM may renumber), so its records have no stable key. Give it a PRIMARY KEY in the CRM schema, or remove it from the source map.`,
    );
  }
  const have = new Map(info.columns.map((c) => [c.name.toLowerCase(), c.name]));
  for (const { column, where } of referencedColumns(map, t)) {
    if (!have.has(column.toLowerCase())) {
      return new SourceMapError(
        `Table "${t.table}" has no column "${column}" (named in ${where} of the source map); its columns are ${info.columns.map((c) => c.name).join(', ')}. Fix the source map.`,
      );
    }
  }
  const identifies = sameSet(t.key, info.primaryKey) || info.uniqueKeys.some((u) => sameSet(u, t.key));
  if (!identifies) {
    return new SourceMapError(
      `Table "${t.table}": the source map's key (${t.key.join(', ')}) is neither its primary key (${info.primaryKey.join(', ')}) nor a UNIQUE index, so it may not identify one row; set "key" to [${info.primaryKey.map((c) => JSON.stringify(c)).join(', ')}].`,
    );
  }
  return null;
}
