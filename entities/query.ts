/**
 * Read-side queries over the entity tables for the CLI and MCP: list entities
 * with filters, and show one entity with its members and their evidence.
 */
import type { Db } from '../crm/db.js';
import type { Evidence } from './cluster.js';
import { normalizeOrgName, normalizePersonName, normalizeText } from './normalize.js';
import type { EntityKind } from './rules.js';

export interface EntityMember {
  recordKey: string;
  evidence: Evidence[];
}

export interface EntityView {
  id: string;
  kind: EntityKind;
  displayName: string | null;
  memberCount: number;
  members: EntityMember[];
}

export interface ListFilter {
  kind?: EntityKind;
  /** Case- and accent-insensitive substring of the display name. */
  name?: string;
  minMembers?: number;
  limit?: number;
}

type Row = { id: string; kind: EntityKind; display_name: string | null; member_count: number };

function withMembers(db: Db, r: Row): EntityView {
  const members = (
    db
      .prepare('SELECT record_key, evidence FROM entity_links WHERE entity_id = ? ORDER BY record_key')
      .all(r.id) as {
      record_key: string;
      evidence: string;
    }[]
  ).map((m) => ({ recordKey: m.record_key, evidence: JSON.parse(m.evidence) as Evidence[] }));
  return { id: r.id, kind: r.kind, displayName: r.display_name, memberCount: r.member_count, members };
}

export function listEntities(db: Db, f: ListFilter = {}): EntityView[] {
  const where: string[] = [];
  const args: unknown[] = [];
  if (f.kind) {
    where.push('kind = ?');
    args.push(f.kind);
  }
  if (f.minMembers !== undefined) {
    where.push('member_count >= ?');
    args.push(f.minMembers);
  }
  const sql = `SELECT id, kind, display_name, member_count FROM entities ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY member_count DESC, id`;
  const needle = f.name ? normalizeText(f.name) : '';
  const limit = f.limit ?? 50;
  const out: EntityView[] = [];
  for (const r of db.prepare(sql).iterate(...args) as Iterable<Row>) {
    if (needle && !normalizeText(r.display_name).includes(needle)) continue;
    out.push(withMembers(db, r));
    if (out.length >= limit) break;
  }
  return out;
}

/** By id ('org:12'), by member record key ('people:7'), or by exact (normalized) display name. */
export function findEntity(db: Db, idOrName: string): EntityView[] {
  const byId = db
    .prepare('SELECT id, kind, display_name, member_count FROM entities WHERE id = ?')
    .get(idOrName) as Row | undefined;
  if (byId) return [withMembers(db, byId)];
  const viaLink = db
    .prepare(
      'SELECT e.id, e.kind, e.display_name, e.member_count FROM entity_links l JOIN entities e ON e.id = l.entity_id WHERE l.record_key = ?',
    )
    .get(idOrName) as Row | undefined;
  if (viaLink) return [withMembers(db, viaLink)];
  // By name: the kind's own normalization ("acme" finds "ACME Inc"), else a substring of the display name.
  const all = db.prepare('SELECT id, kind, display_name, member_count FROM entities').all() as Row[];
  const same = (r: Row) => {
    const norm = r.kind === 'organization' ? normalizeOrgName : normalizePersonName;
    const n = norm(idOrName);
    return n !== null && norm(r.display_name) === n;
  };
  let rows = all.filter(same);
  if (rows.length === 0) {
    const needle = normalizeText(idOrName);
    rows =
      needle === '' ? [] : all.filter((r) => normalizeText(r.display_name).includes(needle)).slice(0, 20);
  }
  return rows.map((r) => withMembers(db, r));
}
