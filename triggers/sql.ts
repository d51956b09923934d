/**
 * The capture SQL, generated from the source map: the changelog tables and
 * the AFTER INSERT / UPDATE / DELETE triggers. Pure functions only, so the
 * exact text that install writes is also what verify compares against
 * sqlite_master.
 *
 * Invariants kept here:
 * - triggers write keys only (table id, row key, op, time), never row contents;
 * - row_key equals crm/sourceMap.ts encodePk() of the key values;
 * - no pragma_* functions and no JSON in trigger bodies (they break clients
 *   with trusted_schema=OFF and hit SQLite's argument limit on wide tables);
 * - every identifier is quoted, so tables named "order" or columns with spaces work;
 * - seq is never reused: it is the changelog's rowid and prune never deletes the newest row.
 *
 * The text is written in the form SQLite stores in sqlite_master (no IF NOT
 * EXISTS on triggers, single spaces after the leading keywords), so verify can
 * compare strings.
 */
import { createHash } from 'node:crypto';
import {
  watchedColumns,
  type LinkTableMap,
  type RecordTableMap,
  type SourceMap,
  type TableMap,
} from '../crm/sourceMap.js';

/** Bump when the generated SQL changes shape; install then replaces every trigger. */
export const CAPTURE_VERSION = 1;

export const CDC_PREFIX = '_cdc_';

