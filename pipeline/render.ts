/**
 * Render: a record's current row → one document (context header, text,
 * payload), through the source map. Also the fan-out: which records show a
 * given record (an organization's name appears in its people, deals,
 * interactions and notes), so a change to it re-renders them.
 *
 * All statements are prepared once per Renderer. Callers run a batch's
 * renders inside one short read transaction (invariant 5: never a long one).
 */
import type { Db } from '../crm/db.js';
import {
  decodePk,
  dependentsOf,
  encodePk,
  parseRecordKey,
  recordKey,
  recordTables,
  type RecordTableMap,
  type SourceMap,
} from '../crm/sourceMap.js';
import { PermanentError } from '../config/errors.js';

export interface RenderedDoc {
  recordKey: string;
  table: string;
  title: string;
  /** One line of context repeated at the top of every chunk. */
  header: string;
  /** Short "Label: value" lines. */
  fields: string[];
  /** Long-text column values, chunked along paragraphs and sentences. */
  long: string[];
  payload: {
    kind: string | null;
    stage: string | null;
    organization_id: string | null;
    date: string | null;
    owner: string | null;
    [extra: string]: string | number | boolean | null;
  };
}

const q = (id: string): string => `"${id.replace(/"/g, '""')}"`;

/** Longest title kept in payloads and headers (a note's title is its body). */
const TITLE_MAX_CHARS = 160;
/** Most related names listed in a header (an all-hands meeting can have hundreds of participants). */
const HEADER_MAX_NAMES = 25;

/**
 * Text as it goes into the index: NUL bytes removed (they end C strings in
 * some tools), lone surrogates replaced, BLOBs described rather than decoded.
 */
export function cleanText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (Buffer.isBuffer(v)) return `[binary ${v.length} bytes]`;
  let s = typeof v === 'string' ? v : String(v);
  if (s.includes('\0')) s = s.replace(/\0/g, '');
  if (!s.isWellFormed()) s = s.toWellFormed();
  s = s.trim();
  return s === '' ? null : s;
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : s.slice(0, n - 1).trimEnd() + '…';
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ');
}

interface TablePlan {
  map: RecordTableMap;
  load: import('better-sqlite3').Statement;
  title: import('better-sqlite3').Statement;
  keyWhere: string;
}

export class Renderer {
  private readonly plans = new Map<string, TablePlan>();
  private readonly relStmts = new Map<string, import('better-sqlite3').Statement>();
  private readonly depStmts = new Map<
    string,
    { from: RecordTableMap; stmt: import('better-sqlite3').Statement; polymorphic: boolean }[]
  >();

  /** Titles of related records, kept only while `batch()` runs (one read transaction: one snapshot). */
  private titleCache: Map<string, string | null> | null = null;

  constructor(
    private readonly db: Db,
    readonly map: SourceMap,
  ) {
    for (const t of recordTables(map)) {
      const keyWhere = t.key.map((k) => `${q(k)} = ?`).join(' AND ');
      this.plans.set(t.table, {
        map: t,
        keyWhere,
        load: db.prepare(`SELECT * FROM ${q(t.table)} WHERE ${keyWhere}`),
        title: db.prepare(`SELECT ${q(t.titleColumn)} AS title FROM ${q(t.table)} WHERE ${keyWhere}`),
      });
    }
  }

  /**
   * Run `fn` (a batch of renders inside one read transaction) with related
   * records' titles cached: a page of interactions names the same few
   * organizations over and over.
   */
  batch<T>(fn: () => T): T {
    if (this.titleCache) return fn();
    this.titleCache = new Map();
    try {
      return fn();
    } finally {
      this.titleCache = null;
    }
  }

