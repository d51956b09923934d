/**
 * The MCP server as a child process over stdio, driven by the SDK client:
 * stdout must carry only protocol (any stray print breaks the client).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCrm, makeIndex, tempDir } from '../search/fixtures.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const MAIN = path.join(ROOT, 'cli/main.ts');
/** The search tool needs the configured embedder and store factories (encoders/, stores/). */
const haveFactories =
  fs.existsSync(path.join(ROOT, 'stores/factory.ts')) &&
  fs.existsSync(path.join(ROOT, 'encoders/factory.ts'));
if (!haveFactories)
  console.warn('stdio search test skipped: stores/factory.ts or encoders/factory.ts is not in the tree yet');

let dir: string;
let crmPath: string;
let indexPath: string;

function cliEnv(logLevel = 'warn'): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  return { ...env, LOG_LEVEL: logLevel };
}

async function spawnClient(
  extra: string[] = [],
  logLevel = 'warn',
): Promise<{ client: Client; stderr: () => string }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: ['--import', 'tsx', MAIN, 'mcp', '--db', crmPath, '--index', indexPath, ...extra],
    cwd: ROOT,
    env: cliEnv(logLevel),
    stderr: 'pipe',
  });
  let err = '';
  transport.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const client = new Client({ name: 'stdio-test-agent', version: '1.0.0' });
  await client.connect(transport);
  return { client, stderr: () => err };
}

beforeAll(() => {
  dir = tempDir('crm-index-mcp-stdio-');
  crmPath = makeCrm(dir);
  indexPath = path.join(dir, 'index.db');
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('crm-index mcp over stdio', () => {
  it('lists tools, reads a record and logs a write with the client name', async () => {
    const { client } = await spawnClient();
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['search', 'get_record', 'add_note']));
      const rec = (await client.callTool({
        name: 'get_record',
        arguments: { table: 'people', id: 1 },
      })) as CallToolResult;
      expect((rec.structuredContent as { record: { full_name: string } }).record.full_name).toBe('Jane Doe');
      const add = (await client.callTool({
        name: 'add_note',
        arguments: { subject_table: 'people', subject_id: 1, body: 'Met at the stdio conference.' },
      })) as CallToolResult;
      expect(add.isError).toBeFalsy();
    } finally {
      await client.close();
    }
    const db = new Database(crmPath, { readonly: true });
    const log = db.prepare('SELECT tool, client FROM mcp_write_log').all();
    db.close();
    expect(log).toEqual([{ tool: 'add_note', client: 'stdio-test-agent' }]);
  });

  it('hides the write tools with --read-only', async () => {
    const { client } = await spawnClient(['--read-only']);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).not.toContain('add_note');
      expect(tools.map((t) => t.name)).toContain('get_record');
    } finally {
      await client.close();
    }
  });

  it.skipIf(!haveFactories)('searches the index through the configured store', async () => {
    // Sparse mode needs no dense model, so the fixture's index (written straight to the store) serves.
    const store = await makeIndex(indexPath);
    await store.close();
    const { client } = await spawnClient();
    try {
      const res = (await client.callTool({
        name: 'search',
        arguments: { query: 'Zyxwv quantum', mode: 'sparse' },
      })) as CallToolResult;
      expect(res.isError).toBeFalsy();
      expect((res.structuredContent as { hits: { key: string }[] }).hits[0]?.key).toBe('notes:1');
    } finally {
      await client.close();
    }
  });

  it.skipIf(!haveFactories)('loads the search index after the handshake, before any search', async () => {
    const store = await makeIndex(indexPath);
    await store.close();
    const { client, stderr } = await spawnClient([], 'debug');
    try {
      const deadline = Date.now() + 30_000;
      while (!stderr().includes('search index loaded') && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(stderr()).toContain('search index loaded');
      // The handshake was answered first, and tools still answer.
      expect((await client.listTools()).tools.length).toBeGreaterThan(3);
    } finally {
      await client.close();
    }
  });
});
