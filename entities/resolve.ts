/**
 * Resolving a set of records into entities and writing the difference to the
 * derived tables; the full recompute is this over every record. Organizations
 * go first: a person's `name_org` evidence names its organization's entity.
 *
 * Invariant: for a set closed under shared keys, old clusters and overrides
 * (incremental.ts builds such sets), the written result equals what a full
 * recompute writes for those records. Writes are diffs in short batches, so
 * re-running on unchanged data writes nothing.
 */
import type { Db } from '../crm/db.js';
import { clusterRecords, type ClusterResult, type Override } from './cluster.js';
import { listOverrides } from './overrides.js';
import {
  orgKeys,
  personKeys,
  type EntityKind,
  type OrgRow,
  type PersonRow,
  type RecordKeyValue,
} from './rules.js';
import { normalizeDomain, normalizeOrgName, normalizePersonName } from './normalize.js';
import {
  DEFAULT_ENTITY_SOURCE,
  checkSource,
  loadAllOrgs,
  loadAllPeople,
  type EntitySource,
} from './source.js';
import {
  applyWrites,
  ensureEntityTables,
  keySignature,
  readEntitiesOfKind,
  readEntity,
  readKeys,
  readKeySignaturesOfTable,
  readLink,
  readLinksOfTable,
  type EntityRow,
  type LinkRow,
  type WriteOp,
} from './store.js';

/** Rows per write transaction: a few ms of write lock each (see config ENTITY_WRITE_BATCH). */
export const DEFAULT_WRITE_BATCH = 2000;

export interface ScopeInput {
  kind: EntityKind;
  table: string;
  /** Records to resolve: present ones with their keys and name; absent ones (deleted) map to undefined. */
  records: Map<string, { keys: RecordKeyValue[]; name: string | null } | undefined>;
  overrides: Override[];
}

export interface ScopeOutcome {
  result: ClusterResult;
  /** Records whose entity id changed (new, re-linked or deleted). */
  changed: string[];
  /** Records that no longer exist. */
  deleted: string[];
  writes: number;
}

/** Where the old state of the scope comes from: bulk maps (full) or point reads (incremental). */
interface OldState {
  link(recordKey: string): LinkRow | undefined;
  keys(recordKey: string): string;
  entity(id: string): EntityRow | undefined;
}

function pointState(db: Db): OldState {
  return {
    link: (r) => readLink(db, r),
    keys: (r) => keySignature(readKeys(db, r)),
    entity: (id) => readEntity(db, id),
  };
}

/** Cluster one kind of records and write what differs from the stored state. */
/** Decided writes held before they are applied (see resolveScope). */
const FLUSH_OPS = 4096;

export function resolveScope(db: Db, input: ScopeInput, old: OldState, batch: number): ScopeOutcome {
  const present = new Map<string, RecordKeyValue[]>();
  for (const [r, v] of input.records)
    if (v)
      present.set(
        r,
        v.keys.filter((k) => k.type !== 'member_of'),
      );
  const result = clusterRecords(input.kind, present, input.overrides);
  // Writes go out in slices as they are decided, not all at the end: a full pass over 250k people
  // would otherwise hold every key list and evidence string at once. Every read below comes from
  // `old` or `result`, and no write touches another record's rows, so the outcome is the same.
  const ops: WriteOp[] = [];
  let writes = 0;
  const flush = (force = false): void => {
    if (ops.length === 0 || (!force && ops.length < Math.max(batch, FLUSH_OPS))) return;
    applyWrites(db, ops, batch);
    writes += ops.length;
    ops.length = 0;
  };
  const changed: string[] = [];
  const deleted: string[] = [];
  const oldEntityIds = new Set<string>();
  for (const [r, v] of input.records) {
    const before = old.link(r);
    if (before) oldEntityIds.add(before.entityId);
    if (!v) {
      if (before) {
        ops.push({ op: 'unlink', recordKey: r });
        changed.push(r);
      }
      if (old.keys(r) !== '') ops.push({ op: 'keys', recordKey: r, keys: [] });
      deleted.push(r);
      continue;
    }
    const sig = keySignature(v.keys);
    if (old.keys(r) !== sig) ops.push({ op: 'keys', recordKey: r, keys: v.keys });
    const entityId = result.entityOf.get(r)!;
    const evidence = JSON.stringify(result.evidence.get(r) ?? []);
    if (!before || before.entityId !== entityId || before.evidence !== evidence) {
      ops.push({ op: 'link', recordKey: r, entityId, evidence });
    }
    if (!before || before.entityId !== entityId) changed.push(r);
    flush();
  }
  const newIds = new Set<string>();
  for (const c of result.clusters) {
    newIds.add(c.id);
    const row: EntityRow = {
      id: c.id,
      kind: input.kind,
      displayName: displayName(
        input.kind,
        c.members.map((m) => input.records.get(m)?.name ?? null),
      ),
      memberCount: c.members.length,
    };
    const prev = old.entity(c.id);
    if (
      !prev ||
      prev.kind !== row.kind ||
      prev.displayName !== row.displayName ||
      prev.memberCount !== row.memberCount
    ) {
      ops.push({ op: 'entity', row });
    }
    flush();
  }
  for (const id of oldEntityIds) if (!newIds.has(id)) ops.push({ op: 'drop-entity', id });
  flush(true);
  return { result, changed, deleted, writes };
}

