/**
 * Incremental equals full, by property: random inserts, updates and deletes
 * of people and organizations, captured by the real triggers, with override
 * changes and incremental passes at random points; afterwards the entity
 * tables must equal a full recompute from scratch of the final database.
 */
import fs from 'node:fs';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { Db } from '../../crm/db.js';
import { DEFAULT_SOURCE_MAP } from '../../crm/sourceMap.js';
import { installCapture } from '../../triggers/install.js';
import {
  removeOverride,
  resolveChanged,
  resolveFull,
  resolveIncremental,
  setOverride,
} from '../../entities/index.js';
import { entityOf, snapshot, tempCrm } from './helpers.js';
import { propertyParams } from '../helpers/property.js';

const open: Db[] = [];
afterEach(() => {
  for (const db of open.splice(0)) db.close();
});

// Small pools so that records collide often: merges, splits and chains are the point.
const ORG_NAMES = [
  'Acme, Inc.',
  'ACME Inc',
  'Foo Group',
  'The Foo Group LLC',
  'Bar Ltd',
  'Baz',
  'Qux GmbH',
  'Inc.',
];
const DOMAINS = [null, null, 'acme.com', 'foo.com', 'bar.io', 'gmail.com', 'https://www.acme.com/'];
const NAMES = ['John Smith', 'Jane Doe', 'José Müller', 'Jose Muller', 'Ann Lee', 'Bo Chen'];
const EMAILS = [
  null,
  null,
  'j@acme.com',
  'J+x@acme.com',
  'jd@foo.com',
  'x.y@gmail.com',
  'xy@gmail.com',
  'ann@bar.io',
  'b@qux.de',
];
const PHONES = [null, null, null, '+1 555 0100 001', '1-555-0100-001', '+44 20 7946 0000'];

/** A record picked among the rows present when the step runs (`pick` modulo their number). */
const pick = fc.nat();
const ORG_COLUMNS = { name: ORG_NAMES, domain: DOMAINS, website: DOMAINS } as const;
const PERSON_COLUMNS = { full_name: NAMES, email: EMAILS, email_secondary: EMAILS, phone: PHONES } as const;

const edit = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('insertOrg' as const),
      name: fc.constantFrom(...ORG_NAMES),
      domain: fc.constantFrom(...DOMAINS),
      website: fc.constantFrom(...DOMAINS),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('insertPerson' as const),
      name: fc.constantFrom(...NAMES),
      email: fc.constantFrom(...EMAILS),
      email2: fc.constantFrom(...EMAILS),
      phone: fc.constantFrom(...PHONES),
      org: fc.option(pick, { freq: 5 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(...(Object.keys(ORG_COLUMNS) as (keyof typeof ORG_COLUMNS)[])).chain((col) =>
      fc.record({
        op: fc.constant('updateOrg' as const),
        at: pick,
        col: fc.constant(col),
        value: fc.constantFrom(...ORG_COLUMNS[col]),
      }),
    ),
  },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom(...(Object.keys(PERSON_COLUMNS) as (keyof typeof PERSON_COLUMNS)[]))
      .chain((col) =>
        fc.record({
          op: fc.constant('updatePerson' as const),
          at: pick,
          col: fc.constant(col),
          value: fc.constantFrom(...PERSON_COLUMNS[col]),
        }),
      ),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('movePerson' as const),
      at: pick,
      org: fc.option(pick, { freq: 5 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('deleteOrg' as const), at: pick }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('deletePerson' as const), at: pick }) },
);
const step = fc.oneof(
  { weight: 15, arbitrary: edit },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('override' as const),
      table: fc.constantFrom('organizations', 'people'),
      a: pick,
      b: pick,
      verdict: fc.constantFrom('same' as const, 'not_same' as const, 'remove' as const),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('incremental' as const),
      readBatch: fc.integer({ min: 1, max: 8 }),
      maxPasses: fc.integer({ min: 1, max: 3 }),
    }),
  },
);
type Step = typeof step extends fc.Arbitrary<infer T> ? T : never;

