/**
 * Incremental upkeep: the changelog consumer 'entities'. For each batch of
 * changed people and organizations it re-resolves only the affected clusters,
 * writes the difference in short transactions, then advances its cursor
 * (ack after write: a crash before the advance replays the batch, and
 * replaying is harmless because resolution is recomputed from the source).
 *
 * Affected set (the invariant that makes incremental equal full): starting
 * from the changed records, add until nothing new appears
 *   - every member of each record's old cluster,
 *   - every record sharing one of its stored (old) or current evidence keys,
 *   - the other side of each of its overrides.
 * That set is a union of whole components of the evidence graph both before
 * and after the change, and clustering is a function of the component only.
 * Organizations go first; people whose organization's entity id changed are
 * added to the people's changed set, since their `name_org` key names it.
 */
import { LeaseError, SourceError } from '../config/index.js';
import type { Db } from '../crm/db.js';
import { parseRecordKey } from '../crm/sourceMap.js';
import {
  acquireLease,
  advanceCursor,
  ensureConsumer,
  getCursor,
  readChanges,
  releaseLease,
} from '../triggers/changelog.js';
import { overridesOf } from './overrides.js';
import {
  DEFAULT_WRITE_BATCH,
  resolveFull,
  orgScopeRecords,
  personScopeRecords,
  pointState,
  resolveScope,
} from './resolve.js';
import {
  EVIDENCE_TYPES,
  type EntityKind,
  type OrgRow,
  type PersonRow,
  type RecordKeyValue,
} from './rules.js';
import { DEFAULT_ENTITY_SOURCE, checkSource, loadOrg, loadPerson, type EntitySource } from './source.js';
import { ensureEntityTables, membersOf, readKeys, readLink, recordsWithKey } from './store.js';
import type { Override } from './cluster.js';

export const ENTITIES_CONSUMER = 'entities';

export interface IncrementalOptions {
  source?: EntitySource;
  /** Lease owner id; default a per-process id. */
  owner?: string;
  leaseTtlMs?: number;
  /** Changelog rows read per pass. */
  readBatch?: number;
  writeBatch?: number;
  /** Stop after this many passes (default: until the changelog is drained). */
  maxPasses?: number;
}

export interface IncrementalResult {
  /** People/organization records whose entity id changed: re-index them (and what shows them). */
  changedRecordKeys: string[];
  /** Changelog rows consumed. */
  changes: number;
  /** Records re-clustered (the affected neighbourhoods). */
  resolvedRecords: number;
  cursor: number;
}

/** Lease long enough for a large pass; the pass renews nothing, so keep passes bounded by readBatch. */
export const DEFAULT_LEASE_TTL_MS = 60_000;
export const DEFAULT_READ_BATCH = 1000;

export function resolveIncremental(db: Db, opts: IncrementalOptions = {}): IncrementalResult {
  const src = opts.source ?? DEFAULT_ENTITY_SOURCE;
  const owner = opts.owner ?? `entities-${process.pid}`;
  ensureEntityTables(db);
  checkSource(db, src);
  if (!db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_cdc_consumers'`).get()) {
    throw new SourceError(
      'Change capture is not installed in this CRM database (no _cdc_consumers table), so there is no changelog to follow. Run `crm-index install`, or use `crm-index resolve --full`.',
    );
  }
  if (!consumerExists(db)) {
    // First run: nothing was resolved from the changelog yet, and records older than capture are not in it.
    // Start the cursor at the end of the log, then resolve everything; later changes replay over it.
    ensureConsumer(db, ENTITIES_CONSUMER, 'now');
    resolveFull(db, { source: src, writeBatch: opts.writeBatch });
  }
  if (!acquireLease(db, ENTITIES_CONSUMER, owner, opts.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS)) {
    throw new LeaseError(
      `Another process holds the lease on changelog consumer "${ENTITIES_CONSUMER}"; only one entity resolver may run at a time. Wait for it to finish or for its lease to expire.`,
    );
  }
  const changed = new Set<string>();
  let changes = 0;
  let resolvedRecords = 0;
  let cursor = getCursor(db, ENTITIES_CONSUMER);
  try {
    for (let pass = 0; pass < (opts.maxPasses ?? Infinity); pass++) {
      const rows = readChanges(db, cursor, opts.readBatch ?? DEFAULT_READ_BATCH);
      if (rows.length === 0) break;
      const orgs = new Set<string>();
      const people = new Set<string>();
      for (const r of rows) {
        if (r.table === src.organizations.table) orgs.add(`${r.table}:${r.pk}`);
        else if (r.table === src.people.table) people.add(`${r.table}:${r.pk}`);
      }
      const out = resolveChanged(db, orgs, people, { source: src, writeBatch: opts.writeBatch });
      for (const k of out.changedRecordKeys) changed.add(k);
      resolvedRecords += out.resolvedRecords;
      changes += rows.length;
      cursor = rows[rows.length - 1]!.seq;
      // Ack after write: the entity tables already hold this batch's result.
      advanceCursor(db, ENTITIES_CONSUMER, cursor, owner);
    }
  } finally {
    releaseLease(db, ENTITIES_CONSUMER, owner);
  }
  return { changedRecordKeys: [...changed], changes, resolvedRecords, cursor };
}

function consumerExists(db: Db): boolean {
  try {
    getCursor(db, ENTITIES_CONSUMER);
    return true;
  } catch {
    return false;
  }
}

