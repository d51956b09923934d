import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Db } from '../../crm/db.js';
import { DEFAULT_SOURCE_MAP, sourceMapIdentity, type SourceMap } from '../../crm/sourceMap.js';
import { REFERENCE_TABLES } from '../../crm/schema.js';
import {
  installedSourceMap,
  installCapture,
  uninstallCapture,
  uninstallEverything,
  verifyCapture,
} from '../../triggers/install.js';
import { ensureConsumer, maxSeq } from '../../triggers/changelog.js';
import { captured, referenceCrm } from './helpers.js';

/** Record tables get 4 triggers (ai, ad, ak, au), link tables 3 (ai, ad, au). */
const TRIGGER_COUNT = DEFAULT_SOURCE_MAP.tables.reduce((n, t) => n + (t.kind === 'record' ? 4 : 3), 0);

let db: Db | undefined;
afterEach(() => db?.close());

/** Hash of every CRM table's schema and rows (in primary-key order): what uninstall must not change. */
function crmHash(d: Db): string {
  const h = createHash('sha256');
  for (const t of REFERENCE_TABLES) {
    h.update((d.prepare(`SELECT sql FROM sqlite_master WHERE name = ?`).get(t) as { sql: string }).sql);
    for (const row of d.prepare(`SELECT * FROM "${t}" ORDER BY 1, 2`).all()) h.update(JSON.stringify(row));
  }
  for (const r of d
    .prepare(
      `SELECT type, name, sql FROM sqlite_master WHERE name NOT GLOB '_cdc_*' AND name != 'sqlite_sequence' ORDER BY name`,
    )
    .all())
    h.update(JSON.stringify(r));
  return h.digest('hex');
}

function seed(d: Db): void {
  d.exec(`
    INSERT INTO organizations (id, name, kind) VALUES (1, 'Acme', 'portfolio'), (2, 'Ünïcode AG', NULL);
    INSERT INTO people (id, full_name, organization_id, notes) VALUES (10, 'Ada', 1, NULL), (11, 'Bob', 2, 'x');
    INSERT INTO interactions (id, subject, body, organization_id) VALUES (100, 'Call', 'body', 1);
    INSERT INTO interaction_people VALUES (100, 10, 'host');
    INSERT INTO notes (id, subject_table, subject_id, body) VALUES (1, 'people', 10, 'n');
  `);
}

/** The usual SQLite migration: create a new table, copy, drop the old one, rename the new one. */
function rebuildPeople(d: Db): void {
  d.pragma('foreign_keys = OFF');
  d.exec(`
    BEGIN;
    CREATE TABLE people_new (
      id INTEGER PRIMARY KEY, full_name TEXT NOT NULL, email TEXT, email_secondary TEXT, phone TEXT, title TEXT,
      organization_id INTEGER REFERENCES organizations(id) ON DELETE SET NULL, linkedin TEXT, notes TEXT,
      archived INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL DEFAULT '', updated_at TEXT NOT NULL DEFAULT '',
      pronouns TEXT);
    INSERT INTO people_new (id, full_name, email, email_secondary, phone, title, organization_id, linkedin, notes, archived, created_at, updated_at)
      SELECT id, full_name, email, email_secondary, phone, title, organization_id, linkedin, notes, archived, created_at, updated_at FROM people;
    DROP TABLE people;
    ALTER TABLE people_new RENAME TO people;
    COMMIT;
  `);
  d.pragma('foreign_keys = ON');
}

