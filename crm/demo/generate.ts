/**
 * The demo CRM generator: fills an empty reference-schema database with a
 * venture firm's organizations, people, deals, interactions and notes, and
 * returns what it planted (facts.ts).
 *
 * Invariant: the output is a pure function of (records, seed). All randomness
 * comes from Rng forks, dates come from a fixed range, ids are explicit, and
 * rows are written in id order; nothing reads the clock or Math.random.
 * Speed: prepared statements, one transaction per ROWS_PER_TRANSACTION rows.
 */
import { ConfigError, SourceError } from '../../config/errors.js';
import type { Db } from '../db.js';
import {
  factCount,
  factQuery,
  factStatement,
  planFacts,
  type DemoFacts,
  type FactPlan,
  type PlantedFact,
} from './facts.js';
import {
  DISTINCT,
  DUPLICATE_ORGS,
  DUPLICATE_PEOPLE,
  PLANTED_ORGS,
  PLANTED_PEOPLE,
  RESERVED_DOMAINS,
  RESERVED_EMAILS,
  RESERVED_PERSON_NAMES,
  nameKey,
} from './plant.js';
import { Rng } from './rng.js';
import {
  asEmail,
  bodyParagraphs,
  description,
  hugeBody,
  paragraph,
  subject,
  type BodySize,
  type TextContext,
} from './text.js';
import * as W from './words.js';

export const MIN_RECORDS = 100;
export const MAX_RECORDS = 1_000_000;
/** One transaction per 10k rows: big enough to amortize commits, small enough to keep the WAL modest. */
const ROWS_PER_TRANSACTION = 10_000;
/** Dates fall in a fixed window so they depend on the seed only. */
const DATE_MIN = Date.UTC(2018, 0, 1);
const DATE_MAX = Date.UTC(2025, 11, 31);
/** Share of interactions with multi-page bodies; at least MIN_LONG_BODIES so small demos have some. */
const LONG_BODY_SHARE = 0.015;
const MIN_LONG_BODIES = 5;

export type DemoTable = 'organizations' | 'people' | 'deals' | 'interactions' | 'notes';
export const DEMO_TABLES: readonly DemoTable[] = [
  'organizations',
  'people',
  'deals',
  'interactions',
  'notes',
];

export interface DemoProgress {
  table: DemoTable;
  /** Rows written so far across the five record tables. */
  done: number;
  total: number;
}

export interface GenerateOptions {
  /** Total rows across organizations, people, deals, interactions and notes (links come on top). */
  records: number;
  seed: number;
  onProgress?: (p: DemoProgress) => void;
}

/** Rows per table for a total: 8% organizations, 25% people, 7% deals, 15% notes, the rest interactions. */
export function demoCounts(records: number): Record<DemoTable, number> {
  const organizations = Math.max(PLANTED_ORGS.length + 2, Math.round(records * 0.08));
  const people = Math.max(PLANTED_PEOPLE.length + 5, Math.round(records * 0.25));
  const deals = Math.round(records * 0.07);
  const notes = Math.round(records * 0.15);
  return {
    organizations,
    people,
    deals,
    interactions: records - organizations - people - deals - notes,
    notes,
  };
}

/** Very large (1-2 MB) bodies: none below 1,000 records, then one more per factor of ten, at most five. */
export function largeBodyCount(records: number): number {
  return records < 1000 ? 0 : Math.min(5, 1 + Math.floor(Math.log10(records / 1000)));
}

export function checkDemoArgs(records: unknown, seed: unknown): void {
  if (
    typeof records !== 'number' ||
    !Number.isInteger(records) ||
    records < MIN_RECORDS ||
    records > MAX_RECORDS
  ) {
    throw new ConfigError(
      `records=${String(records)} is out of range; expected a whole number from ${MIN_RECORDS} to ${MAX_RECORDS}.`,
    );
  }
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) {
    throw new ConfigError(`seed=${String(seed)} is not a whole number; give an integer such as 42.`);
  }
}

const DAY_MS = 86_400_000;
const dayPrefix = new Map<number, string>();

