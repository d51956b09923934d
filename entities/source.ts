/**
 * Reading people and organizations from the CRM for resolution: which table
 * and columns hold names, domains, emails and the person -> organization link.
 * The default fits the reference schema; another CRM passes its own columns.
 * Reads are plain short SELECTs (no long read transaction, invariant 5).
 */
import { SourceMapError } from '../config/index.js';
import type { Db } from '../crm/db.js';
import { decodePk, encodePk, recordKey } from '../crm/sourceMap.js';
import type { OrgRow, PersonRow } from './rules.js';

export interface EntitySource {
  organizations: { table: string; key: string; name: string; domain?: string; website?: string };
  people: {
    table: string;
    key: string;
    name: string;
    emails: string[];
    organization: string;
    phone?: string;
  };
}

export const DEFAULT_ENTITY_SOURCE: EntitySource = {
  organizations: { table: 'organizations', key: 'id', name: 'name', domain: 'domain', website: 'website' },
  people: {
    table: 'people',
    key: 'id',
    name: 'full_name',
    emails: ['email', 'email_secondary'],
    organization: 'organization_id',
    phone: 'phone',
  },
};

const q = (id: string) => `"${id.replace(/"/g, '""')}"`;

/** Fail early, naming the table or column, when the CRM does not have what the source names. */
export function checkSource(db: Db, src: EntitySource): void {
  const need: [string, string[]][] = [
    [
      src.organizations.table,
      [
        src.organizations.key,
        src.organizations.name,
        src.organizations.domain,
        src.organizations.website,
      ].filter((c): c is string => !!c),
    ],
    [
      src.people.table,
      [
        src.people.key,
        src.people.name,
        src.people.organization,
        ...src.people.emails,
        src.people.phone,
      ].filter((c): c is string => !!c),
    ],
  ];
  for (const [table, cols] of need) {
    const have = new Set(
      (db.prepare(`PRAGMA table_info(${q(table)})`).all() as { name: string }[]).map((c) => c.name),
    );
    if (have.size === 0) {
      throw new SourceMapError(
        `Entity resolution reads table "${table}", which the CRM database does not have. Check the source map or the database path.`,
      );
    }
    for (const c of cols) {
      if (!have.has(c)) {
        throw new SourceMapError(
          `Entity resolution reads column "${table}.${c}", which does not exist. Check the entity source columns for "${table}".`,
        );
      }
    }
  }
}

function orgSelect(src: EntitySource): string {
  const o = src.organizations;
  return `SELECT ${q(o.key)} AS k, ${q(o.name)} AS name, ${o.domain ? q(o.domain) : 'NULL'} AS domain, ${o.website ? q(o.website) : 'NULL'} AS website FROM ${q(o.table)}`;
}

function personSelect(src: EntitySource): string {
  const p = src.people;
  const emails = p.emails.map((c, i) => `${q(c)} AS e${i}`).join(', ');
  return `SELECT ${q(p.key)} AS k, ${q(p.name)} AS name, ${q(p.organization)} AS org, ${p.phone ? q(p.phone) : 'NULL'} AS phone${emails ? ', ' + emails : ''} FROM ${q(p.table)}`;
}

type RawPerson = { k: unknown; name: string | null; org: unknown; phone: unknown } & Record<string, unknown>;
type RawOrg = { k: unknown; name: string | null; domain: string | null; website: string | null };

function toPerson(src: EntitySource, r: RawPerson): PersonRow {
  return {
    key: recordKey(src.people.table, encodePk([r.k])),
    name: r.name,
    emails: src.people.emails.map((_, i) => (r[`e${i}`] as string | null | undefined) ?? null),
    phone: r.phone === null || r.phone === undefined ? null : String(r.phone),
    orgKey:
      r.org === null || r.org === undefined ? null : recordKey(src.organizations.table, encodePk([r.org])),
  };
}

function toOrg(src: EntitySource, r: RawOrg, memberEmails: string[]): OrgRow {
  return {
    key: recordKey(src.organizations.table, encodePk([r.k])),
    name: r.name,
    domain: r.domain,
    website: r.website,
    memberEmails,
  };
}

/** Every person. */
export function loadAllPeople(db: Db, src: EntitySource): Map<string, PersonRow> {
  const out = new Map<string, PersonRow>();
  for (const r of db.prepare(personSelect(src)).iterate() as Iterable<RawPerson>) {
    const p = toPerson(src, r);
    out.set(p.key, p);
  }
  return out;
}

/** Every organization, with the emails of its people (from `people`, already loaded). */
export function loadAllOrgs(db: Db, src: EntitySource, people: Map<string, PersonRow>): Map<string, OrgRow> {
  const emailsByOrg = new Map<string, string[]>();
  for (const p of people.values()) {
    if (p.orgKey === null) continue;
    const list = emailsByOrg.get(p.orgKey) ?? emailsByOrg.set(p.orgKey, []).get(p.orgKey)!;
    for (const e of p.emails) if (e) list.push(e);
  }
  const out = new Map<string, OrgRow>();
  for (const r of db.prepare(orgSelect(src)).iterate() as Iterable<RawOrg>) {
    const key = recordKey(src.organizations.table, encodePk([r.k]));
    out.set(key, toOrg(src, r, emailsByOrg.get(key) ?? []));
  }
  return out;
}

function pkOf(key: string): string {
  return decodePk(key.slice(key.indexOf(':') + 1))[0] ?? '';
}

/** One person by record key, or undefined when the row is gone. */
export function loadPerson(db: Db, src: EntitySource, key: string): PersonRow | undefined {
  const r = db.prepare(`${personSelect(src)} WHERE ${q(src.people.key)} = ?`).get(pkOf(key)) as
    RawPerson | undefined;
  return r ? toPerson(src, r) : undefined;
}

/** One organization by record key, with its people's emails (an indexed lookup in the reference schema). */
export function loadOrg(db: Db, src: EntitySource, key: string): OrgRow | undefined {
  const pk = pkOf(key);
  const r = db.prepare(`${orgSelect(src)} WHERE ${q(src.organizations.key)} = ?`).get(pk) as
    RawOrg | undefined;
  if (!r) return undefined;
  const p = src.people;
  const emails: string[] = [];
  if (p.emails.length > 0) {
    const rows = db
      .prepare(`SELECT ${p.emails.map(q).join(', ')} FROM ${q(p.table)} WHERE ${q(p.organization)} = ?`)
      .raw()
      .all(pk) as (string | null)[][];
    for (const row of rows) for (const e of row) if (e) emails.push(e);
  }
  return toOrg(src, r, emails);
}