export interface ChangedResult {
  changedRecordKeys: string[];
  resolvedRecords: number;
}

/**
 * Re-resolve the neighbourhoods of the given changed records (record keys of
 * organizations and people). Also used after an override is set or removed.
 */
export function resolveChanged(
  db: Db,
  changedOrgs: Iterable<string>,
  changedPeople: Iterable<string>,
  opts: { source?: EntitySource; writeBatch?: number } = {},
): ChangedResult {
  const src = opts.source ?? DEFAULT_ENTITY_SOURCE;
  const batch = opts.writeBatch ?? DEFAULT_WRITE_BATCH;
  const orgSeeds = new Set(changedOrgs);
  const peopleSeeds = new Set(changedPeople);
  const people = new Map<string, PersonRow | undefined>();
  for (const p of peopleSeeds) {
    const row = loadPerson(db, src, p);
    people.set(p, row);
    // The organization the person left and the one they joined both lose or gain an email domain.
    for (const k of readKeys(db, p)) if (k.type === 'member_of') orgSeeds.add(k.value);
    if (row?.orgKey) orgSeeds.add(row.orgKey);
  }

  // Organizations.
  const orgRows = new Map<string, OrgRow | undefined>();
  const orgScope = closure(db, 'organization', src.organizations.table, orgSeeds, (r) => {
    if (!orgRows.has(r)) orgRows.set(r, loadOrg(db, src, r));
    const row = orgRows.get(r);
    return row ? orgScopeRecords([row]).get(r)!.keys : undefined;
  });
  const orgRecords = new Map<string, { keys: RecordKeyValue[]; name: string | null } | undefined>();
  for (const r of orgScope.records) {
    const row = orgRows.get(r);
    orgRecords.set(r, row ? orgScopeRecords([row]).get(r)! : undefined);
  }
  const orgOut = resolveScope(
    db,
    {
      kind: 'organization',
      table: src.organizations.table,
      records: orgRecords,
      overrides: orgScope.overrides,
    },
    pointState(db),
    batch,
  );

  // People: their name_org key names the organization's entity, so people of re-identified organizations re-resolve too.
  for (const o of orgOut.changed) for (const p of recordsWithKey(db, 'member_of', o)) peopleSeeds.add(p);
  const orgEntity = (orgKey: string): string | null => readLink(db, orgKey)?.entityId ?? null;
  const personKeysOf = (r: string): RecordKeyValue[] | undefined => {
    if (!people.has(r)) people.set(r, loadPerson(db, src, r));
    const row = people.get(r);
    return row ? personScopeRecords([row], orgEntity).get(r)!.keys : undefined;
  };
  const peopleScope = closure(db, 'person', src.people.table, peopleSeeds, personKeysOf);
  const peopleRecords = new Map<string, { keys: RecordKeyValue[]; name: string | null } | undefined>();
  for (const r of peopleScope.records) {
    const row = people.get(r);
    peopleRecords.set(r, row ? personScopeRecords([row], orgEntity).get(r)! : undefined);
  }
  const peopleOut = resolveScope(
    db,
    { kind: 'person', table: src.people.table, records: peopleRecords, overrides: peopleScope.overrides },
    pointState(db),
    batch,
  );
  const deleted = new Set([...orgOut.deleted, ...peopleOut.deleted]);
  return {
    changedRecordKeys: [...orgOut.changed, ...peopleOut.changed].filter((k) => !deleted.has(k)),
    resolvedRecords: orgScope.records.size + peopleScope.records.size,
  };
}

/** The affected set around `seeds` (see the module header), with the overrides inside it. */
function closure(
  db: Db,
  _kind: EntityKind,
  table: string,
  seeds: Set<string>,
  currentKeys: (recordKey: string) => RecordKeyValue[] | undefined,
): { records: Set<string>; overrides: Override[] } {
  const records = new Set<string>();
  const overrides = new Map<string, Override>();
  const queue: string[] = [];
  const add = (r: string) => {
    if (records.has(r)) return;
    if (parseRecordKey(r).table !== table) return;
    records.add(r);
    queue.push(r);
  };
  for (const s of seeds) add(s);
  const seenKeys = new Set<string>();
  const seenEntities = new Set<string>();
  const visitKey = (k: RecordKeyValue) => {
    if (!EVIDENCE_TYPES.has(k.type)) return;
    const id = `${k.type}\u0000${k.value}`;
    if (seenKeys.has(id)) return;
    seenKeys.add(id);
    for (const r of recordsWithKey(db, k.type, k.value)) add(r);
  };
  while (queue.length > 0) {
    const r = queue.pop()!;
    const link = readLink(db, r);
    if (link && !seenEntities.has(link.entityId)) {
      seenEntities.add(link.entityId);
      for (const m of membersOf(db, link.entityId)) add(m);
    }
    for (const k of readKeys(db, r)) visitKey(k);
    const now = currentKeys(r);
    if (now) {
      for (const k of now) visitKey(k);
      // Records that share a current key but are themselves new (not stored yet) are seeds already.
    }
    for (const o of overridesOf(db, r)) {
      overrides.set(`${o.a}\u0000${o.b}`, o);
      add(o.a);
      add(o.b);
    }
  }
  return { records, overrides: [...overrides.values()] };
}
