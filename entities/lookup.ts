/**
 * Which entities a record is about, for the `entity_ids` payload field the
 * pipeline writes into each chunk. Reads entity_links (one indexed lookup per
 * record) and, for records that only point at people or organizations
 * (deals, interactions, notes), follows the source map's relations one hop.
 *
 * - an organization: its own entity;
 * - a person: its own entity and its organization's;
 * - any other record: the entities of the people/organizations its relations
 *   name (an interaction's organization and participants, a deal's
 *   organization, a note's subject, itself expanded the same way).
 */
import type { Db } from '../crm/db.js';
import {
  DEFAULT_SOURCE_MAP,
  decodePk,
  encodePk,
  parseRecordKey,
  recordKey,
  tableMap,
  type SourceMap,
} from '../crm/sourceMap.js';
import { DEFAULT_ENTITY_SOURCE, type EntitySource } from './source.js';

const q = (id: string) => `"${id.replace(/"/g, '""')}"`;

export interface LookupOptions {
  map?: SourceMap;
  source?: EntitySource;
}

/** Prepared statements per connection: preparing costs more than running these one-row lookups. */
const statementCache = new WeakMap<Db, Map<string, ReturnType<Db['prepare']>>>();

function prepared(db: Db, sql: string): ReturnType<Db['prepare']> {
  let cache = statementCache.get(db);
  if (!cache) statementCache.set(db, (cache = new Map()));
  let stmt = cache.get(sql);
  if (!stmt) cache.set(sql, (stmt = db.prepare(sql)));
  return stmt;
}

/**
 * SQL per (relation object, owning table) of a source map, built once: quoting
 * every identifier again for each record showed in profiles. Keyed by table too,
 * because a programmatic map may share one relation object between tables.
 */
const relationSqlCache = new WeakMap<object, Map<string, string>>();

function relationSql(relation: object, table: string, build: () => string): string {
  let byTable = relationSqlCache.get(relation);
  if (!byTable) relationSqlCache.set(relation, (byTable = new Map()));
  let sql = byTable.get(table);
  if (sql === undefined) byTable.set(table, (sql = build()));
  return sql;
}

/** Whether entity resolution has created its link table in this database yet. */
export function hasEntityLinks(db: Db): boolean {
  // Asked once per prepare slice: preparing the query each time cost about 0.16 ms.
  return (
    prepared(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get('entity_links') !==
    undefined
  );
}

export function entityIdsFor(db: Db, recordKeys: string[], opts: LookupOptions = {}): Map<string, string[]> {
  const map = opts.map ?? DEFAULT_SOURCE_MAP;
  const src = opts.source ?? DEFAULT_ENTITY_SOURCE;
  const linkStmt = prepared(db, 'SELECT entity_id FROM entity_links WHERE record_key = ?').pluck();
  // Memos for this call: a batch of interactions names the same organizations and people again and again.
  const ownMemo = new Map<string, string | undefined>();
  const own = (k: string): string | undefined => {
    if (ownMemo.has(k)) return ownMemo.get(k);
    const e = linkStmt.get(k) as string | undefined;
    ownMemo.set(k, e);
    return e;
  };
  const relatedMemo = new Map<string, string[]>();
  const personOrg = prepared(
    db,
    `SELECT ${q(src.people.organization)} FROM ${q(src.people.table)} WHERE ${q(src.people.key)} = ?`,
  ).pluck();

  const ofEntityRecord = (k: string, table: string, pk: string): string[] => {
    const ids: string[] = [];
    const e = own(k);
    if (e) ids.push(e);
    if (table === src.people.table) {
      const org = personOrg.get(decodePk(pk)[0]) as unknown;
      if (org !== null && org !== undefined) {
        const oe = own(recordKey(src.organizations.table, encodePk([org])));
        if (oe) ids.push(oe);
      }
    }
    return ids;
  };

  const isEntityTable = (t: string) => t === src.people.table || t === src.organizations.table;

  const ofRecord = (k: string, depth: number): string[] => {
    if (depth === 0) return ofRecordUncached(k, 0);
    const memoKey = `${depth}\u0000${k}`;
    let ids = relatedMemo.get(memoKey);
    if (!ids) relatedMemo.set(memoKey, (ids = ofRecordUncached(k, depth)));
    return ids;
  };

  const ofRecordUncached = (k: string, depth: number): string[] => {
    const { table, pk } = parseRecordKey(k);
    if (isEntityTable(table)) return ofEntityRecord(k, table, pk);
    const t = tableMap(map, table);
    if (!t || t.kind !== 'record' || depth > 1) return [];
    const keyVals = decodePk(pk);
    const where = () => t.key.map((c) => `${q(c)} = ?`).join(' AND ');
    const ids: string[] = [];
    for (const r of t.relations ?? []) {
      if (r.kind === 'belongsTo') {
        const v = prepared(
          db,
          relationSql(r, table, () => `SELECT ${q(r.column)} FROM ${q(table)} WHERE ${where()}`),
        )
          .pluck()
          .get(...keyVals) as unknown;
        if (v !== null && v !== undefined)
          ids.push(...ofRecord(recordKey(r.table, encodePk([v])), depth + 1));
      } else if (r.kind === 'manyToMany') {
        const sql = relationSql(r, table, () => {
          const w = r.localColumns.map((c) => `${q(c)} = ?`).join(' AND ');
          return `SELECT ${r.remoteColumns.map(q).join(', ')} FROM ${q(r.via)} WHERE ${w}`;
        });
        const rows = prepared(db, sql)
          .raw()
          .all(...keyVals) as unknown[][];
        for (const row of rows) {
          const other = recordKey(r.table, encodePk(row));
          // Participants count as themselves, not as their organization too: that would tag every
          // meeting with every participant's employer.
          const e = isEntityTable(r.table) ? own(other) : undefined;
          if (e) ids.push(e);
        }
      } else {
        const row = prepared(
          db,
          relationSql(
            r,
            table,
            () => `SELECT ${q(r.tableColumn)} AS t, ${q(r.idColumn)} AS id FROM ${q(table)} WHERE ${where()}`,
          ),
        )
          .raw(false)
          .get(...keyVals) as { t: unknown; id: unknown } | undefined;
        if (row && typeof row.t === 'string' && row.id !== null && row.id !== undefined) {
          ids.push(...ofRecord(recordKey(row.t, encodePk([row.id])), depth + 1));
        }
      }
    }
    return ids;
  };

  const out = new Map<string, string[]>();
  for (const k of recordKeys) out.set(k, [...new Set(ofRecord(k, 0))].sort());
  return out;
}
