/**
 * The resolution rules: which keys a record yields, how strong each kind of
 * evidence is, the fixed order of record keys and the canonical id rule.
 * Pure: rows in, keys out. Two records of one kind that share an evidence key
 * are candidates for one entity (entities/cluster.ts decides).
 *
 * Organizations: `domain` (domain/website columns, and the non-webmail email
 * domains of the organization's people), then `org_name` (normalized name).
 * People: `email` (email and email_secondary, normalized), then `name_org`
 * (normalized full name + the organization's *entity* id) and `name_phone`
 * (normalized full name + phone digits): a name alone never matches, only a
 * name corroborated by the same organization entity or the same phone.
 */
import {
  emailOrgDomain,
  normalizeEmail,
  normalizeOrgName,
  normalizePersonName,
  normalizePhone,
  orgDomain,
} from './normalize.js';

export type EntityKind = 'organization' | 'person';

export type EvidenceRule = 'domain' | 'org_name' | 'email' | 'name_org' | 'name_phone' | 'override';

/** A key of a record: `member_of` is bookkeeping (a person's organization), not evidence. */
export interface RecordKeyValue {
  type: Exclude<EvidenceRule, 'override'> | 'member_of';
  value: string;
}

/** Lower is stronger. A 'same' override (0) is never dropped; a 'not_same' override drops the weakest edges. */
export const RULE_RANK: Record<EvidenceRule, number> = {
  override: 0,
  domain: 1,
  email: 1,
  org_name: 2,
  name_org: 2,
  name_phone: 2,
};

export const EVIDENCE_TYPES = new Set<string>(['domain', 'org_name', 'email', 'name_org', 'name_phone']);

export interface OrgRow {
  key: string;
  name: string | null;
  domain: string | null;
  website: string | null;
  /** Email addresses (primary and secondary) of people whose organization is this one. */
  memberEmails: string[];
}

export interface PersonRow {
  key: string;
  name: string | null;
  emails: (string | null)[];
  phone: string | null;
  /** Record key of the person's organization, or null. */
  orgKey: string | null;
}

function dedupe(keys: RecordKeyValue[]): RecordKeyValue[] {
  const seen = new Set<string>();
  const out: RecordKeyValue[] = [];
  for (const k of keys) {
    const id = `${k.type}\u0000${k.value}`;
    if (!seen.has(id)) {
      seen.add(id);
      out.push(k);
    }
  }
  return out.sort((a, b) => (a.type === b.type ? cmp(a.value, b.value) : cmp(a.type, b.type)));
}

export function orgKeys(row: OrgRow): RecordKeyValue[] {
  const keys: RecordKeyValue[] = [];
  for (const d of [orgDomain(row.domain), orgDomain(row.website), ...row.memberEmails.map(emailOrgDomain)]) {
    if (d !== null) keys.push({ type: 'domain', value: d });
  }
  const name = normalizeOrgName(row.name);
  if (name !== null) keys.push({ type: 'org_name', value: name });
  return dedupe(keys);
}

/** `orgEntityId` is the entity of the person's organization (null: no organization, or it is gone). */
export function personKeys(row: PersonRow, orgEntityId: string | null): RecordKeyValue[] {
  const keys: RecordKeyValue[] = [];
  for (const e of row.emails) {
    const n = normalizeEmail(e);
    if (n !== null) keys.push({ type: 'email', value: n });
  }
  const name = normalizePersonName(row.name);
  if (name !== null && orgEntityId !== null) keys.push({ type: 'name_org', value: `${name}|${orgEntityId}` });
  const phone = normalizePhone(row.phone);
  if (name !== null && phone !== null) keys.push({ type: 'name_phone', value: `${name}|${phone}` });
  if (row.orgKey !== null) keys.push({ type: 'member_of', value: row.orgKey });
  return dedupe(keys);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const INTEGER = /^-?\d+$/;

/**
 * The fixed total order of record keys: by table, then integer pks
 * numerically (so organizations:9 < organizations:10), integer pks before
 * other pks, other pks by code unit.
 */
export function compareRecordKeys(a: string, b: string): number {
  const ia = a.indexOf(':');
  const ib = b.indexOf(':');
  const t = cmp(a.slice(0, ia), b.slice(0, ib));
  if (t !== 0) return t;
  const pa = a.slice(ia + 1);
  const pb = b.slice(ib + 1);
  const na = INTEGER.test(pa);
  const nb = INTEGER.test(pb);
  if (na && nb) {
    const x = BigInt(pa);
    const y = BigInt(pb);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (na !== nb) return na ? -1 : 1;
  return cmp(pa, pb);
}

export const ID_PREFIX: Record<EntityKind, string> = { organization: 'org:', person: 'person:' };

/**
 * Canonical id: the kind's prefix + the pk of the cluster's smallest member
 * (its anchor). So the same data always gives the same ids; a merge keeps the
 * smaller anchor's id; on a split the part holding the anchor keeps the id;
 * a record joining or leaving other clusters never renames them.
 */
export function entityIdFor(kind: EntityKind, anchorRecordKey: string): string {
  return ID_PREFIX[kind] + anchorRecordKey.slice(anchorRecordKey.indexOf(':') + 1);
}