/** Our tables, created by install and dropped by uninstall. */
export const CHANGELOG_SCHEMA_SQL: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS _cdc_meta (key TEXT PRIMARY KEY, value TEXT)`,
  `CREATE TABLE IF NOT EXISTS _cdc_tables (id INTEGER PRIMARY KEY, name TEXT UNIQUE)`,
  // seq is a plain rowid alias, not AUTOINCREMENT: SQLite assigns max(seq)+1, and pruneChangelog always keeps
  // the newest row, so seq is never reused. AUTOINCREMENT would guarantee the same by rewriting the
  // sqlite_sequence page on every commit, a cost on every CRM write (docs/decisions/015-capture-overhead-floor.md).
  `CREATE TABLE IF NOT EXISTS _cdc_changelog (seq INTEGER PRIMARY KEY, table_id INTEGER NOT NULL, row_key TEXT NOT NULL, op TEXT NOT NULL, at INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS _cdc_consumers (name TEXT PRIMARY KEY, seq INTEGER NOT NULL, updated_at INTEGER, lease_owner TEXT, lease_expires_at INTEGER)`,
];

export const CDC_TABLES = ['_cdc_meta', '_cdc_tables', '_cdc_changelog', '_cdc_consumers'] as const;

/** Unix epoch milliseconds without any pragma or extension function. */
export const NOW_MS_SQL = `CAST((julianday('now') - 2440587.5)*86400000 AS INTEGER)`;

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** What the generator needs to know about one mapped table beyond the map. */
export interface TablePlan {
  map: TableMap;
  /** Our id for this table in _cdc_tables (stable across installs: old changelog rows refer to it). */
  id: number;
  /** The INTEGER PRIMARY KEY column, if the key is exactly that: it is always an integer, so needs no escaping. */
  rowidAlias?: string | null;
}

export interface CapturePlan {
  tables: TablePlan[];
  /** Table ids of every mapped record table (link triggers write their sides' ids). */
  ids: ReadonlyMap<string, number>;
}

export interface TriggerDef {
  name: string;
  table: string;
  sql: string;
}

/**
 * The pk text of a row as SQL, equal to encodePk(): key values as text joined
 * with '/', each escaping '%' then '/'; NULL becomes ''. A rowid alias is an
 * integer and cannot contain either character, so it skips the replace() calls.
 */
export function keySql(ref: 'NEW' | 'OLD', columns: readonly string[], rowidAlias?: string | null): string {
  return columns
    .map((c) =>
      c === rowidAlias
        ? `CAST(${ref}.${quoteIdent(c)} AS TEXT)`
        : `replace(replace(coalesce(${ref}.${quoteIdent(c)},''),'%','%25'),'/','%2F')`,
    )
    .join(` || '/' || `);
}

/**
 * True when any of `columns` differs between OLD and NEW. COLLATE BINARY so a
 * case-only edit of a NOCASE column still counts as a change.
 */
function changedSql(columns: readonly string[]): string {
  return columns.map((c) => `OLD.${quoteIdent(c)} IS NOT NEW.${quoteIdent(c)} COLLATE BINARY`).join(' OR ');
}

function sameSql(columns: readonly string[]): string {
  return columns.map((c) => `OLD.${quoteIdent(c)} IS NEW.${quoteIdent(c)} COLLATE BINARY`).join(' AND ');
}

/** Trigger name: `_cdc_<table>_<suffix>`; the two-letter suffix keeps names unique per table. */
export function triggerName(table: string, suffix: 'ai' | 'ad' | 'au' | 'ak'): string {
  return `${CDC_PREFIX}${table}_${suffix}`;
}

const insertRow = (id: number, key: string, op: 'I' | 'U' | 'D'): string =>
  `INSERT INTO _cdc_changelog (table_id, row_key, op, at) VALUES (${id}, ${key}, '${op}', ${NOW_MS_SQL});`;

function recordTriggers(p: TablePlan & { map: RecordTableMap }): TriggerDef[] {
  const t = p.map;
  const q = quoteIdent(t.table);
  const keyNew = keySql('NEW', t.key, p.rowidAlias);
  const keyOld = keySql('OLD', t.key, p.rowidAlias);
  const watched = watchedColumns(t);
  const nonKey = watched.filter((c) => !t.key.includes(c));
  const def = (suffix: 'ai' | 'ad' | 'au' | 'ak', head: string, body: string[]): TriggerDef => {
    const name = triggerName(t.table, suffix);
    return {
      name,
      table: t.table,
      sql: `CREATE TRIGGER ${quoteIdent(name)} ${head} BEGIN ${body.join(' ')} END`,
    };
  };
  const out = [
    def('ai', `AFTER INSERT ON ${q}`, [insertRow(p.id, keyNew, 'I')]),
    def('ad', `AFTER DELETE ON ${q}`, [insertRow(p.id, keyOld, 'D')]),
    // A key change is a delete of the old record and an insert of the new one: the index keys points by record key.
    def('ak', `AFTER UPDATE OF ${t.key.map(quoteIdent).join(', ')} ON ${q} WHEN ${changedSql(t.key)}`, [
      insertRow(p.id, keyOld, 'D'),
      insertRow(p.id, keyNew, 'I'),
    ]),
  ];
  if (nonKey.length > 0) {
    // UPDATE OF skips statements that do not name a watched column; the WHEN skips ORMs that
    // rewrite every column with the same value (only updated_at really changed).
    out.push(
      def(
        'au',
        `AFTER UPDATE OF ${nonKey.map(quoteIdent).join(', ')} ON ${q} WHEN (${sameSql(t.key)}) AND (${changedSql(nonKey)})`,
        [insertRow(p.id, keyNew, 'U')],
      ),
    );
  }
  return out;
}

function linkTriggers(p: TablePlan & { map: LinkTableMap }, ids: ReadonlyMap<string, number>): TriggerDef[] {
  const t = p.map;
  const q = quoteIdent(t.table);
  const sides = t.sides.map((s) => {
    const id = ids.get(s.table);
    if (id === undefined) throw new Error(`link table ${t.table}: side table ${s.table} has no capture id`);
    return { id, columns: s.columns };
  });
  const now = NOW_MS_SQL;
  const valuesFor = (ref: 'NEW' | 'OLD'): string =>
    `INSERT INTO _cdc_changelog (table_id, row_key, op, at) VALUES ${sides
      .map((s) => `(${s.id}, ${keySql(ref, s.columns)}, 'U', ${now})`)
      .join(', ')};`;
  const watched = watchedColumns(t);
  const def = (suffix: 'ai' | 'ad' | 'au', head: string, body: string[]): TriggerDef => {
    const name = triggerName(t.table, suffix);
    return {
      name,
      table: t.table,
      sql: `CREATE TRIGGER ${quoteIdent(name)} ${head} BEGIN ${body.join(' ')} END`,
    };
  };
  return [
    // A link row is not a record: its write changes how both sides render, so both sides are recorded.
    def('ai', `AFTER INSERT ON ${q}`, [valuesFor('NEW')]),
    def('ad', `AFTER DELETE ON ${q}`, [valuesFor('OLD')]),
    def('au', `AFTER UPDATE OF ${watched.map(quoteIdent).join(', ')} ON ${q} WHEN ${changedSql(watched)}`, [
      // The side a row moved away from loses it; the side it moved to gains it. Unmoved sides are recorded once.
      ...sides.map(
        (s) =>
          `INSERT INTO _cdc_changelog (table_id, row_key, op, at) SELECT ${s.id}, ${keySql('OLD', s.columns)}, 'U', ${now} WHERE ${changedSql(s.columns)};`,
      ),
      valuesFor('NEW'),
    ]),
  ];
}

/** Every trigger for the plan, in map order. */
export function captureTriggers(plan: CapturePlan): TriggerDef[] {
  return plan.tables.flatMap((p) =>
    p.map.kind === 'record'
      ? recordTriggers(p as TablePlan & { map: RecordTableMap })
      : linkTriggers(p as TablePlan & { map: LinkTableMap }, plan.ids),
  );
}

/**
 * Table ids for the map: existing ones are kept (changelog rows refer to
 * them), new tables get the next free ids in map order.
 */
export function assignTableIds(map: SourceMap, existing: ReadonlyMap<string, number>): Map<string, number> {
  const ids = new Map(existing);
  let next = Math.max(0, ...existing.values()) + 1;
  for (const t of map.tables) if (!ids.has(t.table)) ids.set(t.table, next++);
  return ids;
}

/** Hash of everything install writes: a different fingerprint means the installed triggers are out of date. */
export function captureFingerprint(triggers: readonly TriggerDef[]): string {
  const h = createHash('sha256');
  h.update(`v${CAPTURE_VERSION}\n`);
  for (const s of CHANGELOG_SCHEMA_SQL) h.update(s + '\n');
  for (const t of triggers) h.update(`${t.name}\n${t.sql}\n`);
  return h.digest('hex').slice(0, 32);
}
