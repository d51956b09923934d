import { afterEach, describe, expect, it } from 'vitest';
import type { Db } from '../../crm/db.js';
import { generateDemo } from '../../crm/demo/generate.js';
import {
  entityIdsFor,
  listOverrides,
  resolveChanged,
  resolveFull,
  setOverride,
  removeOverride,
} from '../../entities/index.js';
import { entityOf, snapshot, tempCrm } from './helpers.js';

const open: Db[] = [];
afterEach(() => {
  for (const db of open.splice(0)) db.close();
});

function demo(records: number, seed: number) {
  const t = tempCrm();
  open.push(t.db);
  const facts = generateDemo(t.db, { records, seed });
  return { ...t, facts };
}

describe('full resolution of the demo CRM', () => {
  for (const seed of [1, 2, 3]) {
    it(`finds every planted duplicate and keeps the planted lookalikes apart (seed ${seed})`, () => {
      const { db, facts } = demo(600, seed);
      resolveFull(db);
      const groups = [...facts.duplicates.organizations, ...facts.duplicates.people];
      expect(groups.length).toBeGreaterThan(0);
      for (const g of groups) {
        const ids = new Set(g.map((k) => entityOf(db, k)));
        expect(ids.size, `group ${g.join(' ')}`).toBe(1);
        expect([...ids][0]).toBeDefined();
      }
      expect(facts.distinct.length).toBeGreaterThan(0);
      for (const [a, b] of facts.distinct) {
        expect(entityOf(db, a!), `${a} vs ${b}`).not.toBe(entityOf(db, b!));
      }
    });
  }

  it('records the evidence of each merge', () => {
    const { db, facts } = demo(400, 5);
    resolveFull(db);
    const [a] = facts.duplicates.people.find((g) => g.length === 2)!;
    const evidence = JSON.parse(
      db.prepare('SELECT evidence FROM entity_links WHERE record_key = ?').pluck().get(a) as string,
    ) as { rule: string; records: string[] }[];
    expect(evidence.length).toBeGreaterThan(0);
    expect(evidence.some((e) => e.records.includes(a!) && e.records.length >= 2)).toBe(true);
  });

  it('gives identical ids, evidence and tables when run again, and writes nothing the second time', () => {
    const { db } = demo(500, 9);
    resolveFull(db);
    const first = snapshot(db);
    const again = resolveFull(db);
    expect(again.writes).toBe(0);
    expect(again.changedRecordKeys).toEqual([]);
    expect(snapshot(db)).toEqual(first);
  });

  it('changes no existing id when an unrelated record is added', () => {
    const { db } = demo(500, 11);
    resolveFull(db);
    const before = new Map(
      (
        db.prepare('SELECT record_key, entity_id FROM entity_links').all() as {
          record_key: string;
          entity_id: string;
        }[]
      ).map((r) => [r.record_key, r.entity_id]),
    );
    db.prepare(
      "INSERT INTO organizations (name, domain) VALUES ('Zyxwv Unrelated Holdings', 'zyxwv-unrelated.example')",
    ).run();
    db.prepare(
      "INSERT INTO people (full_name, email) VALUES ('Qwerty Unrelatedperson', 'qwerty@zyxwv-unrelated.example')",
    ).run();
    const s = resolveFull(db);
    expect(s.changedRecordKeys).toHaveLength(2);
    for (const [k, id] of before) expect(entityOf(db, k)).toBe(id);
  });
});

describe('rules on hand-made records', () => {
  it('never merges two people on a common name alone, but does at the same organization entity', () => {
    const { db } = tempCrm();
    open.push(db);
    db.exec(`
      INSERT INTO organizations (id, name, domain) VALUES (1, 'Acme, Inc.', 'acme.com'), (2, 'ACME Inc', NULL), (3, 'Other Co', 'other.com');
      INSERT INTO people (id, full_name, email, organization_id) VALUES
        (1, 'John Smith', NULL, 1), (2, 'John Smith', NULL, 2), (3, 'John Smith', NULL, 3), (4, 'John Smith', NULL, NULL);
    `);
    resolveFull(db);
    expect(entityOf(db, 'organizations:2')).toBe('org:1');
    expect(entityOf(db, 'people:2')).toBe('person:1');
    expect(entityOf(db, 'people:3')).toBe('person:3');
    expect(entityOf(db, 'people:4')).toBe('person:4');
  });

  it('does not merge organizations on a shared webmail domain', () => {
    const { db } = tempCrm();
    open.push(db);
    db.exec(`
      INSERT INTO organizations (id, name, website) VALUES (1, 'Alpha', 'https://gmail.com'), (2, 'Beta', 'gmail.com');
      INSERT INTO people (id, full_name, email, organization_id) VALUES (1, 'A', 'a@gmail.com', 1), (2, 'B', 'b@gmail.com', 2);
    `);
    resolveFull(db);
    expect(entityOf(db, 'organizations:1')).not.toBe(entityOf(db, 'organizations:2'));
  });

  it("merges organizations through their people's company email domain", () => {
    const { db } = tempCrm();
    open.push(db);
    db.exec(`
      INSERT INTO organizations (id, name, domain) VALUES (1, 'Initech', 'initech.io'), (2, 'Initech Software (old entry)', NULL);
      INSERT INTO people (id, full_name, email, organization_id) VALUES (1, 'Peter G', 'peter@initech.io', 2);
    `);
    resolveFull(db);
    expect(entityOf(db, 'organizations:2')).toBe('org:1');
  });
});

