import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openCrm, type Db } from '../../crm/db.js';
import { encodePk, type SourceMap } from '../../crm/sourceMap.js';
import { captureTriggers, keySql, quoteIdent } from '../../triggers/sql.js';
import { installCapture, planCapture, verifyCapture } from '../../triggers/install.js';
import { readChanges } from '../../triggers/changelog.js';
import { captured, tempDir } from './helpers.js';

let db: Db | undefined;
afterEach(() => db?.close());

function freshDb(schema: string): Db {
  db = openCrm(path.join(tempDir(), 'crm.db'), { create: true });
  db.exec(schema);
  return db;
}

/** A CRM whose names need quoting: a keyword table, spaces, embedded double quotes, text and composite keys. */
const AWKWARD_SCHEMA = `
  CREATE TABLE "order" (id INTEGER PRIMARY KEY, "first name" TEXT, "select" TEXT, note TEXT);
  CREATE TABLE "we""ird" ("k""ey" TEXT PRIMARY KEY, "val ue" TEXT);
  CREATE TABLE tags (a TEXT, b INTEGER, label TEXT COLLATE NOCASE, PRIMARY KEY (a, b));
  CREATE TABLE order_tags ("order id" INTEGER, tag_a TEXT, tag_b INTEGER, PRIMARY KEY ("order id", tag_a, tag_b)) WITHOUT ROWID;
`;

const AWKWARD_MAP: SourceMap = {
  version: 1,
  tables: [
    {
      kind: 'record',
      table: 'order',
      key: ['id'],
      label: 'Order',
      titleColumn: 'first name',
      text: [{ column: 'first name' }, { column: 'select', label: 'Select' }],
      payload: {},
    },
    {
      kind: 'record',
      table: 'we"ird',
      key: ['k"ey'],
      label: 'Weird',
      titleColumn: 'val ue',
      text: [{ column: 'val ue' }],
      payload: {},
    },
    {
      kind: 'record',
      table: 'tags',
      key: ['a', 'b'],
      label: 'Tag',
      titleColumn: 'label',
      text: [{ column: 'label' }],
      payload: {},
    },
    {
      kind: 'link',
      table: 'order_tags',
      key: ['order id', 'tag_a', 'tag_b'],
      sides: [
        { table: 'order', columns: ['order id'] },
        { table: 'tags', columns: ['tag_a', 'tag_b'] },
      ],
    },
  ],
};

const AWKWARD_VALUES = ['a/b', '100%', '%2F', '%25/%', '', 'ünï/cødé', "it's", 'x"y', 'a//b', ' spaced '];

describe('trigger SQL', () => {
  it('quotes identifiers by doubling embedded double quotes', () => {
    expect(quoteIdent('order')).toBe('"order"');
    expect(quoteIdent('first name')).toBe('"first name"');
    expect(quoteIdent('we"ird')).toBe('"we""ird"');
  });

  it('escapes only non-rowid key columns', () => {
    expect(keySql('NEW', ['id'], 'id')).toBe('CAST(NEW."id" AS TEXT)');
    expect(keySql('OLD', ['a', 'b'])).toContain(
      `replace(replace(coalesce(OLD."a",''),'%','%25'),'/','%2F') || '/' ||`,
    );
  });

  it('uses no pragma functions and no JSON functions in any trigger body', () => {
    const d = freshDb(AWKWARD_SCHEMA);
    for (const t of captureTriggers(planCapture(d, AWKWARD_MAP))) {
      expect(t.sql).not.toMatch(/pragma_|json/i);
    }
  });

  it('installs and captures on a table named "order" with a column named "first name"', () => {
    const d = freshDb(AWKWARD_SCHEMA);
    installCapture(d, AWKWARD_MAP);
    expect(
      captured(d, () => {
        d.exec(`INSERT INTO "order" (id, "first name", "select") VALUES (1, 'Ann', 'x')`);
        d.exec(`UPDATE "order" SET "first name" = 'Anne' WHERE id = 1`);
        d.exec(`UPDATE "order" SET note = 'not mapped' WHERE id = 1`);
        d.exec(`DELETE FROM "order" WHERE id = 1`);
      }),
    ).toEqual(['order:1:I', 'order:1:U', 'order:1:D']);
    expect(verifyCapture(d, AWKWARD_MAP).ok).toBe(true);
  });

  it('produces row keys equal to encodePk() for awkward text key values', () => {
    const d = freshDb(AWKWARD_SCHEMA);
    installCapture(d, AWKWARD_MAP);
    const insWeird = d.prepare(`INSERT INTO "we""ird" ("k""ey", "val ue") VALUES (?, 'v')`);
    const insTag = d.prepare(`INSERT INTO tags (a, b, label) VALUES (?, ?, 'l')`);
    AWKWARD_VALUES.forEach((v, i) => {
      insWeird.run(v);
      insTag.run(v, i);
    });
    insTag.run(null, 99); // a NULL in a composite rowid-table key: encodePk writes ''
    const rows = readChanges(d, 0, 1000);
    const weird = rows.filter((r) => r.table === 'we"ird').map((r) => r.pk);
    const tags = rows.filter((r) => r.table === 'tags').map((r) => r.pk);
    expect(weird).toEqual(AWKWARD_VALUES.map((v) => encodePk([v])));
    expect(tags).toEqual([...AWKWARD_VALUES.map((v, i) => encodePk([v, i])), encodePk([null, 99])]);
  });

  it('records the composite-key side of a link row with an escaped key', () => {
    const d = freshDb(AWKWARD_SCHEMA);
    installCapture(d, AWKWARD_MAP);
    d.exec(
      `INSERT INTO "order" (id, "first name") VALUES (5, 'o'); INSERT INTO tags (a, b) VALUES ('x/y', 2)`,
    );
    expect(captured(d, () => d.exec(`INSERT INTO order_tags VALUES (5, 'x/y', 2)`))).toEqual([
      'order:5:U',
      `tags:${encodePk(['x/y', 2])}:U`,
    ]);
  });

  it('records a text primary-key change as D + I with escaped keys', () => {
    const d = freshDb(AWKWARD_SCHEMA);
    installCapture(d, AWKWARD_MAP);
    d.exec(`INSERT INTO "we""ird" VALUES ('a/b', 'v')`);
    expect(captured(d, () => d.exec(`UPDATE "we""ird" SET "k""ey" = '50%'`))).toEqual([
      'we"ird:a%2Fb:D',
      'we"ird:50%25:I',
    ]);
  });

  it('records a case-only edit of a NOCASE column as a change', () => {
    const d = freshDb(AWKWARD_SCHEMA);
    installCapture(d, AWKWARD_MAP);
    d.exec(`INSERT INTO tags (a, b, label) VALUES ('k', 1, 'acme')`);
    expect(captured(d, () => d.exec(`UPDATE tags SET label = 'ACME'`))).toEqual(['tags:k/1:U']);
  });
});
