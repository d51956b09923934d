/**
 * Incremental equals full: random inserts, updates and deletes of people and
 * organizations, captured by the real triggers, with incremental passes (and
 * override changes) at random points; afterwards the entity tables must equal
 * a full recompute from scratch of the final database.
 */
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

const open: Db[] = [];
afterEach(() => {
  for (const db of open.splice(0)) db.close();
});

/** mulberry32: a tiny seeded generator, so each seed replays exactly. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  return { next, pick, int: (n: number) => Math.floor(next() * n) };
}

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

function randomOp(db: Db, r: ReturnType<typeof rng>): void {
  const orgIds = db.prepare('SELECT id FROM organizations').pluck().all() as number[];
  const peopleIds = db.prepare('SELECT id FROM people').pluck().all() as number[];
  const orgRef = () => (orgIds.length > 0 && r.next() < 0.8 ? r.pick(orgIds) : null);
  const x = r.next();
  if (x < 0.18 || orgIds.length < 2) {
    db.prepare('INSERT INTO organizations (name, domain, website) VALUES (?, ?, ?)').run(
      r.pick(ORG_NAMES),
      r.pick(DOMAINS),
      r.pick(DOMAINS),
    );
  } else if (x < 0.45 || peopleIds.length < 2) {
    db.prepare(
      'INSERT INTO people (full_name, email, email_secondary, phone, organization_id) VALUES (?, ?, ?, ?, ?)',
    ).run(r.pick(NAMES), r.pick(EMAILS), r.pick(EMAILS), r.pick(PHONES), orgRef());
  } else if (x < 0.6) {
    const col = r.pick(['name', 'domain', 'website']);
    const v = col === 'name' ? r.pick(ORG_NAMES) : r.pick(DOMAINS);
    db.prepare(`UPDATE organizations SET ${col} = ? WHERE id = ?`).run(v, r.pick(orgIds));
  } else if (x < 0.82) {
    const col = r.pick(['full_name', 'email', 'email_secondary', 'phone', 'organization_id']);
    const v =
      col === 'full_name'
        ? r.pick(NAMES)
        : col === 'phone'
          ? r.pick(PHONES)
          : col === 'organization_id'
            ? orgRef()
            : r.pick(EMAILS);
    db.prepare(`UPDATE people SET ${col} = ? WHERE id = ?`).run(v, r.pick(peopleIds));
  } else if (x < 0.9) {
    // No foreign-key enforcement: people may keep pointing at a deleted organization.
    db.prepare('DELETE FROM organizations WHERE id = ?').run(r.pick(orgIds));
  } else {
    db.prepare('DELETE FROM people WHERE id = ?').run(r.pick(peopleIds));
  }
}

function randomOverride(db: Db, r: ReturnType<typeof rng>): void {
  const table = r.pick(['organizations', 'people']);
  const ids = db.prepare(`SELECT id FROM ${table}`).pluck().all() as number[];
  if (ids.length < 2) return;
  const a = `${table}:${r.pick(ids)}`;
  const b = `${table}:${r.pick(ids)}`;
  if (a === b) return;
  if (r.next() < 0.25) removeOverride(db, a, b);
  else setOverride(db, a, b, r.next() < 0.6 ? 'not_same' : 'same');
  const isOrg = table === 'organizations';
  resolveChanged(db, isOrg ? [a, b] : [], isOrg ? [] : [a, b]);
}

function fullFromScratch(db: Db) {
  db.exec('DELETE FROM entities; DELETE FROM entity_links; DELETE FROM entity_keys;');
  resolveFull(db);
  return snapshot(db);
}

describe('incremental resolution', () => {
  const SEEDS = 30;
  it(`equals a full recompute after random inserts, updates, deletes and overrides (${SEEDS} seeds)`, () => {
    let merged = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const { db } = tempCrm();
      open.push(db);
      installCapture(db, DEFAULT_SOURCE_MAP);
      const r = rng(seed);
      for (let i = 0; i < 6; i++) randomOp(db, r);
      resolveIncremental(db); // first run: full resolve, cursor at the end of the log
      const steps = 20 + r.int(20);
      for (let i = 0; i < steps; i++) {
        const y = r.next();
        if (y < 0.75) randomOp(db, r);
        else if (y < 0.85) randomOverride(db, r);
        else resolveIncremental(db, { readBatch: 1 + r.int(8), maxPasses: 1 + r.int(3) });
      }
      resolveIncremental(db);
      const incremental = snapshot(db);
      merged +=
        (db.prepare('SELECT count(*) FROM entities WHERE member_count > 1').pluck().get() as number) > 0
          ? 1
          : 0;
      expect(fullFromScratch(db), `seed ${seed}`).toEqual(incremental);
      db.close();
      open.pop();
    }
    // The generator must actually produce merges, or the property says little.
    expect(merged).toBeGreaterThan(SEEDS / 2);
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
