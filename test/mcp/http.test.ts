import fs from 'node:fs';
import http from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import Database from 'better-sqlite3';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../config/errors.js';
import { authPolicy, checkRequest, hostName, isLoopbackAddress, tokenMatches } from '../../mcp/auth.js';
import type { McpContext } from '../../mcp/context.js';
import { startMcpHttp, type McpHttpServer } from '../../mcp/http.js';
import { makeFixture, type Fixture } from '../search/fixtures.js';
import { fixtureContext } from './helpers.js';

const TOKEN = 'test-token-0123456789abcdef';

let fx: Fixture;
let ctx: McpContext;
let open: McpHttpServer;
let authed: McpHttpServer;

beforeAll(async () => {
  fx = await makeFixture('crm-index-mcp-http-');
  ctx = fixtureContext(fx);
  open = await startMcpHttp({ ctx, host: '127.0.0.1', port: 0 });
  // requireAuth simulates a bind beyond loopback while listening on 127.0.0.1.
  authed = await startMcpHttp({
    ctx,
    host: '127.0.0.1',
    port: 0,
    token: TOKEN,
    requireAuth: true,
    allowedHosts: ['crm.example'],
  });
});

afterAll(async () => {
  await open.close();
  await authed.close();
  ctx.close();
  await fx.store.close();
  fs.rmSync(fx.dir, { recursive: true, force: true });
});

function raw(
  port: number,
  opts: { method?: string; path?: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: opts.method ?? 'POST',
        path: opts.path ?? '/mcp',
        headers: opts.headers,
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

const listBody = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });
const mcpHeaders = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };

async function sdkClient(url: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'http-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
}

describe('MCP over stateless Streamable HTTP', () => {
  it('answers /healthz', async () => {
    const r = await raw(open.port, { method: 'GET', path: '/healthz' });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ status: 'ok' });
  });

  it('serves tools/list and tools/call to the SDK client on loopback without a token', async () => {
    const client = await sdkClient(open.url);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain('search');
    const res = await client.callTool({ name: 'search', arguments: { query: 'Zyxwv', mode: 'sparse' } });
    expect((res.structuredContent as { hits: { key: string }[] }).hits[0]?.key).toBe('notes:1');
    await client.close();
  });

  it('refuses a request without a token when auth is required (401)', async () => {
    const r = await raw(authed.port, {
      headers: { ...mcpHeaders, Host: `127.0.0.1:${authed.port}` },
      body: listBody,
    });
    expect(r.status).toBe(401);
    expect(r.body).toMatch(/bearer token/);
  });

  it('refuses a wrong token (401)', async () => {
    const r = await raw(authed.port, {
      headers: { ...mcpHeaders, Authorization: 'Bearer wrong-token-000000000', Host: 'localhost' },
      body: listBody,
    });
    expect(r.status).toBe(401);
  });

  it('accepts the right token through the SDK client', async () => {
    const client = await sdkClient(authed.url, { Authorization: `Bearer ${TOKEN}` });
    const { tools } = await client.listTools();
    expect(tools.length).toBeGreaterThan(0);
    await client.close();
  });

  it('refuses a Host header that is not allowed (403), even with the right token', async () => {
    const r = await raw(authed.port, {
      headers: { ...mcpHeaders, Authorization: `Bearer ${TOKEN}`, Host: 'evil.example' },
      body: listBody,
    });
    expect(r.status).toBe(403);
    expect(r.body).toMatch(/MCP_ALLOWED_HOSTS/);
  });

  it('accepts a Host listed in MCP_ALLOWED_HOSTS', async () => {
    const r = await raw(authed.port, {
      headers: { ...mcpHeaders, Authorization: `Bearer ${TOKEN}`, Host: `crm.example:${authed.port}` },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'raw', version: '1' },
        },
      }),
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatch(/crm-index/);
  });

  it('refuses a bad Host on loopback too (DNS rebinding)', async () => {
    const r = await raw(open.port, { headers: { ...mcpHeaders, Host: 'attacker.example' }, body: listBody });
    expect(r.status).toBe(403);
  });

  it('logs an HTTP write under the User-Agent, also when a pooled server served another client before', async () => {
    const call = (ua: string, body: string) =>
      raw(open.port, {
        headers: { ...mcpHeaders, Host: 'localhost', 'User-Agent': ua },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 2,
          method: 'tools/call',
          params: { name: 'add_note', arguments: { subject_table: 'people', subject_id: 2, body } },
        }),
      });
    expect((await call('agent-one/1.0', 'first')).status).toBe(200);
    expect((await call('agent-two/2.0', 'second')).status).toBe(200);
    const db = new Database(fx.crmPath, { readonly: true });
    const rows = db.prepare("SELECT client FROM mcp_write_log WHERE tool = 'add_note' ORDER BY id").all();
    db.close();
    expect(rows).toEqual([{ client: 'agent-one/1.0' }, { client: 'agent-two/2.0' }]);
  });

  it('refuses /healthz under a foreign Host (DNS rebinding) and answers it under an allowed one', async () => {
    for (const port of [open.port, authed.port]) {
      const bad = await raw(port, { method: 'GET', path: '/healthz', headers: { Host: 'attacker.example' } });
      expect(bad.status).toBe(403);
      expect(bad.body).not.toMatch(/readOnly/);
    }
    const good = await raw(authed.port, {
      method: 'GET',
      path: '/healthz',
      headers: { Host: 'crm.example' },
    });
    expect(good.status).toBe(200);
  });

  it('refuses a foreign Origin with 403, even with the right token and Host', async () => {
    for (const origin of ['https://evil.example', 'null', 'http://crm.example.evil.example']) {
      const r = await raw(authed.port, {
        headers: { ...mcpHeaders, Authorization: `Bearer ${TOKEN}`, Host: 'crm.example', Origin: origin },
        body: listBody,
      });
      expect(r.status, origin).toBe(403);
      expect(r.body).toMatch(/Origin/);
    }
    const health = await raw(open.port, {
      method: 'GET',
      path: '/healthz',
      headers: { Host: 'localhost', Origin: 'https://evil.example' },
    });
    expect(health.status).toBe(403);
  });

  it('accepts an Origin naming an allowed host, and no Origin at all', async () => {
    for (const origin of ['https://crm.example', 'http://localhost:6274', undefined]) {
      const headers: Record<string, string> = {
        ...mcpHeaders,
        Authorization: `Bearer ${TOKEN}`,
        Host: 'crm.example',
      };
      if (origin) headers.Origin = origin;
      const r = await raw(authed.port, { headers, body: listBody });
      expect(r.status, String(origin)).toBe(200);
    }
  });

  it('answers GET /mcp with 405: the server is stateless', async () => {
    const r = await raw(open.port, {
      method: 'GET',
      headers: { Accept: 'text/event-stream', Host: 'localhost' },
    });
    expect(r.status).toBe(405);
  });
});