describe('install / verify / uninstall', () => {
  it('reports everything missing before install, and ok after', () => {
    db = referenceCrm({ install: false }).db;
    const before = verifyCapture(db, DEFAULT_SOURCE_MAP);
    expect(before.ok).toBe(false);
    expect(before.missing).toContain('_cdc_changelog');
    expect(before.missing).toContain('_cdc_people_ai');
    const report = installCapture(db, DEFAULT_SOURCE_MAP);
    expect(report.changed).toBe(true);
    expect(report.created).toContain('_cdc_interaction_people_au');
    const after = verifyCapture(db, DEFAULT_SOURCE_MAP);
    expect(after).toMatchObject({ ok: true, missing: [], stale: [], extra: [], installedVersion: 1 });
  });

  it('is idempotent: a second install changes nothing and keeps the changelog', () => {
    db = referenceCrm().db;
    seed(db);
    const seqBefore = maxSeq(db);
    const again = installCapture(db, DEFAULT_SOURCE_MAP);
    expect(again).toMatchObject({
      changed: false,
      created: [],
      replaced: [],
      dropped: [],
      upgradedFrom: null,
    });
    expect(maxSeq(db)).toBe(seqBefore);
    expect((db.prepare(`SELECT count(*) AS n FROM _cdc_changelog`).get() as { n: number }).n).toBe(seqBefore);
  });

  it('detects the triggers a table-rebuild migration dropped, and install restores capture', () => {
    db = referenceCrm().db;
    seed(db);
    rebuildPeople(db);
    const report = verifyCapture(db, DEFAULT_SOURCE_MAP);
    expect(report.ok).toBe(false);
    expect(report.missing.sort()).toEqual([
      '_cdc_people_ad',
      '_cdc_people_ai',
      '_cdc_people_ak',
      '_cdc_people_au',
    ]);
    // Silently dropped: a write to people is not captured until install runs again.
    expect(captured(db, () => db!.exec(`UPDATE people SET full_name = 'Ada L' WHERE id = 10`))).toEqual([]);
    const fix = installCapture(db, DEFAULT_SOURCE_MAP);
    expect(fix.created.sort()).toEqual(report.missing);
    expect(verifyCapture(db, DEFAULT_SOURCE_MAP).ok).toBe(true);
    expect(
      captured(db, () => db!.exec(`UPDATE people SET full_name = 'Ada Lovelace' WHERE id = 10`)),
    ).toEqual(['people:10:U']);
  });

  it('reports triggers as stale when their text was changed, and install replaces them', () => {
    db = referenceCrm().db;
    db.exec(
      `DROP TRIGGER "_cdc_deals_au"; CREATE TRIGGER "_cdc_deals_au" AFTER UPDATE ON deals BEGIN SELECT 1; END`,
    );
    const report = verifyCapture(db, DEFAULT_SOURCE_MAP);
    expect(report).toMatchObject({ ok: false, missing: [], stale: ['_cdc_deals_au'], extra: [] });
    expect(installCapture(db, DEFAULT_SOURCE_MAP).replaced).toEqual(['_cdc_deals_au']);
    expect(verifyCapture(db, DEFAULT_SOURCE_MAP).ok).toBe(true);
  });

  it('reports triggers for tables no longer in the map as extra, and install drops them', () => {
    db = referenceCrm().db;
    const smaller: SourceMap = {
      version: 1,
      tables: DEFAULT_SOURCE_MAP.tables.filter((t) => t.table !== 'notes'),
    };
    const report = verifyCapture(db, smaller);
    expect(report.extra).toEqual(['_cdc_notes_ad', '_cdc_notes_ai', '_cdc_notes_ak', '_cdc_notes_au']);
    const fix = installCapture(db, smaller, { replaceMap: true });
    expect(fix.dropped).toEqual(report.extra);
    expect(verifyCapture(db, smaller).ok).toBe(true);
    expect(
      captured(db, () =>
        db!.exec(`INSERT INTO notes (subject_table, subject_id, body) VALUES ('people', 1, 'x')`),
      ),
    ).toEqual([]);
  });

  it('rebuilds every trigger when the stored version or fingerprint differs (upgrade)', () => {
    db = referenceCrm().db;
    db.exec(`UPDATE _cdc_meta SET value = '0' WHERE key = 'capture_version'`);
    expect(verifyCapture(db, DEFAULT_SOURCE_MAP).ok).toBe(false);
    const report = installCapture(db, DEFAULT_SOURCE_MAP);
    expect(report.upgradedFrom?.version).toBe(0);
    expect(report.replaced).toHaveLength(TRIGGER_COUNT);
    expect(verifyCapture(db, DEFAULT_SOURCE_MAP)).toMatchObject({ ok: true, installedVersion: 1 });
  });

  it('keeps table ids stable across re-installs, so old changelog rows keep their table', () => {
    db = referenceCrm().db;
    const ids = db.prepare(`SELECT id, name FROM _cdc_tables ORDER BY id`).all();
    const reordered: SourceMap = { version: 1, tables: [...DEFAULT_SOURCE_MAP.tables].reverse() };
    installCapture(db, reordered, { replaceMap: true });
    expect(db.prepare(`SELECT id, name FROM _cdc_tables ORDER BY id`).all()).toEqual(ids);
  });

  it('records the installed map, and refuses to install another map unless told to replace it', () => {
    db = referenceCrm().db;
    const smaller: SourceMap = {
      version: 1,
      tables: DEFAULT_SOURCE_MAP.tables.filter((t) => t.table !== 'notes'),
    };
    expect(installedSourceMap(db)).toMatchObject({
      identity: sourceMapIdentity(DEFAULT_SOURCE_MAP),
      origin: 'the built-in map',
    });
    const triggersBefore = db.prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'trigger'`).all();
    expect(() => installCapture(db!, smaller)).toThrow(
      new RegExp(
        `capture is installed for source map ${sourceMapIdentity(DEFAULT_SOURCE_MAP)} \\(the built-in map, installed .*\\), ` +
          `but this process has source map ${sourceMapIdentity(smaller)} .*will not rewrite the triggers`,
      ),
    );
    expect(db.prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'trigger'`).all()).toEqual(
      triggersBefore,
    );
    const v = verifyCapture(db, smaller);
    expect(v).toMatchObject({ ok: false, mapMismatch: true });
    const r = installCapture(db, smaller, { replaceMap: true });
    expect(r.replacedMap?.identity).toBe(sourceMapIdentity(DEFAULT_SOURCE_MAP));
    expect(installedSourceMap(db)?.identity).toBe(sourceMapIdentity(smaller));
  });

  it('treats capture that records no map (an older install) as not current, and install records it', () => {
    db = referenceCrm().db;
    db.exec(`DELETE FROM _cdc_meta WHERE key LIKE 'source_map_%'`);
    expect(verifyCapture(db, DEFAULT_SOURCE_MAP)).toMatchObject({ ok: false, mapUnrecorded: true });
    const r = installCapture(db, DEFAULT_SOURCE_MAP);
    expect(r.changed).toBe(true);
    expect(r.replaced).toEqual([]);
    expect(verifyCapture(db, DEFAULT_SOURCE_MAP)).toMatchObject({ ok: true, mapUnrecorded: false });
  });

  it('uninstall removes every trigger and _cdc_ table and leaves CRM schema and rows exactly as they were', () => {
    db = referenceCrm({ install: false }).db;
    seed(db);
    const before = crmHash(db);
    installCapture(db, DEFAULT_SOURCE_MAP);
    ensureConsumer(db, 'index');
    db.exec(`UPDATE organizations SET name = 'Acme 2' WHERE id = 1`);
    db.exec(`UPDATE organizations SET name = 'Acme' WHERE id = 1`);
    const report = uninstallCapture(db);
    expect(report.triggers).toHaveLength(TRIGGER_COUNT);
    expect(report.tables.sort()).toEqual(['_cdc_changelog', '_cdc_consumers', '_cdc_meta', '_cdc_tables']);
    expect(db.prepare(`SELECT name FROM sqlite_master WHERE name GLOB '_cdc_*'`).all()).toEqual([]);
    // updated_at is not changed by our UPDATEs above (the CRM would do that itself), so rows match exactly.
    expect(crmHash(db)).toBe(before);
    expect(captured2(db)).toBe(0);
  });

  it("uninstallEverything drops the other layers' tables too, but only those", () => {
    db = referenceCrm().db;
    db.exec(`
      CREATE TABLE _index_state (k TEXT); CREATE TABLE entities (id TEXT); CREATE TABLE entity_links (a TEXT);
      CREATE TABLE entity_overrides (a TEXT); CREATE TABLE mcp_write_log (a TEXT);
      CREATE TABLE xcdcx_lookalike (a TEXT); CREATE TABLE entities_crm (a TEXT); CREATE TABLE index_stats (a TEXT);
    `);
    const report = uninstallEverything(db);
    expect(report.tables.sort()).toEqual(
      [
        '_cdc_changelog',
        '_cdc_consumers',
        '_cdc_meta',
        '_cdc_tables',
        '_index_state',
        'entities',
        'entity_links',
        'entity_overrides',
        'mcp_write_log',
      ].sort(),
    );
    const left = (
      db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as {
        name: string;
      }[]
    ).map((r) => r.name);
    expect(left).toEqual(
      expect.arrayContaining(['xcdcx_lookalike', 'entities_crm', 'index_stats', ...REFERENCE_TABLES]),
    );
  });
});

/** Writes after uninstall fail nothing and are not captured anywhere (no _cdc_changelog to write to). */
function captured2(d: Db): number {
  d.exec(
    `INSERT INTO organizations (id, name) VALUES (77, 'after uninstall'); DELETE FROM organizations WHERE id = 77`,
  );
  return (d.prepare(`SELECT count(*) AS n FROM sqlite_master WHERE type = 'trigger'`).get() as { n: number })
    .n;
}
