/**
 * What the service exposes through StartOS: the MCP endpoint (an API for
 * agents, at /mcp) and, only while the indexer runs, its status page (a UI,
 * the follow daemon's HTTP port; the page, /healthz and /metrics need the MCP
 * token there). StartOS terminates TLS and publishes them on LAN/Tor/domains.
 */
import { sdk } from './sdk.js';
import { storeJson } from './store.js';
import { INDEXER_PORT, MCP_PORT, emptyStore, envFromStore, followerDecision } from './env.js';

export const setInterfaces = sdk.setupInterfaces(async ({ effects }) => {
  const store = (await storeJson.read().const(effects)) ?? emptyStore();
  const indexerRuns = followerDecision(envFromStore(store)).start;
  const mcpOrigin = await sdk.MultiHost.of(effects, 'mcp').bindPort(MCP_PORT, { protocol: 'http' });
  const mcp = sdk.createInterface(effects, {
    name: 'MCP server',
    id: 'mcp',
    description:
      'Model Context Protocol (Streamable HTTP) endpoint for AI agents. Send the MCP token from the Configure action as "Authorization: Bearer <token>".',
    type: 'api',
    masked: false,
    schemeOverride: null,
    username: null,
    path: '/mcp',
    query: {},
  });

  if (!indexerRuns) return [await mcpOrigin.export([mcp])];

  const indexerOrigin = await sdk.MultiHost.of(effects, 'indexer').bindPort(INDEXER_PORT, {
    protocol: 'http',
  });
  const status = sdk.createInterface(effects, {
    name: 'Index status',
    id: 'status',
    description:
      'The indexer status page: lag, backlog, dead letters and the last sweep. Sign in with the MCP token; /metrics and /healthz need it as a bearer token.',
    type: 'ui',
    masked: false,
    schemeOverride: null,
    username: null,
    path: '',
    query: {},
  });

  return [await mcpOrigin.export([mcp]), await indexerOrigin.export([status])];
});
