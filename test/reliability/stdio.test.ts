/**
 * A stdio message over the size limit gets an answer: the server replies with
 * a JSON-RPC error carrying the request's id, logs it, and keeps serving.
 * Driven over the raw protocol, since the SDK client itself refuses nothing.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRequestId, StdioGuard } from '../../mcp/stdioGuard.js';
import { makeCrm, tempDir } from '../search/fixtures.js';
import { CLI } from '../pipeline/torture.js';

let dir: string;
let crmPath: string;

beforeAll(() => {
  dir = tempDir('crm-index-stdio-limit-');
  crmPath = makeCrm(dir);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('StdioGuard', () => {
  it('passes lines through whole, split across chunks, and answers an oversized one by id', async () => {
    const replies: string[] = [];
    const logs: string[] = [];
    const g = new StdioGuard({ maxBytes: 100, reply: (l) => replies.push(l), log: (m) => logs.push(m) });
    const out: string[] = [];
    g.on('data', (d: Buffer) => out.push(d.toString()));
    g.write('{"jsonrpc":"2.0","id":1,');
    g.write('"method":"ping"}\n{"jsonrpc":"2.0","id":"big-2","method":"x","params":{"s":"');
    g.write('y'.repeat(500));
    g.write('"}}\n{"id":3}\n');
    g.end();
    await new Promise((r) => g.on('end', r));
    expect(out.join('')).toBe('{"jsonrpc":"2.0","id":1,"method":"ping"}\n{"id":3}\n');
    expect(replies).toHaveLength(1);
    expect(JSON.parse(replies[0]!)).toMatchObject({ jsonrpc: '2.0', id: 'big-2', error: { code: -32600 } });
    expect(logs[0]).toMatch(/larger than/);
  });

  it('finds a numeric or string id in a fragment', () => {
    expect(findRequestId('{"jsonrpc":"2.0","id":42,"method"')).toBe(42);
    expect(findRequestId('{"id":"a\\"b","x"')).toBe('a"b');
    expect(findRequestId('{"method":"x"')).toBeUndefined();
  });
});

describe('crm-index mcp over stdio', () => {
  it('answers an 11 MB request with an error for its id, then keeps serving', async () => {
    const child = spawn(
      process.execPath,
      [CLI, 'mcp', '--db', crmPath, '--index', path.join(dir, 'index.db')],
      {
        env: { ...process.env, LOG_LEVEL: 'warn' },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const replyTo = async (id: number): Promise<Record<string, unknown>> => {
      const deadline = Date.now() + 20_000;
      for (;;) {
        for (const line of stdout.split('\n')) {
          if (!line.trim()) continue;
          const msg = JSON.parse(line) as Record<string, unknown>;
          if (msg.id === id) return msg;
        }
        if (Date.now() > deadline) throw new Error(`no reply to ${id}; stderr: ${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const send = (msg: unknown) => child.stdin.write(JSON.stringify(msg) + '\n');
    try {
      send({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'raw', version: '1' },
        },
      });
      await replyTo(1);
      send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      send({
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: {
          name: 'add_note',
          arguments: { subject_table: 'people', subject_id: 1, body: 'x'.repeat(11 * 1024 * 1024) },
        },
      });
      const big = await replyTo(2);
      expect(big.error).toMatchObject({ code: -32600 });
      expect(String((big.error as { message: string }).message)).toMatch(/larger than the 10 MB/);
      send({ jsonrpc: '2.0', id: 3, method: 'ping' });
      expect(await replyTo(3)).toMatchObject({ id: 3, result: {} });
      expect(stderr).toMatch(/larger than the 10 MB/);
    } finally {
      child.kill();
    }
  }, 60_000);
});