describe('overrides', () => {
  function acme() {
    const { db } = tempCrm();
    open.push(db);
    db.exec(`
      INSERT INTO organizations (id, name, domain) VALUES (1, 'Acme, Inc.', 'acme.com'), (2, 'ACME Inc', 'acme.com'), (3, 'Acme', NULL), (4, 'Zeta', 'zeta.io');
    `);
    resolveFull(db);
    return db;
  }

  it('not_same splits records the rules merged, dropping the weakest links, and survives a full recompute', () => {
    const db = acme();
    expect(entityOf(db, 'organizations:3')).toBe('org:1');
    setOverride(db, 'organizations:1', 'organizations:3', 'not_same');
    const r = resolveChanged(db, ['organizations:1', 'organizations:3'], []);
    expect(r.changedRecordKeys).toEqual(['organizations:3']);
    // domain (strong) keeps 1 and 2 together; the name link (weak) that would pull 3 in is dropped.
    expect(entityOf(db, 'organizations:2')).toBe('org:1');
    expect(entityOf(db, 'organizations:3')).toBe('org:3');
    const afterOverride = snapshot(db);
    resolveFull(db);
    expect(snapshot(db)).toEqual(afterOverride);
    expect(listOverrides(db)).toEqual([{ a: 'organizations:1', b: 'organizations:3', verdict: 'not_same' }]);
  });

  it('same merges records no rule links, and unlink undoes it', () => {
    const db = acme();
    setOverride(db, 'organizations:4', 'organizations:2', 'same');
    resolveChanged(db, ['organizations:4', 'organizations:2'], []);
    expect(entityOf(db, 'organizations:4')).toBe('org:1');
    resolveFull(db);
    expect(entityOf(db, 'organizations:4')).toBe('org:1');
    expect(removeOverride(db, 'organizations:2', 'organizations:4')).toBe(true);
    resolveChanged(db, ['organizations:4', 'organizations:2'], []);
    expect(entityOf(db, 'organizations:4')).toBe('org:4');
  });

  it('refuses an override between different tables, naming both keys', () => {
    const db = acme();
    expect(() => setOverride(db, 'organizations:1', 'people:1', 'same')).toThrow(/organizations:1.*people:1/);
  });
});

describe('entityIdsFor', () => {
  it("tags people with their own and their organization's entity, and interactions with theirs and their participants'", () => {
    const { db } = tempCrm();
    open.push(db);
    db.exec(`
      INSERT INTO organizations (id, name, domain) VALUES (1, 'Acme', 'acme.com'), (2, 'Acme Inc', 'acme.com');
      INSERT INTO people (id, full_name, email, organization_id) VALUES (1, 'Jane', 'jane@acme.com', 2), (2, 'Bob', 'bob@bob.org', NULL);
      INSERT INTO deals (id, organization_id, name) VALUES (1, 2, 'Seed');
      INSERT INTO interactions (id, subject, organization_id) VALUES (1, 'Intro', 2);
      INSERT INTO interaction_people (interaction_id, person_id) VALUES (1, 1), (1, 2);
      INSERT INTO notes (id, subject_table, subject_id, body) VALUES (1, 'people', 1, 'note');
    `);
    resolveFull(db);
    const m = entityIdsFor(db, [
      'organizations:2',
      'people:1',
      'deals:1',
      'interactions:1',
      'notes:1',
      'people:99',
    ]);
    expect(m.get('organizations:2')).toEqual(['org:1']);
    expect(m.get('people:1')).toEqual(['org:1', 'person:1']);
    expect(m.get('deals:1')).toEqual(['org:1']);
    expect(m.get('interactions:1')).toEqual(['org:1', 'person:1', 'person:2']);
    expect(m.get('notes:1')).toEqual(['org:1', 'person:1']);
    expect(m.get('people:99')).toEqual([]);
  });
});
