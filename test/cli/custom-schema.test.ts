/**
 * A CRM that is not the demo schema, as its operator meets crm-index: a map
 * in CRM_SOURCE_MAP, the MCP server seen through the real MCP Inspector
 * client, and every command run without the map saying so in one line.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { createDemoDatabase } from '../../crm/demo/create.js';
import type { SourceMap } from '../../crm/sourceMap.js';
import { tempDir } from '../search/fixtures.js';
import { bareEnv, CLI, ROOT, runCli, SHIPPED_HEAP } from './helpers.js';

const dir = tempDir('crm-index-custom-schema-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const dbPath = path.join(dir, 'crm.db');
const mapPath = path.join(dir, 'map.json');

const db = new Database(dbPath);
db.exec(`
  CREATE TABLE companies (id INTEGER PRIMARY KEY, name TEXT NOT NULL, summary TEXT, segment TEXT, created_at TEXT);
  CREATE TABLE contacts (id INTEGER PRIMARY KEY, company_id INTEGER REFERENCES companies(id), full_name TEXT NOT NULL, bio TEXT);
  INSERT INTO companies VALUES (1, 'Borealis Freight', 'Cold-chain shipping across the Baltic', 'logistics', '2024-03-01');
  INSERT INTO contacts VALUES (1, 1, 'Ilse Varga', 'Runs procurement');
`);
db.close();
const MAP: SourceMap = {
  version: 1,
  tables: [
    {
      kind: 'record',
      table: 'companies',
      key: ['id'],
      label: 'Company',
      titleColumn: 'name',
      text: [
        { column: 'name', label: 'Name' },
        { column: 'summary', label: 'Summary' },
      ],
      payload: { kind: 'segment', date: 'created_at' },
      writable: ['summary'],
    },
    {
      kind: 'record',
      table: 'contacts',
      key: ['id'],
      label: 'Contact',
      titleColumn: 'full_name',
      text: [
        { column: 'full_name', label: 'Name' },
        { column: 'bio', label: 'Bio' },
      ],
      payload: {},
      relations: [{ kind: 'belongsTo', name: 'Company', column: 'company_id', table: 'companies' }],
    },
  ],
};
fs.writeFileSync(mapPath, JSON.stringify(MAP, null, 2));

const INSPECTOR = path.join(ROOT, 'node_modules/.bin/mcp-inspector');
const haveInspector = fs.existsSync(INSPECTOR);
if (!haveInspector)
  console.warn('custom-schema MCP test skipped: node_modules/.bin/mcp-inspector is not installed');

interface ListedTool {
  name: string;
  description: string;
}

function listTools(extra: string[] = []): ListedTool[] {
  const env = bareEnv({ CRM_DB_PATH: dbPath, CRM_SOURCE_MAP: mapPath });
  const out = execFileSync(
    INSPECTOR,
    [
      '--cli',
      ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
      process.execPath,
      SHIPPED_HEAP,
      CLI,
      'mcp',
      ...extra,
      '--method',
      'tools/list',
    ],
    { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return (JSON.parse(out) as { tools: ListedTool[] }).tools;
}

describe.skipIf(!haveInspector)('MCP tools on a custom schema (MCP Inspector CLI)', () => {
  it('lists only the tools the map can serve, described with its own tables and fields', () => {
    const tools = listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([
      'describe_schema',
      'get_record',
      'search',
      'update_fields',
    ]);
    const all = tools.map((t) => t.description).join('\n');
    expect(all).not.toMatch(/interactions|organizations|people|deals|notes/);
    const d = Object.fromEntries(tools.map((t) => [t.name, t.description]));
    expect(d.search).toContain('tables: companies, contacts');
    expect(d.get_record).toContain('contacts -> companies');
    expect(d.update_fields).toContain('companies (summary)');
  });

  it('with --read-only lists no write tool', () => {
    expect(
      listTools(['--read-only'])
        .map((t) => t.name)
        .sort(),
    ).toEqual(['describe_schema', 'get_record', 'search']);
  });
});

describe('commands on a CRM that does not fit the built-in map, without CRM_SOURCE_MAP', () => {
  for (const args of [['status'], ['install'], ['verify'], ['rebuild'], ['mcp'], ['source-map', '--check']]) {
    it(`${args.join(' ')} says in one line that the built-in demo map was used and how to give the right one`, () => {
      const r = runCli(args, { cwd: dir, env: { CRM_DB_PATH: dbPath } });
      expect(r.code).toBe(3);
      const lines = r.stderr.trim().split('\n');
      const line = lines.find((l) => l.startsWith('crm-index: '));
      expect(line, r.stderr).toBeDefined();
      expect(line).toMatch(/organizations/);
      expect(line).toMatch(
        /No CRM_SOURCE_MAP is set, so the built-in demo CRM map was used: set CRM_SOURCE_MAP or --source-map/,
      );
      expect(r.stdout).not.toMatch(/NOT OK/);
    });
  }

  it('works with the map given', () => {
    const r = runCli(['source-map', '--check'], {
      cwd: dir,
      env: { CRM_DB_PATH: dbPath, CRM_SOURCE_MAP: mapPath },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('source map ok: 2 tables');
  });
});

describe('crm-index status before install and with broken capture', () => {
  it('says capture is not installed (exit 3) instead of an SQL error, and exits 3 when triggers are broken', () => {
    const demo = path.join(dir, 'demo.db');
    createDemoDatabase({ dbPath: demo, records: 100, seed: 4 });
    const before = runCli(['status'], { cwd: dir, env: { CRM_DB_PATH: demo } });
    expect(before.code).toBe(3);
    expect(before.stderr).toMatch(/capture is not installed on .*demo\.db.*Run crm-index install/);
    expect(before.stderr).not.toMatch(/no such table/);
    expect(runCli(['install'], { cwd: dir, env: { CRM_DB_PATH: demo } }).code).toBe(0);
    const ok = runCli(['status'], { cwd: dir, env: { CRM_DB_PATH: demo } });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/triggers\s+ok/);
    expect(fs.existsSync(path.join(dir, 'index.db'))).toBe(false);
    const crm = new Database(demo);
    crm.exec('DROP TRIGGER _cdc_deals_au');
    crm.close();
    const broken = runCli(['status'], { cwd: dir, env: { CRM_DB_PATH: demo } });
    expect(broken.code).toBe(3);
    expect(broken.stdout).toMatch(/NOT OK: missing _cdc_deals_au/);
  });
});