  /** Cleaned title of `target`'s row with key `id`, or null. */
  private relatedTitle(target: TablePlan, id: unknown): string | null {
    // Only plain keys are cached: String() of two different BLOB keys can be equal.
    const cacheable = typeof id === 'number' || typeof id === 'string' || typeof id === 'bigint';
    const cache = cacheable ? this.titleCache : null;
    const k = cache ? `${target.map.table}\u0000${typeof id}\u0000${String(id)}` : '';
    if (cache?.has(k)) return cache.get(k)!;
    const hit = target.title.get(id) as { title: unknown } | undefined;
    const name = hit ? cleanText(hit.title) : null;
    cache?.set(k, name);
    return name;
  }

  isRecordTable(table: string): boolean {
    return this.plans.has(table);
  }

  /** The current document of `table:pk`, or null when the row is gone (a delete). */
  render(key: string): RenderedDoc | null {
    const { table, pk } = parseRecordKey(key);
    const plan = this.plans.get(table);
    if (!plan)
      throw new PermanentError(`Record ${key}: table "${table}" is not a record table in the source map.`);
    const parts = decodePk(pk);
    if (parts.length !== plan.map.key.length) {
      throw new PermanentError(
        `Record ${key}: expected ${plan.map.key.length} key part(s) for ${table}, got ${parts.length}.`,
      );
    }
    const row = plan.load.get(...parts) as Record<string, unknown> | undefined;
    if (!row) return null;
    return this.renderRow(plan.map, row);
  }

  renderRow(t: RecordTableMap, row: Record<string, unknown>): RenderedDoc {
    const key = recordKey(t.table, encodePk(t.key.map((k) => row[k])));
    const title = truncate(
      oneLine(cleanText(row[t.titleColumn]) ?? `${t.label} ${encodePk(t.key.map((k) => row[k]))}`),
      TITLE_MAX_CHARS,
    );
    const headerParts = [`${t.label}: ${title}`];
    for (const r of t.relations ?? []) {
      const names = this.relationNames(t, r, row);
      if (names.length > 0) headerParts.push(`${r.name}: ${names.join(', ')}`);
    }
    const chunkCols = new Set(t.chunkColumns ?? []);
    const fields: string[] = [];
    const long: string[] = [];
    for (const f of t.text) {
      const v = cleanText(row[f.column]);
      if (v === null) continue;
      if (chunkCols.has(f.column)) long.push(f.label ? `${f.label}: ${v}` : v);
      else if (f.column !== t.titleColumn || f.label)
        fields.push(f.label ? `${f.label}: ${oneLine(v)}` : oneLine(v));
    }
    const payload: RenderedDoc['payload'] = {
      kind: null,
      stage: null,
      organization_id: null,
      date: null,
      owner: null,
    };
    for (const [field, col] of Object.entries(t.payload)) {
      const v = row[col];
      payload[field] =
        v === null || v === undefined
          ? null
          : typeof v === 'number' && field !== 'organization_id'
            ? v
            : cleanText(v);
    }
    return { recordKey: key, table: t.table, title, header: headerParts.join(' | '), fields, long, payload };
  }

  private relationNames(
    t: RecordTableMap,
    r: NonNullable<RecordTableMap['relations']>[number],
    row: Record<string, unknown>,
  ): string[] {
    if (r.kind === 'belongsTo') {
      const target = this.plans.get(r.table);
      const v = row[r.column];
      if (!target || v === null || v === undefined) return [];
      const name = this.relatedTitle(target, v);
      return name ? [truncate(oneLine(name), TITLE_MAX_CHARS)] : [];
    }
    if (r.kind === 'polymorphic') {
      const table = cleanText(row[r.tableColumn]);
      const id = row[r.idColumn];
      const target = table ? this.plans.get(table) : undefined;
      if (!target || id === null || id === undefined) return [];
      const name = this.relatedTitle(target, id);
      return name ? [`${truncate(oneLine(name), TITLE_MAX_CHARS)} (${target.map.label})`] : [];
    }
    const target = this.plans.get(r.table);
    if (!target) return [];
    const cacheKey = `${t.table}->${r.via}`;
    let stmt = this.relStmts.get(cacheKey);
    if (!stmt) {
      const join = r.remoteColumns.map((c, i) => `t.${q(target.map.key[i]!)} = v.${q(c)}`).join(' AND ');
      const where = r.localColumns.map((c) => `v.${q(c)} = ?`).join(' AND ');
      stmt = this.db.prepare(
        `SELECT t.${q(target.map.titleColumn)} AS title FROM ${q(r.via)} v JOIN ${q(r.table)} t ON ${join} WHERE ${where} ORDER BY 1 LIMIT ${HEADER_MAX_NAMES}`,
      );
      this.relStmts.set(cacheKey, stmt);
    }
    const rows = stmt.all(...t.key.map((k) => row[k])) as { title: unknown }[];
    return rows
      .map((x) => cleanText(x.title))
      .filter((x): x is string => x !== null)
      .map((x) => truncate(oneLine(x), 80));
  }

