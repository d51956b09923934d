/**
 * The trigger's key SQL (triggers/sql.ts keySql) and the pipeline's encodePk
 * (crm/sourceMap.ts) must give the same text for every row, or a change would
 * be indexed under one record key and deleted under another. By property:
 * random inserts, key changes and deletes on tables with a text key, a rowid
 * alias, a composite key with NULLs and a WITHOUT ROWID composite key, through
 * the installed triggers; every captured key equals encodePk of the key values
 * as the pipeline reads them back, and decodePk gives those values back.
 *
 * The domain is what better-sqlite3 returns exactly: text (any code units;
 * SQLite stores lone surrogates as U+FFFD), numbers bound to TEXT columns, and
 * integers within JavaScript's safe range. Integers beyond 2^53 are read as
 * rounded numbers, and a REAL in an untyped or REAL key column prints as
 * SQLite's text (2.0 as "2.0"), so neither is generated here.
 */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { openCrm, type Db } from '../../crm/db.js';
import { decodePk, encodePk, type SourceMap } from '../../crm/sourceMap.js';
import { installCapture } from '../../triggers/install.js';
import { quoteIdent } from '../../triggers/sql.js';
import { propertyParams } from '../helpers/property.js';
import { changes, lastSeq, tempDir } from './helpers.js';

const SCHEMA = `
  CREATE TABLE t_text (k TEXT PRIMARY KEY, label TEXT);
  CREATE TABLE t_int (id INTEGER PRIMARY KEY, label TEXT);
  CREATE TABLE "t comp" ("a/b" TEXT, b INTEGER, label TEXT, PRIMARY KEY ("a/b", b));
  CREATE TABLE t_wr (x TEXT NOT NULL, y TEXT NOT NULL, label TEXT, PRIMARY KEY (x, y)) WITHOUT ROWID;
`;
const TABLES = { t_text: ['k'], t_int: ['id'], 't comp': ['a/b', 'b'], t_wr: ['x', 'y'] } as const;
type Table = keyof typeof TABLES;

const MAP: SourceMap = {
  version: 1,
  tables: Object.entries(TABLES).map(([table, key]) => ({
    kind: 'record' as const,
    table,
    key: [...key],
    label: table,
    titleColumn: 'label',
    text: [{ column: 'label' }],
    payload: {},
  })),
};

const awkward = fc.stringMatching(/^[%/2Fa5 ]{0,6}$/);
const text = fc.oneof(
  awkward,
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.constantFrom('', '%2F', '%25', '/', '//', '%', ' x '),
  fc.double({ noNaN: true }), // bound to a TEXT column, stored as SQLite's text of it
);
const safeInt = fc.oneof(fc.integer({ min: -20, max: 20 }), fc.maxSafeInteger());

const keyOf: { [T in Table]: fc.Arbitrary<unknown[]> } = {
  t_text: fc.tuple(text),
  t_int: fc.tuple(safeInt),
  't comp': fc.tuple(fc.option(text, { freq: 4 }), fc.option(safeInt, { freq: 4 })),
  t_wr: fc.tuple(text, text),
};
const table = fc.constantFrom(...(Object.keys(TABLES) as Table[]));
const op = fc.oneof(
  {
    weight: 3,
    arbitrary: table.chain((t) =>
      fc.record({ op: fc.constant('insert' as const), t: fc.constant(t), key: keyOf[t] }),
    ),
  },
  {
    weight: 1,
    arbitrary: table.chain((t) =>
      fc.record({ op: fc.constant('rekey' as const), t: fc.constant(t), pick: fc.nat(), key: keyOf[t] }),
    ),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), t: table, pick: fc.nat() }) },
);

const cols = (t: Table) => TABLES[t].map(quoteIdent).join(', ');
const rowsOf = (db: Db, t: Table): unknown[][] =>
  db
    .prepare(`SELECT ${cols(t)} FROM ${quoteIdent(t)}`)
    .raw()
    .all() as unknown[][];
const where = (t: Table) => TABLES[t].map((c) => `${quoteIdent(c)} IS ?`).join(' AND ');

/** The row of `after` that `before` did not have (the key values as SQLite stored them). */
function added(before: unknown[][], after: unknown[][]): unknown[] | undefined {
  const seen = new Set(before.map((r) => JSON.stringify(r)));
  return after.find((r) => !seen.has(JSON.stringify(r)));
}

/** The key as the pipeline builds it from a row it read, checked to decode back to the same values. */
function pipelineKey(t: Table, values: unknown[]): string {
  const pk = encodePk(values);
  expect(decodePk(pk)).toEqual(values.map((v) => (v === null ? '' : String(v))));
  return `${t}:${pk}`;
}

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let run = 0;

describe('row keys (property)', () => {
  it('the trigger captures every key exactly as encodePk writes it', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 25, size: 'medium' }), (ops) => {
        const db = openCrm(path.join(dir, `crm-${run++}.db`), { create: true });
        try {
          db.exec(SCHEMA);
          installCapture(db, MAP);
          for (const o of ops) {
            const before = lastSeq(db);
            const rows = rowsOf(db, o.t);
            const want: string[] = [];
            if (o.op === 'insert') {
              const marks = o.key.map(() => '?').join(', ');
              db.prepare(
                `INSERT OR IGNORE INTO ${quoteIdent(o.t)} (${cols(o.t)}, label) VALUES (${marks}, 'l')`,
              ).run(...o.key);
              const row = added(rows, rowsOf(db, o.t));
              if (row === undefined) continue; // the key was taken
              want.push(`${pipelineKey(o.t, row)}:I`);
            } else {
              if (rows.length === 0) continue;
              const old = rows[o.pick % rows.length]!;
              if (o.op === 'delete') {
                db.prepare(`DELETE FROM ${quoteIdent(o.t)} WHERE ${where(o.t)}`).run(...old);
                want.push(`${pipelineKey(o.t, old)}:D`);
              } else {
                const set = TABLES[o.t].map((c) => `${quoteIdent(c)} = ?`).join(', ');
                db.prepare(`UPDATE OR IGNORE ${quoteIdent(o.t)} SET ${set} WHERE ${where(o.t)}`).run(
                  ...o.key,
                  ...old,
                );
                const now = added(rows, rowsOf(db, o.t));
                if (now === undefined) continue; // the key was taken, or is the same key
                want.push(`${pipelineKey(o.t, old)}:D`, `${pipelineKey(o.t, now)}:I`);
              }
            }
            expect(changes(db, before)).toEqual(want);
          }
        } finally {
          db.close();
        }
      }),
      propertyParams(100),
    );
  });
});
