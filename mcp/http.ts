/**
 * Stateless Streamable HTTP for the MCP server: POST /mcp, plus GET /healthz
 * for supervisors. Each request gets a fresh transport with
 * `sessionIdGenerator: undefined` (the SDK's stateless pattern) and an McpServer
 * not connected to anything else; the CRM connections and search engine live in
 * the shared context.
 *
 * Invariant: off loopback nothing reaches a tool without the bearer token and
 * an allowed Host header (auth.ts); /healthz reveals nothing but liveness.
 * Every route, /healthz included, checks Host and Origin first, so a page
 * reaching the server through DNS rebinding or from a foreign origin reads
 * nothing.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { logger } from '../config/log.js';
import { authPolicy, checkHostAndOrigin, checkRequest, type Verdict } from './auth.js';
import type { McpContext } from './context.js';
import { buildMcpServer } from './server.js';
import { listen, sendJson } from '../config/net.js';

export interface McpHttpOptions {
  ctx: McpContext;
  host: string;
  port: number;
  token?: string;
  allowedHosts?: string[];
  /** Demand the token even on loopback. */
  requireAuth?: boolean;
}

export interface McpHttpServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Longest User-Agent kept as the audit log's client name. */
const CLIENT_NAME_MAX = 120;
/** Idle McpServer instances kept for reuse; about the concurrency one process serves well. */
const POOL_MAX = 32;

export async function startMcpHttp(opts: McpHttpOptions): Promise<McpHttpServer> {
  const policy = authPolicy({
    host: opts.host,
    token: opts.token,
    allowedHosts: opts.allowedHosts,
    requireAuth: opts.requireAuth,
  });
  const log = logger('mcp-http');

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, 'MCP HTTP request failed');
      if (!res.headersSent) sendJson(res, 500, jsonRpcError(-32603, 'internal error'));
      else res.end();
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    const refuse = (verdict: Exclude<Verdict, { ok: true }>) => {
      const extra: Record<string, string> = verdict.status === 401 ? { 'WWW-Authenticate': 'Bearer' } : {};
      sendJson(res, verdict.status, jsonRpcError(-32001, verdict.message), extra);
    };
    const where = checkHostAndOrigin(policy, { host: req.headers.host, origin: req.headers.origin });
    if (!where.ok) return refuse(where);
    if (path === '/healthz') {
      if (req.method !== 'GET' && req.method !== 'HEAD')
        return sendJson(res, 405, { error: 'use GET' }, { Allow: 'GET' });
      return sendJson(res, 200, { status: 'ok', readOnly: opts.ctx.readOnly });
    }
    if (path !== '/mcp') return sendJson(res, 404, { error: 'not found; the MCP endpoint is /mcp' });
    const verdict = checkRequest(policy, {
      host: req.headers.host,
      origin: req.headers.origin,
      authorization: req.headers.authorization,
    });
    if (!verdict.ok) return refuse(verdict);
    if (req.method !== 'POST') {
      // Stateless: no server-initiated stream (GET) and no session to delete (DELETE).
      return sendJson(
        res,
        405,
        jsonRpcError(-32000, 'method not allowed: this server is stateless; POST JSON-RPC to /mcp'),
        {
          Allow: 'POST',
        },
      );
    }
    const ua = req.headers['user-agent'];
    const pooled = idle.pop() ?? newPooled();
    pooled.client = ua ? ua.slice(0, CLIENT_NAME_MAX) : 'http';
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    res.on('close', () => {
      void transport
        .close()
        .then(() => pooled.server.close())
        .then(() => {
          if (idle.length < POOL_MAX) idle.push(pooled);
        });
    });
    await pooled.server.connect(transport);
    await transport.handleRequest(req, res);
  }

  // A fresh transport per request (stateless), but McpServer instances are
  // reused once their request is done: registering the tools costs tens of
  // milliseconds, far more than a search. A pooled server serves one request
  // at a time, so its client name is that request's.
  interface Pooled {
    server: McpServer;
    client: string;
  }
  const idle: Pooled[] = [];
  function newPooled(): Pooled {
    const p: Pooled = { server: undefined as unknown as McpServer, client: 'http' };
    p.server = buildMcpServer(opts.ctx, { fallbackClient: () => p.client, useClientInfo: false });
    return p;
  }

  await listen(server, opts.port, opts.host, 'MCP_HTTP_PORT (or --port)');
  const port = (server.address() as AddressInfo).port;
  const shown = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `http://${shown}:${port}/mcp`;
  log.info({ url, auth: policy.requireAuth }, 'MCP HTTP server listening');
  opts.ctx.warm();
  return {
    url,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function jsonRpcError(code: number, message: string) {
  return { jsonrpc: '2.0', error: { code, message }, id: null };
}