  /** Record keys whose rendering shows `key` (one level: each render shows only direct relations). */
  dependents(key: string): string[] {
    const { table, pk } = parseRecordKey(key);
    const target = this.plans.get(table);
    if (!target) return [];
    let deps = this.depStmts.get(table);
    if (!deps) {
      deps = [];
      for (const { from, relation: r } of dependentsOf(this.map, table)) {
        const cols = from.key.map((k) => q(k)).join(', ');
        if (r.kind === 'belongsTo') {
          deps.push({
            from,
            polymorphic: false,
            stmt: this.db.prepare(`SELECT ${cols} FROM ${q(from.table)} WHERE ${q(r.column)} = ?`),
          });
        } else if (r.kind === 'polymorphic') {
          deps.push({
            from,
            polymorphic: true,
            stmt: this.db.prepare(
              `SELECT ${cols} FROM ${q(from.table)} WHERE ${q(r.tableColumn)} = ? AND ${q(r.idColumn)} = ?`,
            ),
          });
        } else {
          const local = r.localColumns.map((c) => q(c)).join(', ');
          const where = r.remoteColumns.map((c) => `${q(c)} = ?`).join(' AND ');
          deps.push({
            from,
            polymorphic: false,
            stmt: this.db.prepare(`SELECT ${local} FROM ${q(r.via)} WHERE ${where}`),
          });
        }
      }
      this.depStmts.set(table, deps);
    }
    const parts = decodePk(pk);
    const out: string[] = [];
    for (const d of deps) {
      // Polymorphic ids are single-column; composite targets cannot be named by one id column.
      if (d.polymorphic && parts.length !== 1) continue;
      const rows = (
        d.polymorphic ? d.stmt.raw().all(table, parts[0]) : d.stmt.raw().all(...parts)
      ) as unknown[][];
      for (const r of rows) out.push(recordKey(d.from.table, encodePk(r)));
    }
    return out;
  }

  /** Every record key of a table in key order, page by page (keyset pagination: no long read). */
  *scanKeys(table: string, pageSize = 5000): Generator<string[]> {
    const plan = this.plans.get(table);
    if (!plan) return;
    const keyCols = plan.map.key.map((k) => q(k)).join(', ');
    const first = this.db.prepare(`SELECT ${keyCols} FROM ${q(table)} ORDER BY ${keyCols} LIMIT ?`).raw();
    const tuple = plan.map.key.length === 1 ? keyCols : `(${keyCols})`;
    const placeholders = plan.map.key.length === 1 ? '?' : `(${plan.map.key.map(() => '?').join(', ')})`;
    const next = this.db
      .prepare(
        `SELECT ${keyCols} FROM ${q(table)} WHERE ${tuple} > ${placeholders} ORDER BY ${keyCols} LIMIT ?`,
      )
      .raw();
    let rows = first.all(pageSize) as unknown[][];
    while (rows.length > 0) {
      yield rows.map((r) => recordKey(table, encodePk(r)));
      const last = rows[rows.length - 1]!;
      rows = next.all(...last, pageSize) as unknown[][];
    }
  }
}
