import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, SourceError } from '../../config/errors.js';
import { REFERENCE_SCHEMA_SQL, REFERENCE_TABLES } from '../../crm/schema.js';
import {
  demoCounts,
  demoWrite,
  factCount,
  generateDemo,
  readFacts,
  type DemoFacts,
} from '../../crm/demo/index.js';
import { nameKey } from '../../crm/demo/plant.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-demo-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

type Db = Database.Database;
let n = 0;
function fresh(): { db: Db; file: string } {
  const file = path.join(tmp, `crm-${++n}.db`);
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec(REFERENCE_SCHEMA_SQL);
  return { db, file };
}
function demo(records: number, seed: number): { db: Db; facts: DemoFacts; file: string } {
  const { db, file } = fresh();
  return { db, file, facts: generateDemo(db, { records, seed }) };
}
function dump(db: Db): string {
  const h = crypto.createHash('sha256');
  for (const t of REFERENCE_TABLES) {
    for (const row of db.prepare(`SELECT * FROM "${t}" ORDER BY 1, 2`).iterate())
      h.update(JSON.stringify(row));
  }
  return h.digest('hex');
}
function count(db: Db, sql: string, ...args: unknown[]): number {
  return (db.prepare(sql).get(...args) as { n: number }).n;
}
function row(db: Db, key: string): Record<string, unknown> | undefined {
  const [table, id] = key.split(':');
  return db.prepare(`SELECT * FROM "${table}" WHERE id = ?`).get(Number(id)) as
    Record<string, unknown> | undefined;
}

