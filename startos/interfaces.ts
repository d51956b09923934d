/**
 * What the service exposes through StartOS: the MCP endpoint (an API for
 * agents, at /mcp) and the indexer's status page (a UI, the follow daemon's
 * HTTP port). StartOS terminates TLS and publishes them on LAN/Tor/domains.
 */
import { sdk } from './sdk.js';
import { INDEXER_PORT, MCP_PORT } from './env.js';

export const setInterfaces = sdk.setupInterfaces(async ({ effects }) => {
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

  const indexerOrigin = await sdk.MultiHost.of(effects, 'indexer').bindPort(INDEXER_PORT, {
    protocol: 'http',
  });
  const status = sdk.createInterface(effects, {
    name: 'Index status',
    id: 'status',
    description:
      'The indexer status page: lag, backlog, dead letters and the last sweep; also /metrics for Prometheus.',
    type: 'ui',
    masked: false,
    schemeOverride: null,
    username: null,
    path: '',
    query: {},
  });

  return [await mcpOrigin.export([mcp]), await indexerOrigin.export([status])];
});
