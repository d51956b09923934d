/**
 * A real outside client: the MCP Inspector CLI (pinned devDependency
 * "@modelcontextprotocol/inspector": "2.12.0" — see docs/mcp.md) lists the tools
 * and calls add_note against a demo CRM over stdio. Runs only when the
 * inspector is installed; it exits non-zero on a tool error.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCrm, tempDir } from '../search/fixtures.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const INSPECTOR = path.join(ROOT, 'node_modules/.bin/mcp-inspector');
const haveInspector = fs.existsSync(INSPECTOR);
if (!haveInspector)
  console.warn(
    'MCP Inspector CLI test skipped: node_modules/.bin/mcp-inspector is not installed (devDependency @modelcontextprotocol/inspector)',
  );

let dir: string;
let crmPath: string;

beforeAll(() => {
  dir = tempDir('crm-index-inspector-');
  crmPath = makeCrm(dir);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function inspect(args: string[]): string {
  return execFileSync(
    INSPECTOR,
    [
      '--cli',
      process.execPath,
      '--import',
      'tsx',
      path.join(ROOT, 'cli/main.ts'),
      'mcp',
      '--db',
      crmPath,
      ...args,
    ],
    { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'warn' }, encoding: 'utf8' },
  );
}

describe.skipIf(!haveInspector)('MCP Inspector CLI', () => {
  it('lists the tools', () => {
    const out = JSON.parse(inspect(['--method', 'tools/list'])) as { tools: { name: string }[] };
    expect(out.tools.map((t) => t.name)).toEqual(
      expect.arrayContaining(['search', 'add_note', 'get_record']),
    );
  });

  it('calls add_note and the note lands with one audit row', () => {
    inspect([
      '--method',
      'tools/call',
      '--tool-name',
      'add_note',
      '--tool-args-json',
      JSON.stringify({ subject_table: 'organizations', subject_id: 1, body: 'Added by the inspector' }),
    ]);
    const db = new Database(crmPath, { readonly: true });
    const notes = db
      .prepare("SELECT count(*) AS n FROM notes WHERE body = 'Added by the inspector'")
      .get() as { n: number };
    const log = db.prepare("SELECT count(*) AS n FROM mcp_write_log WHERE tool = 'add_note'").get() as {
      n: number;
    };
    db.close();
    expect(notes.n).toBe(1);
    expect(log.n).toBe(1);
  });

  it('calls search on an index built by crm-index rebuild', () => {
    execFileSync(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'cli/main.ts'), 'rebuild', '--db', crmPath],
      {
        cwd: ROOT,
        env: { ...process.env, LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    const out = JSON.parse(
      inspect([
        '--method',
        'tools/call',
        '--tool-name',
        'search',
        '--tool-args-json',
        JSON.stringify({ query: 'Zyxwv', mode: 'sparse' }),
      ]),
    ) as { structuredContent: { hits: { key: string }[] } };
    expect(out.structuredContent.hits[0]?.key).toBe('notes:1');
  });
});
