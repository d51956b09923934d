import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../../crm/db.js';
import { DEFAULT_SOURCE_MAP, tableMap, watchedColumns } from '../../crm/sourceMap.js';
import { captured, changes, lastSeq, referenceCrm } from './helpers.js';

let db: Db;
beforeEach(() => {
  db = referenceCrm().db;
  db.exec(`
    INSERT INTO organizations (id, name, kind) VALUES (1, 'Acme', 'portfolio'), (2, 'Globex', 'prospect');
    INSERT INTO people (id, full_name, organization_id) VALUES (10, 'Ada', 1), (11, 'Bob', 2);
    INSERT INTO interactions (id, subject, body, organization_id) VALUES (100, 'Intro call', 'long body', 1);
  `);
});
afterEach(() => db.close());

describe('every kind of write is captured once with the right op', () => {
  it('records an INSERT as I with the new key', () => {
    expect(captured(db, () => db.exec(`INSERT INTO organizations (id, name) VALUES (3, 'Initech')`))).toEqual(
      ['organizations:3:I'],
    );
  });

  it('records an INSERT with an automatically assigned rowid key', () => {
    const got = captured(db, () => db.prepare(`INSERT INTO deals (name) VALUES ('Seed')`).run());
    const id = (db.prepare(`SELECT id FROM deals WHERE name = 'Seed'`).get() as { id: number }).id;
    expect(got).toEqual([`deals:${id}:I`]);
  });

  it('records an UPDATE of a mapped column as U', () => {
    expect(captured(db, () => db.exec(`UPDATE organizations SET name = 'Acme Corp' WHERE id = 1`))).toEqual([
      'organizations:1:U',
    ]);
  });

  it('does not record an UPDATE of updated_at alone', () => {
    expect(
      captured(db, () => db.exec(`UPDATE organizations SET updated_at = '2030-01-01' WHERE id = 1`)),
    ).toEqual([]);
  });

  it('does not record an UPDATE of columns the map does not watch (archived, counters, flags)', () => {
    // Derived from the map, so the test follows the map as other layers add watched columns.
    const people = tableMap(DEFAULT_SOURCE_MAP, 'people')!;
    const unwatched = (db.pragma('table_info(people)') as { name: string }[])
      .map((c) => c.name)
      .filter((c) => !watchedColumns(people).includes(c));
    expect(unwatched).toContain('archived');
    const set = unwatched.map((c) => `"${c}" = '1'`).join(', ');
    expect(captured(db, () => db.exec(`UPDATE people SET ${set} WHERE id = 10`))).toEqual([]);
    expect(captured(db, () => db.exec(`UPDATE organizations SET archived = 1 WHERE id = 1`))).toEqual([]);
  });

  it('records an UPDATE of a watch-only column (captured for entity resolution, not rendered)', () => {
    expect(
      captured(db, () => db.exec(`UPDATE organizations SET website = 'acme.example' WHERE id = 1`)),
    ).toEqual(['organizations:1:U']);
  });

  it('does not record an UPDATE that rewrites mapped columns with their current values', () => {
    // ORMs often write every column; only updated_at really changes here.
    expect(
      captured(db, () =>
        db.exec(`UPDATE organizations SET name = name, kind = kind, updated_at = 'later' WHERE id = 1`),
      ),
    ).toEqual([]);
  });

  it('records a DELETE as D with the old key', () => {
    expect(captured(db, () => db.exec(`DELETE FROM deals; DELETE FROM people WHERE id = 11`))).toEqual([
      'people:11:D',
    ]);
  });

  it('records a primary-key change as D of the old key and I of the new key', () => {
    expect(captured(db, () => db.exec(`UPDATE people SET id = 12 WHERE id = 11`))).toEqual([
      'people:11:D',
      'people:12:I',
    ]);
  });

  it('records a primary-key change together with a text change only as D + I', () => {
    expect(
      captured(db, () => db.exec(`UPDATE people SET id = 13, full_name = 'Robert' WHERE id = 11`)),
    ).toEqual(['people:11:D', 'people:13:I']);
  });

  it('records INSERT OR REPLACE of an existing key once, as I', () => {
    // REPLACE deletes the old row without firing DELETE triggers (recursive_triggers is off); the INSERT trigger sees it.
    db.exec(`INSERT INTO organizations (id, name) VALUES (7, 'Hooli')`);
    expect(
      captured(db, () => db.exec(`INSERT OR REPLACE INTO organizations (id, name) VALUES (7, 'Hooli 2')`)),
    ).toEqual(['organizations:7:I']);
  });

  it('records the foreign-key side effects of INSERT OR REPLACE on rows that pointed at the replaced one', () => {
    // The replaced organization's delete runs ON DELETE SET NULL on people.organization_id: a real change to Bob.
    expect(
      captured(db, () => db.exec(`INSERT OR REPLACE INTO organizations (id, name) VALUES (2, 'Globex 2')`)),
    ).toEqual(['people:11:U', 'organizations:2:I']);
  });

  it('records INSERT ... ON CONFLICT DO UPDATE of an existing key once, as U', () => {
    expect(
      captured(db, () =>
        db.exec(
          `INSERT INTO organizations (id, name) VALUES (2, 'Globex 3') ON CONFLICT (id) DO UPDATE SET name = excluded.name`,
        ),
      ),
    ).toEqual(['organizations:2:U']);
  });

  it('records INSERT ... ON CONFLICT DO UPDATE of a new key as I', () => {
    expect(
      captured(db, () =>
        db.exec(
          `INSERT INTO organizations (id, name) VALUES (9, 'New') ON CONFLICT (id) DO UPDATE SET name = excluded.name`,
        ),
      ),
    ).toEqual(['organizations:9:I']);
  });

  it('records each row of multi-row INSERT, UPDATE and DELETE statements', () => {
    expect(
      captured(db, () => {
        db.exec(
          `INSERT INTO notes (id, subject_table, subject_id, body) VALUES (1, 'people', 10, 'a'), (2, 'people', 11, 'b'), (3, 'organizations', 1, 'c')`,
        );
        db.exec(`UPDATE notes SET body = body || '!' WHERE subject_table = 'people'`);
        db.exec(`DELETE FROM notes WHERE id IN (1, 3)`);
      }),
    ).toEqual(['notes:1:I', 'notes:2:I', 'notes:3:I', 'notes:1:U', 'notes:2:U', 'notes:1:D', 'notes:3:D']);
  });

  it('records a link-table INSERT and DELETE as U of the records on both sides', () => {
    expect(
      captured(db, () =>
        db.exec(`INSERT INTO interaction_people (interaction_id, person_id) VALUES (100, 10)`),
      ),
    ).toEqual(['interactions:100:U', 'people:10:U']);
    expect(captured(db, () => db.exec(`DELETE FROM interaction_people WHERE interaction_id = 100`))).toEqual([
      'interactions:100:U',
      'people:10:U',
    ]);
  });

  it('records a link-table UPDATE as U of the old and the new side records', () => {
    db.exec(`INSERT INTO interaction_people (interaction_id, person_id) VALUES (100, 10)`);
    expect(
      captured(db, () => db.exec(`UPDATE interaction_people SET person_id = 11 WHERE person_id = 10`)),
    ).toEqual(['people:10:U', 'interactions:100:U', 'people:11:U']);
  });

  it('does not record a link-table UPDATE of an unmapped column (role)', () => {
    db.exec(`INSERT INTO interaction_people (interaction_id, person_id) VALUES (100, 10)`);
    expect(captured(db, () => db.exec(`UPDATE interaction_people SET role = 'host'`))).toEqual([]);
  });

  it('records the participants of a deleted interaction through the cascading link delete', () => {
    db.exec(`INSERT INTO interaction_people (interaction_id, person_id) VALUES (100, 10), (100, 11)`);
    const got = captured(db, () => db.exec(`DELETE FROM interactions WHERE id = 100`));
    expect([...got].sort()).toEqual(
      ['interactions:100:D', 'interactions:100:U', 'interactions:100:U', 'people:10:U', 'people:11:U'].sort(),
    );
  });

  it('records nothing for writes in a rolled-back transaction', () => {
    const before = lastSeq(db);
    db.exec('BEGIN');
    db.exec(`INSERT INTO organizations (id, name) VALUES (50, 'Gone')`);
    db.exec(`UPDATE people SET full_name = 'Gone' WHERE id = 10`);
    expect(changes(db, before)).toHaveLength(2); // visible inside the transaction...
    db.exec('ROLLBACK');
    expect(changes(db, before)).toEqual([]); // ...and gone with it
  });

  it('captures 100k writes in one transaction, all of them, with strictly increasing seq', () => {
    const before = lastSeq(db);
    const ins = db.prepare(`INSERT INTO interactions (id, subject, kind) VALUES (?, ?, 'email')`);
    db.transaction(() => {
      for (let i = 0; i < 100_000; i++) ins.run(1000 + i, `s${i}`);
    })();
    const rows = db
      .prepare(`SELECT seq, row_key AS pk, op FROM _cdc_changelog WHERE seq > ? ORDER BY rowid`)
      .all(before) as { seq: number; pk: string; op: string }[];
    expect(rows).toHaveLength(100_000);
    let prev = before;
    let increasing = true;
    rows.forEach((r, i) => {
      if (r.seq <= prev || r.pk !== String(1000 + i) || r.op !== 'I') increasing = false;
      prev = r.seq;
    });
    expect(increasing).toBe(true);
  });

  it('keeps capturing for clients that run with trusted_schema=OFF', () => {
    db.pragma('trusted_schema = OFF');
    expect(captured(db, () => db.exec(`UPDATE organizations SET name = 'Trusted' WHERE id = 2`))).toEqual([
      'organizations:2:U',
    ]);
  });

  it('stamps each change with the wall-clock time in epoch milliseconds', () => {
    const t0 = Date.now();
    db.exec(`UPDATE organizations SET name = 'Now' WHERE id = 2`);
    const t1 = Date.now();
    const at = (db.prepare(`SELECT at FROM _cdc_changelog ORDER BY seq DESC LIMIT 1`).get() as { at: number })
      .at;
    expect(Number.isInteger(at)).toBe(true);
    // julianday('now') has millisecond resolution; allow a couple of ms of rounding either side.
    expect(at).toBeGreaterThanOrEqual(t0 - 2);
    expect(at).toBeLessThanOrEqual(t1 + 2);
  });
});