function apply(db: Db, s: Step): void {
  const ids = (table: string) => db.prepare(`SELECT id FROM ${table}`).pluck().all() as number[];
  const orgIds = ids('organizations');
  const peopleIds = ids('people');
  const nth = (xs: number[], at: number) => xs[at % xs.length]!;
  const orgRef = (at: number | null) => (at === null || orgIds.length === 0 ? null : nth(orgIds, at));
  switch (s.op) {
    case 'insertOrg':
      db.prepare('INSERT INTO organizations (name, domain, website) VALUES (?, ?, ?)').run(
        s.name,
        s.domain,
        s.website,
      );
      return;
    case 'insertPerson':
      db.prepare(
        'INSERT INTO people (full_name, email, email_secondary, phone, organization_id) VALUES (?, ?, ?, ?, ?)',
      ).run(s.name, s.email, s.email2, s.phone, orgRef(s.org));
      return;
    case 'updateOrg':
      if (orgIds.length)
        db.prepare(`UPDATE organizations SET ${s.col} = ? WHERE id = ?`).run(s.value, nth(orgIds, s.at));
      return;
    case 'updatePerson':
      if (peopleIds.length)
        db.prepare(`UPDATE people SET ${s.col} = ? WHERE id = ?`).run(s.value, nth(peopleIds, s.at));
      return;
    case 'movePerson':
      if (peopleIds.length)
        db.prepare('UPDATE people SET organization_id = ? WHERE id = ?').run(
          orgRef(s.org),
          nth(peopleIds, s.at),
        );
      return;
    case 'deleteOrg':
      // No foreign-key enforcement: people may keep pointing at a deleted organization.
      if (orgIds.length) db.prepare('DELETE FROM organizations WHERE id = ?').run(nth(orgIds, s.at));
      return;
    case 'deletePerson':
      if (peopleIds.length) db.prepare('DELETE FROM people WHERE id = ?').run(nth(peopleIds, s.at));
      return;
    case 'override': {
      const pool = s.table === 'organizations' ? orgIds : peopleIds;
      if (pool.length < 2) return;
      const a = `${s.table}:${nth(pool, s.a)}`;
      const b = `${s.table}:${nth(pool, s.b)}`;
      if (a === b) return;
      if (s.verdict === 'remove') removeOverride(db, a, b);
      else setOverride(db, a, b, s.verdict);
      const isOrg = s.table === 'organizations';
      resolveChanged(db, isOrg ? [a, b] : [], isOrg ? [] : [a, b]);
      return;
    }
    case 'incremental':
      resolveIncremental(db, { readBatch: s.readBatch, maxPasses: s.maxPasses });
      return;
  }
}

function fullFromScratch(db: Db) {
  db.exec('DELETE FROM entities; DELETE FROM entity_links; DELETE FROM entity_keys;');
  resolveFull(db);
  return snapshot(db);
}

describe('incremental resolution', () => {
  it('equals a full recompute after random inserts, updates, deletes and overrides (property)', () => {
    let runs = 0;
    let merged = 0;
    fc.assert(
      fc.property(
        fc.array(edit, { minLength: 4, maxLength: 8 }),
        fc.array(step, { minLength: 10, maxLength: 40, size: 'medium' }),
        (setup, steps) => {
          const { db, dir } = tempCrm();
          try {
            installCapture(db, DEFAULT_SOURCE_MAP);
            for (const s of setup) apply(db, s);
            resolveIncremental(db); // first run: full resolve, cursor at the end of the log
            for (const s of steps) apply(db, s);
            resolveIncremental(db);
            const incremental = snapshot(db);
            runs++;
            if (
              (db.prepare('SELECT count(*) FROM entities WHERE member_count > 1').pluck().get() as number) > 0
            )
              merged++;
            expect(fullFromScratch(db)).toEqual(incremental);
          } finally {
            db.close();
            fs.rmSync(dir, { recursive: true, force: true });
          }
        },
      ),
      propertyParams(60),
    );
    // The generator must actually produce merges, or the property says little.
    expect(merged).toBeGreaterThan(runs / 3);
  });

  it('returns the records whose entity changed, and advances its cursor after writing', () => {
    const { db } = tempCrm();
    open.push(db);
    installCapture(db, DEFAULT_SOURCE_MAP);
    db.exec(`INSERT INTO organizations (id, name, domain) VALUES (1, 'Acme', 'acme.com'), (2, 'Other', 'other.com');
             INSERT INTO people (id, full_name, email, organization_id) VALUES (1, 'Jane Doe', 'jane@other.com', 2);`);
    resolveIncremental(db);
    expect(entityOf(db, 'organizations:2')).toBe('org:2');
    // Jane's company email domain now says organization 2 is also acme.com: 2 joins 1.
    db.exec(`UPDATE people SET email = 'jane@acme.com' WHERE id = 1`);
    const r = resolveIncremental(db);
    expect(r.changes).toBe(1);
    expect(r.changedRecordKeys).toEqual(['organizations:2']);
    expect(entityOf(db, 'organizations:2')).toBe('org:1');
    const again = resolveIncremental(db);
    expect(again.changes).toBe(0);
    expect(again.cursor).toBe(r.cursor);
  });

  it('re-resolves the people of an organization whose entity changed (their name_org evidence names it)', () => {
    const { db } = tempCrm();
    open.push(db);
    installCapture(db, DEFAULT_SOURCE_MAP);
    db.exec(`INSERT INTO organizations (id, name, domain) VALUES (1, 'Acme', 'acme.com'), (2, 'Other', 'other.com');
             INSERT INTO people (id, full_name, organization_id) VALUES (1, 'Jane Doe', 1), (2, 'Jane Doe', 2);`);
    resolveIncremental(db);
    expect(entityOf(db, 'people:2')).toBe('person:2');
    db.exec(`UPDATE organizations SET domain = 'acme.com' WHERE id = 2`);
    const r = resolveIncremental(db);
    expect(entityOf(db, 'organizations:2')).toBe('org:1');
    expect(entityOf(db, 'people:2')).toBe('person:1');
    expect(r.changedRecordKeys.sort()).toEqual(['organizations:2', 'people:2']);
  });

  it('refuses to run while another process holds its lease', async () => {
    const { db } = tempCrm();
    open.push(db);
    installCapture(db, DEFAULT_SOURCE_MAP);
    resolveIncremental(db);
    const { acquireLease } = await import('../../triggers/changelog.js');
    expect(acquireLease(db, 'entities', 'someone-else', 60_000)).toBe(true);
    expect(() => resolveIncremental(db, { owner: 'me' })).toThrow(/lease/);
  });
});