/**
 * The entity's display name, a function of its members only: the most common
 * normalized name (domain-looking names like "acme.com" only when nothing else
 * is there), written the way that carries most information (mixed case,
 * diacritics), ties by member order.
 */
export function displayName(kind: EntityKind, names: (string | null)[]): string | null {
  const norm = kind === 'organization' ? normalizeOrgName : normalizePersonName;
  const candidates = names.filter((n): n is string => n !== null && norm(n) !== null);
  const plain = candidates.filter((n) => normalizeDomain(n) === null);
  const pool = plain.length > 0 ? plain : candidates;
  if (pool.length === 0) return names.find((n) => n !== null) ?? null;
  const counts = new Map<string, number>();
  for (const n of pool) counts.set(norm(n)!, (counts.get(norm(n)!) ?? 0) + 1);
  let best: string | null = null;
  let bestScore = -1;
  for (const n of pool) {
    const score =
      counts.get(norm(n)!)! * 4 +
      (/[^\x00-\x7f]/.test(n) ? 2 : 0) +
      (n !== n.toUpperCase() && n !== n.toLowerCase() ? 1 : 0);
    if (score > bestScore) {
      best = n;
      bestScore = score;
    }
  }
  return best;
}

export function orgScopeRecords(
  rows: Iterable<OrgRow>,
): Map<string, { keys: RecordKeyValue[]; name: string | null }> {
  const out = new Map<string, { keys: RecordKeyValue[]; name: string | null }>();
  for (const r of rows) out.set(r.key, { keys: orgKeys(r), name: r.name });
  return out;
}

export function personScopeRecords(
  rows: Iterable<PersonRow>,
  orgEntity: (orgKey: string) => string | null,
): Map<string, { keys: RecordKeyValue[]; name: string | null }> {
  const out = new Map<string, { keys: RecordKeyValue[]; name: string | null }>();
  for (const r of rows)
    out.set(r.key, { keys: personKeys(r, r.orgKey === null ? null : orgEntity(r.orgKey)), name: r.name });
  return out;
}

export interface ResolveOptions {
  source?: EntitySource;
  /** Write ops per transaction. */
  writeBatch?: number;
}

export interface FullSummary {
  organizations: { records: number; entities: number; merged: number };
  people: { records: number; entities: number; merged: number };
  /** Records of people/organizations whose entity id changed (to re-index). */
  changedRecordKeys: string[];
  writes: number;
  ms: number;
}

function summarize(result: ClusterResult, records: number) {
  return {
    records,
    entities: result.clusters.length,
    merged: result.clusters.filter((c) => c.members.length > 1).length,
  };
}

/** Full recompute over the whole CRM (the first step of `rebuild`). Overrides are read, never touched. */
export function resolveFull(db: Db, opts: ResolveOptions = {}): FullSummary {
  const t0 = performance.now();
  const src = opts.source ?? DEFAULT_ENTITY_SOURCE;
  const batch = opts.writeBatch ?? DEFAULT_WRITE_BATCH;
  ensureEntityTables(db);
  checkSource(db, src);
  const overrides = listOverrides(db);
  const people = loadAllPeople(db, src);
  const orgs = loadAllOrgs(db, src, people);

  const orgOut = resolveKindFull(
    db,
    'organization',
    src.organizations.table,
    orgScopeRecords(orgs.values()),
    overrides,
    batch,
  );
  const orgEntity = orgOut.result.entityOf;
  const peopleOut = resolveKindFull(
    db,
    'person',
    src.people.table,
    personScopeRecords(people.values(), (k) => orgEntity.get(k) ?? null),
    overrides,
    batch,
  );
  const deleted = new Set([...orgOut.deleted, ...peopleOut.deleted]);
  return {
    organizations: summarize(orgOut.result, orgs.size),
    people: summarize(peopleOut.result, people.size),
    changedRecordKeys: [...orgOut.changed, ...peopleOut.changed].filter((k) => !deleted.has(k)),
    writes: orgOut.writes + peopleOut.writes,
    ms: performance.now() - t0,
  };
}

function resolveKindFull(
  db: Db,
  kind: EntityKind,
  table: string,
  current: Map<string, { keys: RecordKeyValue[]; name: string | null }>,
  overrides: Override[],
  batch: number,
): ScopeOutcome {
  const links = readLinksOfTable(db, table);
  const keySigs = readKeySignaturesOfTable(db, table);
  const entities = readEntitiesOfKind(db, kind);
  const records = new Map<string, { keys: RecordKeyValue[]; name: string | null } | undefined>(current);
  // Stored records that are gone from the CRM: unlink them.
  for (const r of links.keys()) if (!records.has(r)) records.set(r, undefined);
  for (const r of keySigs.keys()) if (!records.has(r)) records.set(r, undefined);
  const out = resolveScope(
    db,
    { kind, table, records, overrides },
    { link: (r) => links.get(r), keys: (r) => keySigs.get(r) ?? '', entity: (id) => entities.get(id) },
    batch,
  );
  // Entities of this kind that no cluster produced any more (all members gone, or stale rows).
  const live = new Set(out.result.clusters.map((c) => c.id));
  const stale = [...entities.keys()].filter((id) => !live.has(id));
  applyWrites(
    db,
    stale.map((id) => ({ op: 'drop-entity' as const, id })),
    batch,
  );
  return out;
}

export { pointState };