describe('auth policy', () => {
  it('refuses to serve beyond loopback without MCP_AUTH_TOKEN', () => {
    expect(() => authPolicy({ host: '0.0.0.0' })).toThrow(ConfigError);
    expect(() => authPolicy({ host: '0.0.0.0' })).toThrow(/MCP_AUTH_TOKEN/);
    expect(authPolicy({ host: '0.0.0.0', token: TOKEN }).requireAuth).toBe(true);
    expect(authPolicy({ host: '127.0.0.1' }).requireAuth).toBe(false);
  });
  it('says --require-auth, not "beyond loopback", when a loopback server is asked for a token it lacks', () => {
    expect(() => authPolicy({ host: '127.0.0.1', requireAuth: true })).toThrow(/--require-auth/);
    expect(() => authPolicy({ host: '127.0.0.1', requireAuth: true })).not.toThrow(/beyond loopback/);
    expect(() => authPolicy({ host: '0.0.0.0' })).toThrow(/beyond loopback/);
  });
  it('knows loopback addresses', () => {
    expect(isLoopbackAddress('127.0.0.2')).toBe(true);
    expect(isLoopbackAddress('::1')).toBe(true);
    expect(isLoopbackAddress('localhost')).toBe(true);
    expect(isLoopbackAddress('10.0.0.5')).toBe(false);
    expect(isLoopbackAddress('0.0.0.0')).toBe(false);
  });
  it('parses Host headers with ports and IPv6 brackets', () => {
    expect(hostName('LOCALHOST:8788')).toBe('localhost');
    expect(hostName('[::1]:8788')).toBe('::1');
    expect(hostName('crm.example')).toBe('crm.example');
  });
  it('accepts the bind address itself as a Host', () => {
    const p = authPolicy({ host: '10.0.0.5', token: TOKEN });
    expect(checkRequest(p, { host: '10.0.0.5:8788', authorization: `Bearer ${TOKEN}` })).toEqual({
      ok: true,
    });
    expect(checkRequest(p, { host: '10.0.0.6:8788', authorization: `Bearer ${TOKEN}` })).toMatchObject({
      status: 403,
    });
  });
  it('compares tokens exactly', () => {
    expect(tokenMatches(TOKEN, `Bearer ${TOKEN}`)).toBe(true);
    expect(tokenMatches(TOKEN, `bearer ${TOKEN}`)).toBe(true);
    expect(tokenMatches(TOKEN, `Bearer ${TOKEN}x`)).toBe(false);
    expect(tokenMatches(TOKEN, TOKEN)).toBe(false);
    expect(tokenMatches(TOKEN, undefined)).toBe(false);
  });
});