describe('generateDemo', () => {
  let big: { db: Db; facts: DemoFacts };
  beforeAll(() => {
    big = demo(2000, 11);
  });

  it('writes identical tables and facts for the same seed, and different ones for another seed', () => {
    const a = demo(1200, 5);
    const b = demo(1200, 5);
    const c = demo(1200, 6);
    expect(dump(a.db)).toBe(dump(b.db));
    expect(JSON.stringify(a.facts)).toBe(JSON.stringify(b.facts));
    expect(dump(c.db)).not.toBe(dump(a.db));
    expect(JSON.stringify(c.facts.retrieval)).not.toBe(JSON.stringify(a.facts.retrieval));
  });

  it('writes exactly the requested number of records, in the documented proportions', () => {
    for (const records of [100, 777, 2000]) {
      const { db } = records === 2000 ? big : demo(records, 1);
      const rows = ['organizations', 'people', 'deals', 'interactions', 'notes'].map((t) =>
        count(db, `SELECT count(*) AS n FROM ${t}`),
      );
      expect(rows.reduce((x, y) => x + y, 0)).toBe(records);
      const c = demoCounts(records);
      expect(rows).toEqual([c.organizations, c.people, c.deals, c.interactions, c.notes]);
    }
    const c = demoCounts(2000);
    expect([c.organizations, c.people, c.deals, c.interactions, c.notes]).toEqual([160, 500, 140, 900, 300]);
    expect(count(big.db, 'SELECT count(*) AS n FROM interaction_people')).toBe(
      big.facts.counts.interaction_people,
    );
    expect(big.facts.counts.interaction_people).toBeGreaterThan(300);
  });

  it('refuses tables that already hold rows and a record count out of range', () => {
    const { db } = demo(100, 1);
    expect(() => generateDemo(db, { records: 100, seed: 1 })).toThrow(SourceError);
    expect(() => generateDemo(db, { records: 100, seed: 1 })).toThrow(/organizations already has/);
    const empty = fresh().db;
    expect(() => generateDemo(empty, { records: 99, seed: 1 })).toThrow(ConfigError);
    expect(() => generateDemo(empty, { records: 99, seed: 1 })).toThrow(/records=99/);
    expect(() => generateDemo(empty, { records: 500, seed: 1.5 })).toThrow(/seed=1.5/);
  });

  it('plants the organization duplicates as described in the facts', () => {
    const { db, facts } = big;
    const [acme, foo] = facts.duplicates.organizations;
    const acmeRows = acme!.map((k) => row(db, k)!);
    expect(acmeRows.map((r) => r.name)).toEqual(['Acme, Inc.', 'ACME Inc', 'acme.com']);
    expect(acmeRows[2]).toMatchObject({ domain: 'acme.com', website: 'https://www.acme.com' });
    expect(foo!.map((k) => row(db, k)!.name)).toEqual(['The Foo Group LLC', 'Foo Group']);
    // Nothing else looks like Acme or Foo: random names never collide with the planted ones.
    expect(count(db, "SELECT count(*) AS n FROM organizations WHERE lower(name) LIKE '%acme%'")).toBe(4);
    expect(
      count(
        db,
        "SELECT count(*) AS n FROM organizations WHERE lower(name) LIKE '%foo %' OR lower(name) LIKE '% foo%'",
      ),
    ).toBe(2);
    const [a, robotics] = facts.distinct.find((p) => p[0]!.startsWith('organizations:'))!;
    expect(a).toBe(acme![0]);
    expect(row(db, robotics!)!.name).toBe('Acme Robotics GmbH');
  });

  it('plants people duplicates (two emails, plus-addressing, diacritics) and lookalikes that must stay apart', () => {
    const { db, facts } = big;
    const groups = facts.duplicates.people.map((g) => g.map((k) => row(db, k)!));
    expect(groups).toHaveLength(3);
    for (const g of groups) {
      expect(new Set(g.map((r) => nameKey(String(r.full_name)))).size).toBe(1);
      expect(new Set(g.map((r) => r.email)).size).toBe(g.length);
    }
    expect(groups[0]!.map((r) => r.email)).toEqual(['ingrid@foogroup.com', 'ingrid.okonkwo@gmail.com']);
    expect(groups[1]!.map((r) => r.email)).toEqual(['jane@acme.com', 'jane+crm@acme.com']);
    expect(groups[2]!.map((r) => r.full_name)).toEqual(['José Müller', 'Jose Muller']);
    const [johns, gmails] = facts.distinct
      .filter((p) => p[0]!.startsWith('people:'))
      .map((p) => p.map((k) => row(db, k)!));
    expect(johns!.map((r) => r.full_name)).toEqual(['John Smith', 'John Smith']);
    expect(johns![0]!.organization_id).not.toBe(johns![1]!.organization_id);
    expect(johns![0]!.email).not.toBe(johns![1]!.email);
    expect(gmails!.every((r) => String(r.email).endsWith('@gmail.com'))).toBe(true);
    expect(gmails![0]!.full_name).not.toBe(gmails![1]!.full_name);
    // Random people never reuse a planted name, so the groups above are the only matches.
    expect(count(db, "SELECT count(*) AS n FROM people WHERE full_name = 'John Smith'")).toBe(2);
  });

  it('plants each retrieval fact in exactly its answer records', () => {
    const { db, facts } = big;
    expect(facts.retrieval.length).toBe(factCount(2000));
    expect(facts.retrieval.length).toBeGreaterThanOrEqual(40);
    const textOf = (k: string): string => {
      const r = row(db, k)!;
      return String(r.body ?? '');
    };
    for (const f of facts.retrieval) {
      expect(f.answers.length).toBeGreaterThan(0);
      for (const k of f.answers) expect(textOf(k)).toContain(f.statement);
      const holders =
        count(db, 'SELECT count(*) AS n FROM interactions WHERE instr(body, ?) > 0', f.statement) +
        count(db, 'SELECT count(*) AS n FROM notes WHERE instr(body, ?) > 0', f.statement);
      expect(holders).toBe(f.answers.length);
      expect(f.query.length).toBeGreaterThan(10);
    }
    const tune = facts.retrieval.filter((f) => f.split === 'tune').length;
    expect(tune / facts.retrieval.length).toBeGreaterThan(0.1);
    expect(tune / facts.retrieval.length).toBeLessThan(0.5);
    expect(new Set(facts.retrieval.map((f) => f.style))).toEqual(new Set(['lexical', 'paraphrase']));
    expect(facts.retrieval.some((f) => f.answers.length > 1)).toBe(true);
    expect(new Set(facts.retrieval.map((f) => f.id)).size).toBe(facts.retrieval.length);
  });

  it('has at least 20 retrieval facts and all planted entities at the smallest size', () => {
    const { db, facts } = demo(100, 3);
    expect(facts.retrieval.length).toBeGreaterThanOrEqual(20);
    for (const k of [
      ...facts.duplicates.organizations.flat(),
      ...facts.duplicates.people.flat(),
      ...facts.distinct.flat(),
    ]) {
      expect(row(db, k), k).toBeDefined();
    }
    expect(facts.largeBodies).toEqual([]);
  });

  it('writes multi-page bodies and, from 1,000 records, a 1-2 MB body', () => {
    const { db, facts } = big;
    expect(facts.longBodies.length).toBeGreaterThanOrEqual(5);
    for (const k of facts.longBodies) {
      const body = String(row(db, k)!.body);
      expect(body.split('\n\n').length).toBeGreaterThanOrEqual(5);
      expect(body.split(/\s+/).length).toBeGreaterThan(1000);
    }
    expect(facts.largeBodies).toHaveLength(1);
    const len = String(row(db, facts.largeBodies[0]!)!.body).length;
    expect(len).toBeGreaterThanOrEqual(1_000_000);
    expect(len).toBeLessThan(2_100_000);
  });

  it('has unicode names and NULL and empty optional fields', () => {
    const { db } = big;
    const names = (db.prepare('SELECT full_name FROM people').all() as { full_name: string }[]).map(
      (r) => r.full_name,
    );
    expect(names.some((s) => /[\u4e00-\u9fff\uac00-\ud7af]/.test(s))).toBe(true);
    expect(names.some((s) => /[À-ÿ]/.test(s))).toBe(true);
    for (const [t, c] of [
      ['people', 'email'],
      ['people', 'title'],
      ['organizations', 'description'],
      ['interactions', 'body'],
      ['deals', 'memo'],
    ]) {
      expect(
        count(db, `SELECT count(*) AS n FROM ${t} WHERE ${c} IS NULL`),
        `${t}.${c} NULL`,
      ).toBeGreaterThan(0);
      expect(count(db, `SELECT count(*) AS n FROM ${t} WHERE ${c} = ''`), `${t}.${c} empty`).toBeGreaterThan(
        0,
      );
    }
  });

  it('dates rows inside a fixed window, increasing with the id', () => {
    const { db } = big;
    const r = db.prepare('SELECT min(occurred_at) AS lo, max(occurred_at) AS hi FROM interactions').get() as {
      lo: string;
      hi: string;
    };
    expect(r.lo >= '2018-01-01').toBe(true);
    expect(r.hi < '2026-01-01').toBe(true);
    const dates = (
      db.prepare('SELECT occurred_at FROM interactions ORDER BY id').all() as { occurred_at: string }[]
    ).map((x) => x.occurred_at);
    expect(dates).toEqual([...dates].sort());
    expect(dates[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });
});

describe('demoWrite', () => {
  it('applies each kind of write and reports what it changed', () => {
    const { db } = demo(300, 2);
    const [u] = demoWrite(db, { seed: 1 });
    expect(u!.op).toBe('update');
    expect(row(db, u!.key)!.body).toBe(u!.text);

    const [ins] = demoWrite(db, { kind: 'insert', seed: 2 });
    expect(ins!.op).toBe('insert');
    expect(row(db, ins!.key)!.body).toBe(ins!.text);

    const [del] = demoWrite(db, { kind: 'delete', seed: 3 });
    expect(row(db, del!.key)).toBeUndefined();

    const [ren] = demoWrite(db, { kind: 'rename-org', seed: 4 });
    expect(ren!.table).toBe('organizations');
    expect(row(db, ren!.key)!.name).toBe(ren!.text);
    expect(ren!.text).toMatch(/\(formerly /);

    const links = demoWrite(db, { kind: 'link', count: 6, seed: 5 });
    for (const l of links) {
      const [iid, pid] = l.key.split(':')[1]!.split('/').map(Number);
      const present = count(
        db,
        'SELECT count(*) AS n FROM interaction_people WHERE interaction_id = ? AND person_id = ?',
        iid,
        pid,
      );
      expect(present).toBe(l.op === 'insert' ? 1 : 0);
    }
    expect(() => demoWrite(db, { kind: 'explode' as never })).toThrow(/kind="explode"/);
    expect(() => demoWrite(db, { count: 0 })).toThrow(ConfigError);
  });

  it('makes the same changes for the same seed on the same data', () => {
    const a = demo(300, 9).db;
    const b = demo(300, 9).db;
    const ca = demoWrite(a, { kind: 'update', count: 5, seed: 77 });
    const cb = demoWrite(b, { kind: 'update', count: 5, seed: 77 });
    expect(ca.map((c) => [c.key, c.text])).toEqual(cb.map((c) => [c.key, c.text]));
    expect(new Set(ca.map((c) => c.key)).size).toBeGreaterThan(1);
  });
});

describe('crm-index demo-data / demo-write (child process)', () => {
  function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', path.join(ROOT, 'cli/main.ts'), ...args],
        { cwd: ROOT, env: { ...process.env, CRM_DB_PATH: '', LOG_LEVEL: 'error' } },
        (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  }

  it('rejects bad --records and --seed with messages that name the flag', async () => {
    const db = path.join(tmp, 'cli-bad.db');
    const [few, words, frac] = await Promise.all([
      cli('demo-data', '--db', db, '--records', '50'),
      cli('demo-data', '--db', db, '--records', 'many'),
      cli('demo-data', '--db', db, '--seed', '1.5'),
    ]);
    expect(few.code).toBe(2);
    expect(few.stderr).toMatch(/--records=50 is out of range/);
    expect(words.stderr).toMatch(/--records="many" is not a whole number/);
    expect(frac.code).toBe(2);
    expect(frac.stderr).toMatch(/--seed="1.5"/);
    expect(fs.existsSync(db)).toBe(false);
  });

  it('creates the database and facts file, refuses to overwrite it without --force, and demo-write changes it', async () => {
    const db = path.join(tmp, 'cli', 'nested', 'crm.db');
    const first = await cli('demo-data', '--db', db, '--records', '400', '--seed', '3');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/interactions\s+180/);
    expect(first.stderr).toMatch(/demo-data: 100%/);
    const facts = readFacts(`${db}.facts.json`);
    expect(facts.seed).toBe(3);
    expect(facts.records).toBe(400);

    const again = await cli('demo-data', '--db', db, '--records', '400');
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists and is not empty.*--force/);

    const factsPath = path.join(tmp, 'cli', 'facts.json');
    const forced = await cli('demo-data', '--db', db, '--records', '200', '--force', '--facts', factsPath);
    expect(forced.code).toBe(0);
    expect(readFacts(factsPath).records).toBe(200);

    const write = await cli('demo-write', '--db', db, '--seed', '1', '--count', '2');
    expect(write.code).toBe(0);
    const lines = write.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^update (interactions|notes):\d+ body: "/);
    const bad = await cli('demo-write', '--db', db, '--kind', 'nope');
    expect(bad.stderr).toMatch(/--kind="nope"/);
  });
});
