/**
 * The derived entity tables in the CRM database, and one SQL operation per
 * function over them. Everything here is ours (the CRM never writes these
 * tables) and is dropped by `crm-index uninstall`.
 *
 * - entities(id, kind, display_name, member_count)
 * - entity_links(record_key -> entity_id, evidence JSON)
 * - entity_keys(record_key, key_type, key_value): each record's normalized
 *   keys, indexed by (key_type, key_value) so the incremental pass finds the
 *   records that share a changed record's evidence without a scan.
 * - entity_overrides(a, b, verdict): the operator's verdicts (overrides.ts).
 */
import type { Db } from '../crm/db.js';
import type { RecordKeyValue } from './rules.js';

export const ENTITY_TABLES_SQL = `
CREATE TABLE IF NOT EXISTS entities (
  id           TEXT PRIMARY KEY,
  kind         TEXT NOT NULL,
  display_name TEXT,
  member_count INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS entities_kind_name ON entities(kind, display_name);
CREATE TABLE IF NOT EXISTS entity_links (
  record_key TEXT PRIMARY KEY,
  entity_id  TEXT NOT NULL,
  evidence   TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS entity_links_entity ON entity_links(entity_id);
CREATE TABLE IF NOT EXISTS entity_keys (
  record_key TEXT NOT NULL,
  key_type   TEXT NOT NULL,
  key_value  TEXT NOT NULL,
  PRIMARY KEY (record_key, key_type, key_value)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entity_keys_lookup ON entity_keys(key_type, key_value);
CREATE TABLE IF NOT EXISTS entity_overrides (
  a          TEXT NOT NULL,
  b          TEXT NOT NULL,
  verdict    TEXT NOT NULL CHECK (verdict IN ('same','not_same')),
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  PRIMARY KEY (a, b)
);
CREATE INDEX IF NOT EXISTS entity_overrides_b ON entity_overrides(b);
`;

export const ENTITY_TABLE_NAMES = ['entities', 'entity_links', 'entity_keys', 'entity_overrides'] as const;

export function ensureEntityTables(db: Db): void {
  db.exec(ENTITY_TABLES_SQL);
}

export function dropEntityTables(db: Db): void {
  for (const t of ENTITY_TABLE_NAMES) db.exec(`DROP TABLE IF EXISTS ${t}`);
}

export interface LinkRow {
  entityId: string;
  evidence: string;
}

export interface EntityRow {
  id: string;
  kind: string;
  displayName: string | null;
  memberCount: number;
}

/** Upper bound of a `table:` key range: ';' is the character after ':'. */
function rangeOf(table: string): [string, string] {
  return [`${table}:`, `${table};`];
}

export function readLink(db: Db, recordKey: string): LinkRow | undefined {
  const row = db
    .prepare('SELECT entity_id, evidence FROM entity_links WHERE record_key = ?')
    .get(recordKey) as { entity_id: string; evidence: string } | undefined;
  return row ? { entityId: row.entity_id, evidence: row.evidence } : undefined;
}

/** Every link of one table's records (a range scan of the primary key). */
export function readLinksOfTable(db: Db, table: string): Map<string, LinkRow> {
  const out = new Map<string, LinkRow>();
  const stmt = db.prepare(
    'SELECT record_key, entity_id, evidence FROM entity_links WHERE record_key >= ? AND record_key < ?',
  );
  for (const r of stmt.iterate(...rangeOf(table)) as Iterable<{
    record_key: string;
    entity_id: string;
    evidence: string;
  }>) {
    out.set(r.record_key, { entityId: r.entity_id, evidence: r.evidence });
  }
  return out;
}

export function membersOf(db: Db, entityId: string): string[] {
  return db
    .prepare('SELECT record_key FROM entity_links WHERE entity_id = ?')
    .pluck()
    .all(entityId) as string[];
}

export function readKeys(db: Db, recordKey: string): RecordKeyValue[] {
  return db
    .prepare(
      'SELECT key_type AS type, key_value AS value FROM entity_keys WHERE record_key = ? ORDER BY key_type, key_value',
    )
    .all(recordKey) as RecordKeyValue[];
}

