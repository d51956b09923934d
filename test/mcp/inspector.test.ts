/**
 * A real outside client: the MCP Inspector CLI (pinned devDependency
 * "@modelcontextprotocol/inspector": "2.12.0" — see docs/mcp.md) lists the
 * tools, calls add_note, and calls search for a planted fact, against a demo
 * CRM over stdio. Runs only when the inspector is installed; it exits
 * non-zero on a tool error.
 *
 * The inspector starts the server without the parent's environment, and it
 * takes some options for itself wherever they appear (its own --log-level is
 * an MCP logging/setLevel call), so every setting goes to the server as the
 * inspector's `-e KEY=VALUE`. The index is built with the same variables over
 * a bare environment, so both sides see one configuration (embedded store,
 * local embedder).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoDatabase } from '../../crm/demo/create.js';
import type { PlantedFact } from '../../crm/demo/facts.js';
import { tempDir } from '../search/fixtures.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const INSPECTOR = path.join(ROOT, 'node_modules/.bin/mcp-inspector');
const haveInspector = fs.existsSync(INSPECTOR);
if (!haveInspector)
  console.warn(
    'MCP Inspector CLI test skipped: node_modules/.bin/mcp-inspector is not installed (devDependency @modelcontextprotocol/inspector)',
  );

let dir: string;
let crmPath: string;
let facts: PlantedFact[];

beforeAll(() => {
  dir = tempDir('crm-index-inspector-');
  crmPath = path.join(dir, 'crm.db');
  facts = createDemoDatabase({ dbPath: crmPath, records: 100, seed: 7 }).facts.retrieval;
});

/** The settings both the server and the rebuild get (the inspector passes no environment of its own). */
const settings = (): Record<string, string> => ({
  CRM_DB_PATH: crmPath,
  CRM_INDEX_PATH: path.join(dir, 'index.db'),
  LOG_LEVEL: 'warn',
});

/** What the inspector's stdio launch passes on (the SDK's default environment), and nothing else. */
function bareEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of ['HOME', 'PATH', 'USER', 'LOGNAME', 'SHELL', 'TERM']) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  return env;
}
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function inspect(args: string[]): string {
  return execFileSync(
    INSPECTOR,
    [
      '--cli',
      ...Object.entries(settings()).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
      process.execPath,
      '--import',
      'tsx',
      path.join(ROOT, 'cli/main.ts'),
      'mcp',
      ...args,
    ],
    {
      cwd: ROOT,
      env: { ...process.env, LOG_LEVEL: 'warn' },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
}

describe.skipIf(!haveInspector)('MCP Inspector CLI', () => {
  it('lists the tools', () => {
    const out = JSON.parse(inspect(['--method', 'tools/list'])) as { tools: { name: string }[] };
    expect(out.tools.map((t) => t.name)).toEqual(
      expect.arrayContaining(['search', 'add_note', 'get_record']),
    );
  });

  it('passes the Inspector --strict schema-portability check with no warning (no type arrays, no bare {})', () => {
    const r = spawnSync(
      INSPECTOR,
      [
        '--cli',
        '--strict',
        ...Object.entries(settings()).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
        process.execPath,
        path.join(ROOT, 'dist/cli/main.js'),
        'mcp',
        '--method',
        'tools/list',
      ],
      { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'warn' }, encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/Warning|portability/);
    const tools = (JSON.parse(r.stdout) as { tools: { name: string; outputSchema?: unknown }[] }).tools;
    expect(tools).toHaveLength(8);
    expect(JSON.stringify(tools)).not.toMatch(/"type":\[/);
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

  it('calls search on an index built by crm-index rebuild and finds a planted fact', () => {
    execFileSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'cli/main.ts'), 'rebuild'], {
      cwd: ROOT,
      env: { ...bareEnv(), ...settings() },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const fact = facts.find((f) => f.style === 'lexical');
    expect(fact, 'the demo plants lexical retrieval facts').toBeDefined();
    for (const mode of ['sparse', 'hybrid']) {
      const out = JSON.parse(
        inspect([
          '--method',
          'tools/call',
          '--tool-name',
          'search',
          '--tool-args-json',
          JSON.stringify({ query: fact!.query, mode, limit: 10 }),
        ]),
      ) as { structuredContent: { hits: { key: string }[] } };
      expect(
        out.structuredContent.hits.map((h) => h.key),
        mode,
      ).toContain(fact!.answers[0]);
    }
  });
});
