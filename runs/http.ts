/**
 * follow's HTTP endpoint: GET /healthz (JSON; 503 while the pipeline has been
 * failing for longer than the grace period) and GET /metrics (Prometheus).
 *
 * Both are guarded like the operator page: bound to loopback, the Host header
 * must be a loopback name (a DNS-rebinding page is refused); bound beyond
 * loopback, the request must carry `Authorization: Bearer <MCP_AUTH_TOKEN>`,
 * because /healthz carries error text and /metrics the CRM's table names.
 */
import http from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { FollowHandle } from './follow.js';
import type { PipelineContext } from './context.js';
import { lagSeconds } from './drain.js';
import { backlog } from '../triggers/changelog.js';
import { INDEX_CONSUMER } from './context.js';
import { hostName, isLoopbackAddress, listen } from '../config/net.js';
import { followHealth } from './health.js';

type Access = { ok: true } | { ok: false; status: 401 | 403; reason: string };

/** Who may read /healthz and /metrics; pure, for tests. */
export function statusAccess(
  bindHost: string,
  token: string | undefined,
  headers: http.IncomingHttpHeaders,
): Access {
  if (isLoopbackAddress(bindHost)) {
    if (headers.host && isLoopbackAddress(hostName(headers.host))) return { ok: true };
    return {
      ok: false,
      status: 403,
      reason: `Host "${headers.host ?? ''}" is not a loopback name; follow is bound to ${bindHost}, use http://127.0.0.1:<port>/.`,
    };
  }
  if (token === undefined) {
    return {
      ok: false,
      status: 403,
      reason: `follow listens on ${bindHost}, beyond loopback, and MCP_AUTH_TOKEN is not set; set it, or bind CRM_INDEX_HTTP_HOST to 127.0.0.1.`,
    };
  }
  const m = /^Bearer\s+(.+)$/i.exec(headers.authorization?.trim() ?? '');
  const digest = (v: string) => createHash('sha256').update(v).digest();
  if (m && timingSafeEqual(digest(m[1]!), digest(token))) return { ok: true };
  return { ok: false, status: 401, reason: 'send "Authorization: Bearer <MCP_AUTH_TOKEN>".' };
}

export type ExtraRoute = (req: http.IncomingMessage, res: http.ServerResponse) => boolean | Promise<boolean>;

export async function startHttp(
  ctx: PipelineContext,
  follow: FollowHandle,
  registry: Registry,
  host: string,
  port: number,
  extra?: ExtraRoute,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method === 'GET' && (url.pathname === '/healthz' || url.pathname === '/metrics')) {
        const access = statusAccess(host, ctx.config.mcpAuthToken, req.headers);
        if (!access.ok) {
          const extraHeaders: Record<string, string> =
            access.status === 401 ? { 'www-authenticate': 'Bearer' } : {};
          res.writeHead(access.status, { 'content-type': 'text/plain', ...extraHeaders });
          res.end(`${access.reason}\n`);
          return;
        }
      }
      if (req.method === 'GET' && url.pathname === '/healthz') {
        const s = follow.state();
        const pending = backlog(ctx.db, INDEX_CONSUMER);
        const lag = lagSeconds(ctx, INDEX_CONSUMER);
        const health = followHealth({
          state: s,
          backlog: pending,
          lagSeconds: lag,
          problems: follow.problems(),
        });
        const body = {
          ok: health.ok,
          status: health.status,
          reason: health.reason,
          running: s.running,
          streamAlive: s.streamAlive,
          paused: s.paused,
          backlog: pending,
          lagSeconds: lag,
          lastBatchAt: s.lastBatchAt ? new Date(s.lastBatchAt).toISOString() : null,
          lastError: s.lastError
            ? { at: new Date(s.lastError.at).toISOString(), message: s.lastError.message }
            : null,
        };
        res.writeHead(body.ok ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
        return;
      }
      if (req.method === 'GET' && url.pathname === '/metrics') {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(await registry.metrics());
        return;
      }
      if (extra && (await extra(req, res))) return;
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found: try /healthz or /metrics\n');
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`error: ${(err as Error).message}\n`);
    }
  });
  await listen(server, port, host, 'CRM_INDEX_HTTP_PORT (or --port)');
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