/** Every stored key of one table's records, as one sorted "type\0value\n..." string per record for diffing. */
export function readKeySignaturesOfTable(db: Db, table: string): Map<string, string> {
  const out = new Map<string, string[]>();
  const stmt = db.prepare(
    'SELECT record_key, key_type, key_value FROM entity_keys WHERE record_key >= ? AND record_key < ? ORDER BY record_key, key_type, key_value',
  );
  for (const r of stmt.iterate(...rangeOf(table)) as Iterable<{
    record_key: string;
    key_type: string;
    key_value: string;
  }>) {
    const k = `${r.key_type}\u0000${r.key_value}`;
    const list = out.get(r.record_key);
    if (list) list.push(k);
    else out.set(r.record_key, [k]);
  }
  return new Map([...out].map(([r, ks]) => [r, ks.join('\n')]));
}

export function keySignature(keys: RecordKeyValue[]): string {
  return keys.map((k) => `${k.type}\u0000${k.value}`).join('\n');
}

export function recordsWithKey(db: Db, type: string, value: string): string[] {
  return db
    .prepare('SELECT record_key FROM entity_keys WHERE key_type = ? AND key_value = ?')
    .pluck()
    .all(type, value) as string[];
}

export function readEntity(db: Db, id: string): EntityRow | undefined {
  const r = db.prepare('SELECT id, kind, display_name, member_count FROM entities WHERE id = ?').get(id) as
    { id: string; kind: string; display_name: string | null; member_count: number } | undefined;
  return r ? { id: r.id, kind: r.kind, displayName: r.display_name, memberCount: r.member_count } : undefined;
}

/** The records linked to `entityId` with their evidence (JSON text), in record-key order, at most `limit`. */
export function readEntityLinks(
  db: Db,
  entityId: string,
  limit: number,
): { recordKey: string; evidence: string }[] {
  return db
    .prepare(
      'SELECT record_key AS recordKey, evidence FROM entity_links WHERE entity_id = ? ORDER BY record_key LIMIT ?',
    )
    .all(entityId, limit) as { recordKey: string; evidence: string }[];
}

export function readEntitiesOfKind(db: Db, kind: string): Map<string, EntityRow> {
  const out = new Map<string, EntityRow>();
  const rows = db
    .prepare('SELECT id, kind, display_name, member_count FROM entities WHERE kind = ?')
    .all(kind) as {
    id: string;
    kind: string;
    display_name: string | null;
    member_count: number;
  }[];
  for (const r of rows)
    out.set(r.id, { id: r.id, kind: r.kind, displayName: r.display_name, memberCount: r.member_count });
  return out;
}

/** One unit of writing; a batch of them runs in one short transaction. */
export type WriteOp =
  | { op: 'keys'; recordKey: string; keys: RecordKeyValue[] }
  | { op: 'link'; recordKey: string; entityId: string; evidence: string }
  | { op: 'unlink'; recordKey: string }
  | { op: 'entity'; row: EntityRow }
  | { op: 'drop-entity'; id: string };

/**
 * Apply write ops in transactions of at most `batch` ops each: the CRM's own
 * writers wait for at most one short batch (invariant 5, never block the CRM).
 */
export function applyWrites(db: Db, ops: WriteOp[], batch: number): void {
  const delKeys = db.prepare('DELETE FROM entity_keys WHERE record_key = ?');
  const insKey = db.prepare(
    'INSERT OR IGNORE INTO entity_keys (record_key, key_type, key_value) VALUES (?, ?, ?)',
  );
  const upLink = db.prepare(
    'INSERT INTO entity_links (record_key, entity_id, evidence) VALUES (?, ?, ?) ON CONFLICT(record_key) DO UPDATE SET entity_id = excluded.entity_id, evidence = excluded.evidence',
  );
  const delLink = db.prepare('DELETE FROM entity_links WHERE record_key = ?');
  const upEntity = db.prepare(
    'INSERT INTO entities (id, kind, display_name, member_count) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, display_name = excluded.display_name, member_count = excluded.member_count',
  );
  const delEntity = db.prepare('DELETE FROM entities WHERE id = ?');
  const run = db.transaction((slice: WriteOp[]) => {
    for (const o of slice) {
      switch (o.op) {
        case 'keys':
          delKeys.run(o.recordKey);
          for (const k of o.keys) insKey.run(o.recordKey, k.type, k.value);
          break;
        case 'link':
          upLink.run(o.recordKey, o.entityId, o.evidence);
          break;
        case 'unlink':
          delLink.run(o.recordKey);
          break;
        case 'entity':
          upEntity.run(o.row.id, o.row.kind, o.row.displayName, o.row.memberCount);
          break;
        case 'drop-entity':
          delEntity.run(o.id);
          break;
      }
    }
  });
  for (let i = 0; i < ops.length; i += batch) run(ops.slice(i, i + batch));
}