/** ISO-8601 like SQLite's strftime('%Y-%m-%dT%H:%M:%fZ'); the date part is cached because millions are formatted. */
export function iso(ms: number): string {
  const day = Math.floor(ms / DAY_MS);
  let prefix = dayPrefix.get(day);
  if (prefix === undefined) {
    prefix = new Date(day * DAY_MS).toISOString().slice(0, 11);
    dayPrefix.set(day, prefix);
  }
  let r = ms - day * DAY_MS;
  const h = Math.floor(r / 3_600_000);
  r -= h * 3_600_000;
  const m = Math.floor(r / 60_000);
  r -= m * 60_000;
  const sec = Math.floor(r / 1000);
  const milli = r - sec * 1000;
  return `${prefix}${h < 10 ? '0' : ''}${h}:${m < 10 ? '0' : ''}${m}:${sec < 10 ? '0' : ''}${sec}.${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
}

/** Any time from `from` to the end of the window. */
function randomTime(rng: Rng, from = DATE_MIN): number {
  return from + Math.floor(rng.next() * (DATE_MAX - from));
}

/**
 * The time of row `id` of `n`: increasing with the id, as in a real CRM where
 * rows are added over the years. It also makes the date indexes append-only,
 * which keeps large demos fast.
 */
function timeOf(rng: Rng, id: number, n: number): number {
  return DATE_MIN + Math.floor(((id - 1 + rng.next()) / n) * (DATE_MAX - DATE_MIN - 4 * DAY_MS));
}

function weighted<T>(rng: Rng, items: readonly T[], weights: readonly number[]): T {
  let total = 0;
  for (const w of weights) total += w;
  let r = rng.next() * total;
  for (let i = 0; i < items.length; i++) {
    r -= weights[i]!;
    if (r < 0) return items[i]!;
  }
  return items[items.length - 1]!;
}

/** A field a real CRM leaves NULL or empty some of the time. */
function optional<T>(rng: Rng, pNull: number, pEmpty: number, value: () => T): T | null | '' {
  const r = rng.next();
  if (r < pNull) return null;
  if (r < pNull + pEmpty) return '';
  return value();
}

/** Name prefixes that open a new block of company names once the plain head+tail names run out. */
const ORG_PREFIXES = [
  'Blue',
  'Red',
  'Green',
  'New',
  'First',
  'Next',
  'Alpha',
  'Omega',
  'Hyper',
  'Ultra',
  'Great',
  'Little',
  'Big',
  'Pacific',
  'Atlantic',
  'Alpine',
  'Nordic',
  'Urban',
  'Metro',
  'Lone Star',
];
/** Strides coprime to heads × tails, so walking them visits every head+tail pair once in a scrambled order. */
const STRIDES = [2711, 3001, 1847, 4447, 977, 3371];

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/**
 * Company names whose distinctive core (prefix + head + tail) never repeats,
 * so no two random organizations are accidental duplicates; the legal suffix
 * varies freely, as entity resolution is expected to ignore it.
 */
function orgNamer(rng: Rng): (i: number) => { core: string; name: string } {
  const H = W.ORG_HEADS.length;
  const T = W.ORG_TAILS.length;
  const block = H * T;
  const stride = STRIDES.filter((s) => gcd(s, block) === 1)[rng.int(0, 3)] ?? 1;
  const offset = rng.int(0, block - 1);
  return (i) => {
    const b = Math.floor(i / block);
    const j = (offset + (i % block) * stride) % block;
    const base = W.ORG_HEADS[Math.floor(j / T)]! + W.ORG_TAILS[j % T]!;
    // Past the last prefix block, a number keeps the core unique (only beyond ~100k organizations).
    const prefix =
      b === 0
        ? ''
        : b <= ORG_PREFIXES.length
          ? `${ORG_PREFIXES[b - 1]!} `
          : `${ORG_PREFIXES[b % ORG_PREFIXES.length]!} ${b} `;
    const core = prefix + base;
    return { core, name: core + rng.pick(W.ORG_SUFFIXES) };
  };
}

function slug(s: string): string {
  return nameKey(s).replace(/[^a-z0-9]+/g, '');
}

function assertEmpty(db: Db): void {
  for (const t of [...DEMO_TABLES, 'interaction_people']) {
    let n: number;
    try {
      n = (db.prepare(`SELECT count(*) AS n FROM "${t}"`).get() as { n: number }).n;
    } catch (err) {
      throw new SourceError(
        `The demo generator needs the reference schema, but table ${t} cannot be read (${(err as Error).message}). Apply REFERENCE_SCHEMA_SQL first.`,
        { cause: err },
      );
    }
    if (n > 0) {
      throw new SourceError(
        `The demo generator writes into empty tables, but ${t} already has ${n} rows. Use a new database file (crm-index demo-data --force replaces it).`,
      );
    }
  }
}

export function generateDemo(db: Db, opts: GenerateOptions): DemoFacts {
  checkDemoArgs(opts.records, opts.seed);
  assertEmpty(db);
  const { records, seed } = opts;
  const counts = demoCounts(records);
  const root = new Rng(seed);
  const plan = root.fork('plan');

  // ------------------------------------------------------------ plans: planted rows, facts, big bodies
  const orgIdOf = new Map<string, number>();
  plan
    .distinct(PLANTED_ORGS.length, 1, counts.organizations)
    .forEach((id, i) => orgIdOf.set(PLANTED_ORGS[i]!.slot, id));
  const plantedOrgAt = new Map(PLANTED_ORGS.map((o) => [orgIdOf.get(o.slot)!, o]));
  const personIdOf = new Map<string, number>();
  plan
    .distinct(PLANTED_PEOPLE.length, 1, counts.people)
    .forEach((id, i) => personIdOf.set(PLANTED_PEOPLE[i]!.slot, id));
  const plantedPersonAt = new Map(PLANTED_PEOPLE.map((p) => [personIdOf.get(p.slot)!, p]));

  const largeIds = new Set(plan.distinct(largeBodyCount(records), 1, counts.interactions));
  const longCount = Math.min(
    counts.interactions - largeIds.size,
    Math.max(MIN_LONG_BODIES, Math.round(counts.interactions * LONG_BODY_SHARE)),
  );
  const longIds = new Set(plan.distinct(longCount, 1, counts.interactions, largeIds));

  const factPlans = planFacts(root.fork('facts'), factCount(records));
  // Where each fact goes: 60% an interaction, 25% a note, 15% both (the note then follows up on the interaction).
  const placement = factPlans.map(() => {
    const r = plan.next();
    return r < 0.6 ? 'interaction' : r < 0.85 ? 'note' : 'both';
  });
  const needI = placement.filter((p) => p !== 'note').length;
  const needN = placement.filter((p) => p !== 'interaction').length;
  const factInteractionIds = plan.distinct(
    Math.min(needI, counts.interactions - largeIds.size),
    1,
    counts.interactions,
    largeIds,
  );
  const factNoteIds = plan.distinct(Math.min(needN, counts.notes), 1, counts.notes);
  const factsByInteraction = new Map<number, FactPlan[]>();
  const factsByNote = new Map<number, { plan: FactPlan; interactionId: number | null }>();
  const answers = new Map<string, string[]>();
  const orgOfFact = new Map<string, string>();
  {
    let ii = 0;
    let ni = 0;
    factPlans.forEach((f, k) => {
      answers.set(f.id, []);
      let interactionId: number | null = null;
      if (placement[k] !== 'note' && ii < factInteractionIds.length) {
        interactionId = factInteractionIds[ii++]!;
        const list = factsByInteraction.get(interactionId) ?? [];
        list.push(f);
        factsByInteraction.set(interactionId, list);
      }
      if ((placement[k] !== 'interaction' || interactionId === null) && ni < factNoteIds.length) {
        factsByNote.set(factNoteIds[ni++]!, { plan: f, interactionId });
      }
    });
  }

  // ------------------------------------------------------------ writing
  const statements = new Map<string, string>();
  const longKeys: string[] = [];
  const largeKeys: string[] = [];
  let links = 0;
  const prevSync = db.pragma('synchronous', { simple: true }) as number;
  // A demo file is regenerated, not recovered: skip fsyncs while filling it.
  db.pragma('synchronous = OFF');
  const prevCache = db.pragma('cache_size', { simple: true }) as number;
  const prevFk = db.pragma('foreign_keys', { simple: true }) as number;
  // Every reference is generated from ids already written, so the per-row parent lookups are pure cost here.
  db.pragma('foreign_keys = OFF');
  try {
    // Random dates and keys land all over the indexes; a page cache that holds them avoids re-reading pages (200 MB max).
    db.pragma('cache_size = -200000');
    let done = 0;
    // Small demos commit more often so progress still arrives in steps of about 2%.
    const step = Math.min(ROWS_PER_TRANSACTION, Math.max(100, Math.ceil(records / 50)));
    const batched = (table: DemoTable, n: number, row: (id: number) => void): void => {
      const tx = db.transaction((from: number, to: number) => {
        for (let id = from; id <= to; id++) row(id);
      });
      for (let from = 1; from <= n; from += step) {
        const to = Math.min(n, from + step - 1);
        tx(from, to);
        done += to - from + 1;
        opts.onProgress?.({ table, done, total: records });
      }
    };

    // Organizations
    /** How notes refer to an organization: its name without the legal suffix. */
    const orgName: string[] = [''];
    const orgDomain: (string | null)[] = [null];
    const orgSector: string[] = [''];
    const orgCity: string[] = [''];
    {
      const rng = root.fork('organizations');
      const namer = orgNamer(rng);
      const usedDomains = new Set(RESERVED_DOMAINS);
      let k = 0;
      const ins = db.prepare(
        `INSERT INTO organizations (id, name, domain, website, kind, sector, location, description, archived, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      batched('organizations', counts.organizations, (id) => {
        const created = timeOf(rng, id, counts.organizations);
        const updated = rng.chance(0.3) ? randomTime(rng, created) : created;
        const planted = plantedOrgAt.get(id);
        if (planted) {
          orgName[id] = planted.name;
          orgDomain[id] = planted.domain;
          orgSector[id] = planted.sector ?? 'bitcoin infrastructure';
          orgCity[id] = planted.location ?? 'Austin, TX';
          ins.run(
            id,
            planted.name,
            planted.domain,
            planted.website,
            planted.kind,
            planted.sector,
            planted.location,
            planted.description,
            0,
            iso(created),
            iso(updated),
          );
          return;
        }
        const { core, name } = namer(k++);
        let domain: string | null = null;
        if (!rng.chance(0.15)) {
          domain = `${slug(core)}.${rng.pick(W.TLDS)}`;
          for (let n = 2; usedDomains.has(domain); n++) domain = `${slug(core)}${n}.${rng.pick(W.TLDS)}`;
          usedDomains.add(domain);
        }
        const sector = rng.pick(W.SECTORS);
        const city = rng.pick(W.LOCATIONS);
        orgName[id] = core;
        orgDomain[id] = domain;
        orgSector[id] = sector;
        orgCity[id] = city;
        const website =
          domain === null
            ? null
            : rng.chance(0.5)
              ? `https://${domain}`
              : rng.chance(0.4)
                ? `https://www.${domain}`
                : null;
        const ctx: TextContext = { org: core, people: [], sector, city };
        ins.run(
          id,
          name,
          domain,
          website,
          optional(rng, 0.05, 0, () => weighted(rng, W.ORG_KINDS, W.ORG_KIND_WEIGHTS)),
          optional(rng, 0.08, 0.04, () => sector),
          optional(rng, 0.1, 0.05, () => city),
          optional(rng, 0.15, 0.05, () =>
            rng.chance(0.7) ? description(rng, ctx) : `${description(rng, ctx)} ${paragraph(rng, ctx, 2, 6)}`,
          ),
          rng.chance(0.03) ? 1 : 0,
          iso(created),
          iso(updated),
        );
      });
    }

    // People
    const personName: string[] = [''];
    const personOrg = new Int32Array(counts.people + 1);
    const peopleByOrg: number[][] = Array.from({ length: counts.organizations + 1 }, () => []);
    {
      const rng = root.fork('people');
      const usedEmails = new Set(RESERVED_EMAILS);
      // Names come from a few thousand combinations; remember the verdict instead of normalizing every time.
      const reserved = new Map<string, boolean>();
      const isReserved = (full: string): boolean => {
        let r = reserved.get(full);
        if (r === undefined) reserved.set(full, (r = RESERVED_PERSON_NAMES.has(nameKey(full))));
        return r;
      };
      const ins = db.prepare(
        `INSERT INTO people (id, full_name, email, email_secondary, phone, title, organization_id, linkedin, notes, archived, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const uniqueEmail = (local: string, domain: string): string => {
        let e = `${local}@${domain}`;
        for (let n = 2; usedEmails.has(e); n++) e = `${local}${n}@${domain}`;
        usedEmails.add(e);
        return e;
      };
      batched('people', counts.people, (id) => {
        const created = timeOf(rng, id, counts.people);
        const updated = rng.chance(0.3) ? randomTime(rng, created) : created;
        const planted = plantedPersonAt.get(id);
        if (planted) {
          const org = planted.org ? orgIdOf.get(planted.org)! : null;
          personName[id] = planted.full_name;
          personOrg[id] = org ?? 0;
          if (org) peopleByOrg[org]!.push(id);
          ins.run(
            id,
            planted.full_name,
            planted.email,
            planted.email_secondary,
            planted.phone,
            planted.title,
            org,
            planted.linkedin,
            null,
            0,
            iso(created),
            iso(updated),
          );
          return;
        }
        let full: string;
        let ascii: string;
        do {
          if (rng.chance(0.06)) {
            [full, ascii] = rng.pick(W.CJK_NAMES);
          } else {
            const first = rng.pick(W.FIRST_NAMES);
            const last = rng.pick(W.LAST_NAMES);
            full = `${first[0]} ${last[0]}`;
            ascii = `${first[1]}.${last[1]}`;
          }
        } while (isReserved(full));
        const org = rng.chance(0.85) ? rng.int(1, counts.organizations) : 0;
        personName[id] = full;
        personOrg[id] = org;
        if (org) peopleByOrg[org]!.push(id);
        const domain = org ? orgDomain[org] : null;
        const personal = `${rng.pick(['gmail.com', 'gmail.com', 'outlook.com', 'proton.me', 'icloud.com'])}`;
        const email = optional(rng, 0.08, 0.04, () =>
          domain && rng.chance(0.85) ? uniqueEmail(ascii, domain) : uniqueEmail(ascii, personal),
        );
        const secondary =
          domain && rng.chance(0.1) ? uniqueEmail(ascii, personal) : rng.chance(0.05) ? '' : null;
        const ctx: TextContext = {
          org: org ? orgName[org]! : W.FIRM_NAME,
          people: [full],
          sector: org ? orgSector[org]! : 'fintech',
          city: org ? orgCity[org]! : 'London',
        };
        ins.run(
          id,
          full,
          email,
          secondary,
          optional(
            rng,
            0.4,
            0.05,
            () => `+1 ${rng.int(201, 989)} 555 ${String(rng.int(0, 9999)).padStart(4, '0')}`,
          ),
          optional(rng, 0.15, 0.05, () => rng.pick(W.TITLES)),
          org || null,
          optional(
            rng,
            0.5,
            0.05,
            () => ascii.replace('.', '-') + (rng.chance(0.3) ? `-${rng.int(1, 999)}` : ''),
          ),
          optional(rng, 0.6, 0.1, () => paragraph(rng, ctx, 1, 4)),
          rng.chance(0.02) ? 1 : 0,
          iso(created),
          iso(updated),
        );
      });
    }

    // Deals
    const dealOrg = new Int32Array(counts.deals + 1);
    {
      const rng = root.fork('deals');
      const ins = db.prepare(
        `INSERT INTO deals (id, organization_id, name, stage, amount_usd, round, owner, memo, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      batched('deals', counts.deals, (id) => {
        const org = rng.int(1, counts.organizations);
        dealOrg[id] = org;
        const round = rng.pick(W.ROUNDS);
        const created = timeOf(rng, id, counts.deals);
        const updated = rng.chance(0.5) ? randomTime(rng, created) : created;
        const ctx: TextContext = {
          org: orgName[org]!,
          people: peopleByOrg[org]!.slice(0, 3).map((p) => personName[p]!),
          sector: orgSector[org]!,
          city: orgCity[org]!,
        };
        ins.run(
          id,
          org,
          optional(rng, 0.03, 0.02, () => `${orgName[org]!} ${round}`),
          weighted(rng, W.STAGES, W.STAGE_WEIGHTS),
          rng.chance(0.2) ? null : rng.int(1, 400) * 25_000,
          optional(rng, 0.1, 0.03, () => round),
          optional(rng, 0.05, 0, () => rng.pick(W.OWNERS)),
          optional(rng, 0.25, 0.05, () =>
            bodyParagraphs(rng, ctx, rng.chance(0.7) ? 'short' : 'medium').join('\n\n'),
          ),
          iso(created),
          iso(updated),
        );
      });
    }

    // Interactions and their participants
    const interactionSubject: (string | null)[] = [null];
    const interactionOrg = new Int32Array(counts.interactions + 1);
    {
      const rng = root.fork('interactions');
      const ins = db.prepare(
        `INSERT INTO interactions (id, kind, occurred_at, subject, body, organization_id, owner, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const link = db.prepare(
        'INSERT INTO interaction_people (interaction_id, person_id, role) VALUES (?, ?, ?)',
      );
      batched('interactions', counts.interactions, (id) => {
        const kind = weighted(rng, W.INTERACTION_KINDS, W.INTERACTION_KIND_WEIGHTS);
        const facts = factsByInteraction.get(id);
        // A planted fact names an organization, so its interaction always has one.
        const org = facts || rng.chance(0.9) ? rng.int(1, counts.organizations) : 0;
        const participants: number[] = [];
        const pool = org ? peopleByOrg[org]! : [];
        const nLocal = pool.length === 0 ? 0 : rng.int(0, Math.min(3, pool.length));
        for (let i = 0; i < nLocal; i++) {
          const p = rng.pick(pool);
          if (!participants.includes(p)) participants.push(p);
        }
        if (rng.chance(0.25)) {
          const p = rng.int(1, counts.people);
          if (!participants.includes(p)) participants.push(p);
        }
        const names = participants.map((p) => personName[p]!);
        const ctx: TextContext = {
          org: org ? orgName[org]! : W.FIRM_NAME,
          people: names,
          sector: org ? orgSector[org]! : rng.pick(W.SECTORS),
          city: org ? orgCity[org]! : rng.pick(W.LOCATIONS),
        };
        const occurred = timeOf(rng, id, counts.interactions);
        const created = occurred + rng.int(0, 72 * 3600_000);
        const updated = rng.chance(0.2) ? randomTime(rng, created) : created;
        const subj = optional(rng, 0.03, 0.02, () => subject(rng, ctx));
        let body: string | null;
        if (largeIds.has(id)) {
          body = hugeBody(rng, ctx, rng.int(1_000_000, 2_000_000));
          largeKeys.push(`interactions:${id}`);
        } else {
          const size: BodySize = longIds.has(id) ? 'long' : rng.chance(0.7) ? 'short' : 'medium';
          const empty = !facts && size !== 'long' ? rng.next() : 1;
          if (empty < 0.02) body = null;
          else if (empty < 0.04) body = '';
          else {
            const paras = bodyParagraphs(rng, ctx, size);
            for (const f of facts ?? []) {
              const s = factStatement(f, ctx.org);
              statements.set(f.id, s);
              orgOfFact.set(f.id, ctx.org);
              answers.get(f.id)!.push(`interactions:${id}`);
              // Mid-body in long notes, so a retriever must find the right chunk, not just the first one.
              const at = rng.int(0, paras.length);
              paras.splice(at, 0, s);
            }
            body = kind === 'email' ? asEmail(rng, ctx, paras) : paras.join('\n\n');
            if (size === 'long') longKeys.push(`interactions:${id}`);
          }
        }
        interactionSubject[id] = typeof subj === 'string' && subj !== '' ? subj : null;
        interactionOrg[id] = org;
        ins.run(
          id,
          kind,
          iso(occurred),
          subj,
          body,
          org || null,
          optional(rng, 0.05, 0, () => rng.pick(W.OWNERS)),
          iso(created),
          iso(updated),
        );
        for (let i = 0; i < participants.length; i++) {
          link.run(id, participants[i]!, i === 0 && kind === 'email' ? 'from' : rng.pick(W.ROLES));
          links++;
        }
      });
    }

    // Notes
    {
      const rng = root.fork('notes');
      const ins = db.prepare(
        'INSERT INTO notes (id, subject_table, subject_id, author, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      );
      const subjectTables = ['organizations', 'people', 'deals', 'interactions'] as const;
      batched('notes', counts.notes, (id) => {
        const fact = factsByNote.get(id);
        let table: (typeof subjectTables)[number] = weighted(rng, subjectTables, [30, 25, 20, 25]);
        let subjectId = rng.int(1, counts[table]);
        if (fact?.plan && fact.interactionId !== null) {
          table = 'interactions';
          subjectId = fact.interactionId;
        }
        const org =
          table === 'organizations'
            ? subjectId
            : table === 'people'
              ? personOrg[subjectId]!
              : table === 'interactions'
                ? interactionOrg[subjectId]!
                : dealOrg[subjectId]!;
        const ctx: TextContext = {
          org: org ? orgName[org]! : table === 'people' ? personName[subjectId]! : W.FIRM_NAME,
          people: table === 'people' ? [personName[subjectId]!] : [],
          sector: org ? orgSector[org]! : rng.pick(W.SECTORS),
          city: org ? orgCity[org]! : rng.pick(W.LOCATIONS),
        };
        const created = timeOf(rng, id, counts.notes);
        const updated = rng.chance(0.2) ? randomTime(rng, created) : created;
        let body: string | null | '';
        if (fact) {
          const f = fact.plan;
          // A follow-up note repeats the statement already planted in its interaction, word for word.
          const s = statements.get(f.id) ?? factStatement(f, ctx.org);
          statements.set(f.id, s);
          if (!orgOfFact.has(f.id)) orgOfFact.set(f.id, ctx.org);
          answers.get(f.id)!.push(`notes:${id}`);
          const lead =
            fact.interactionId !== null
              ? `Follow-up on "${interactionSubject[fact.interactionId] ?? 'our meeting'}": `
              : '';
          body = `${lead}${s} ${paragraph(rng, ctx, 0, 3)}`.trim();
        } else {
          body = optional(rng, 0.03, 0.02, () =>
            bodyParagraphs(rng, ctx, rng.chance(0.8) ? 'short' : 'medium').join('\n\n'),
          );
        }
        ins.run(
          id,
          table,
          subjectId,
          optional(rng, 0.05, 0, () => rng.pick(W.OWNERS)),
          body,
          iso(created),
          iso(updated),
        );
      });
    }
  } finally {
    db.pragma(`synchronous = ${prevSync}`);
    db.pragma(`cache_size = ${prevCache}`);
    db.pragma(`foreign_keys = ${prevFk}`);
  }

  // ------------------------------------------------------------ facts
  const key = (table: string, slot: string): string =>
    `${table}:${table === 'organizations' ? orgIdOf.get(slot)! : personIdOf.get(slot)!}`;
  const retrieval: PlantedFact[] = [];
  for (const f of factPlans) {
    const statement = statements.get(f.id);
    const ans = answers.get(f.id)!;
    if (statement === undefined || ans.length === 0) continue;
    retrieval.push({
      id: f.id,
      query: factQuery(f, orgOfFact.get(f.id)!),
      answers: ans,
      split: f.split,
      style: f.style,
      statement,
    });
  }
  return {
    version: 1,
    seed,
    records,
    counts: { ...counts, interaction_people: links },
    duplicates: {
      organizations: DUPLICATE_ORGS.map((g) => g.map((s) => key('organizations', s))),
      people: DUPLICATE_PEOPLE.map((g) => g.map((s) => key('people', s))),
    },
    distinct: DISTINCT.map(([t, a, b]) => [key(t, a), key(t, b)]),
    retrieval,
    longBodies: longKeys.slice(0, 200),
    largeBodies: largeKeys,
  };
}
