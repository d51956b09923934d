/**
 * The MCP server reached through every address StartOS publishes. StartOS's
 * proxy passes the client's Host header through, so the names in the MCP
 * host's bindings (mDNS `.local`, LAN and VPN IPs, IPv6, the Tor `.onion`
 * address, private and public domains) must pass the server's Host check,
 * and nothing else may. The chain under test is the package's: the SDK's
 * Host shape → publishedHostNames → envFromStore's MCP_ALLOWED_HOSTS → the
 * CLI's own parser of that variable → the real Streamable HTTP server,
 * requiring the token as it does beyond loopback.
 */
import fs from 'node:fs';
import http from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { T } from '@start9labs/start-sdk';
import { SETTINGS } from '../../config/settings.js';
import { startMcpHttp, type McpHttpServer } from '../../mcp/http.js';
import type { McpContext } from '../../mcp/context.js';
import { emptyStore, envFromStore, MCP_PORT } from '../../startos/env.js';
import { publishedHostNames } from '../../startos/hosts.js';
import { makeFixture, type Fixture } from '../search/fixtures.js';
import { fixtureContext } from '../mcp/helpers.js';

const TOKEN = 'startos-generated-token-0123456789abcdef';
const ONION = 'gqtzxe3vdy2akubq6kbrvvl6kk6fwdmkdj3ahzzsd5vybqrhpf4m5xqd.onion';

function info(hostname: string, metadata: T.HostnameInfo['metadata'], extra: Partial<T.HostnameInfo> = {}) {
  return { ssl: true, public: false, hostname, port: 49153, metadata, ...extra } as T.HostnameInfo;
}

/** The MCP host as a StartOS 0.4 server fills it in: one binding on the MCP port, every kind of address. */
const startosHost = {
  bindings: {
    [MCP_PORT]: {
      enabled: true,
      options: {} as never,
      net: { assignedPort: 49152, assignedSslPort: 49153 },
      interfaces: {},
      addresses: {
        enabled: [],
        disabled: [],
        guaWan: [],
        available: [
          info('adjective-noun.local', { kind: 'mdns', gateways: ['eth0'] }),
          info('192.168.1.50', { kind: 'ipv4', gateway: 'eth0' }, { ssl: false, port: 49152 }),
          info('10.59.0.1', { kind: 'ipv4', gateway: 'wg0' }),
          info('fe80::1c2b:3ff:fe4d:5e6f', { kind: 'ipv6', gateway: 'eth0', scopeId: 2 }),
          info(ONION, {
            kind: 'plugin',
            packageId: 'tor',
            removeAction: null,
            overflowActions: [],
            info: null,
          }),
          info('crm.internal', { kind: 'private-domain', gateways: ['eth0'] }),
          info('crm.example.com', { kind: 'public-domain', gateway: 'eth0' }, { public: true, port: 443 }),
        ],
      },
    },
  },
  bindingRanges: {},
  publicDomains: { 'crm.example.com': {} as never },
  privateDomains: { 'crm.internal': ['eth0'] },
  portForwards: [],
} as unknown as T.Host;

/** Host header values clients send through StartOS's proxy for those addresses. */
const HOST_HEADERS = [
  'adjective-noun.local',
  'adjective-noun.local:49153',
  '192.168.1.50:49152',
  '10.59.0.1:49153',
  '[fe80::1c2b:3ff:fe4d:5e6f]:49153',
  ONION,
  'crm.internal:49153',
  'crm.example.com',
];

let fx: Fixture;
let ctx: McpContext;
let server: McpHttpServer;

beforeAll(async () => {
  fx = await makeFixture('crm-index-startos-hosts-');
  ctx = fixtureContext(fx);
  const env = envFromStore({ ...emptyStore(), mcpAuthToken: TOKEN }, publishedHostNames(startosHost));
  // Parsed the way `crm-index mcp` reads MCP_ALLOWED_HOSTS.
  const allowedHosts = SETTINGS.mcpAllowedHosts.parse(env.MCP_ALLOWED_HOSTS!, 'MCP_ALLOWED_HOSTS');
  // requireAuth: the token is demanded as it is on 0.0.0.0 in the package, while listening on loopback here.
  server = await startMcpHttp({
    ctx,
    host: '127.0.0.1',
    port: 0,
    token: env.MCP_AUTH_TOKEN,
    requireAuth: true,
    allowedHosts,
  });
});

afterAll(async () => {
  await server?.close();
  ctx?.close();
  await fx?.store.close();
  if (fx) fs.rmSync(fx.dir, { recursive: true, force: true });
});

function post(host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: server.port,
        method: 'POST',
        path: '/mcp',
        headers: {
          Host: host,
          Authorization: `Bearer ${TOKEN}`,
          'Content-Type': 'application/json',
          Accept: 'application/json, text/event-stream',
        },
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }));
  });
}

describe('the MCP server behind StartOS', () => {
  it('collects every published name, without ports or brackets', () => {
    expect(publishedHostNames(startosHost)).toEqual(
      [
        '10.59.0.1',
        '192.168.1.50',
        'adjective-noun.local',
        'crm.example.com',
        'crm.internal',
        'fe80::1c2b:3ff:fe4d:5e6f',
        ONION,
      ].sort(),
    );
    expect(publishedHostNames(null)).toEqual([]);
  });

  it.each(HOST_HEADERS)('answers tools/list for Host %s', async (host) => {
    const r = await post(host);
    expect(r.status, r.body).toBe(200);
    expect(r.body).toMatch(/"search"/);
  });

  it('still refuses a name StartOS does not publish (DNS rebinding)', async () => {
    for (const host of ['attacker.example', 'adjective-noun.local.attacker.example', '192.168.1.51']) {
      const r = await post(host);
      expect(r.status, host).toBe(403);
    }
  });

  it('serves the MCP SDK client through a published name', async () => {
    // The client connects to 127.0.0.1 but names the server's .local address, as through the proxy.
    const client = new Client({ name: 'startos-agent', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(server.url), {
        requestInit: { headers: { Authorization: `Bearer ${TOKEN}`, Host: 'adjective-noun.local' } },
      }),
    );
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain('search');
    await client.close();
  });
});
