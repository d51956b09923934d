/**
 * follow's /healthz and /metrics behind the same guard as the operator page:
 * a real pipeline and follow's real HTTP server on 127.0.0.1, requests with
 * the Host and Authorization headers a DNS-rebinding page or a remote client
 * would send.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPipeline, type PipelineContext } from '../../runs/context.js';
import { startFollow, type FollowHandle } from '../../runs/follow.js';
import { startHttp, statusAccess } from '../../runs/http.js';
import { createMetrics } from '../../runs/metrics.js';
import { makeWorld, type World } from './harness.js';

const TOKEN = 'status-token-0123456789abcdef';

let world: World;
let ctx: PipelineContext;
let follow: FollowHandle;
let server: { url: string; close(): Promise<void> };

function get(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

beforeAll(async () => {
  world = await makeWorld();
  ctx = await openPipeline(world.config);
  follow = await startFollow(ctx, { waitForLeaseMs: 5000 });
  server = await startHttp(ctx, follow, createMetrics(ctx, 'index'), '127.0.0.1', 0);
}, 60_000);

afterAll(async () => {
  await server?.close();
  await follow?.stop();
  await ctx?.close();
  await world?.close();
});

describe("follow's /healthz and /metrics", () => {
  it('refuse a foreign Host on loopback (DNS rebinding) and answer a loopback one', async () => {
    for (const route of ['/healthz', '/metrics']) {
      const bad = await get(server.url + route, { Host: 'attacker.example' });
      expect(bad.status, route).toBe(403);
      expect(bad.body).not.toMatch(/backlog|crm_index_/);
      const good = await get(server.url + route, { Host: 'localhost' });
      expect(good.status === 200 || good.status === 503, route).toBe(true);
    }
    expect((await get(server.url + '/metrics', { Host: '127.0.0.1' })).body).toMatch(/crm_index_/);
  });

  it('beyond loopback, need the bearer token, and refuse without one configured', () => {
    expect(statusAccess('0.0.0.0', TOKEN, { host: 'crm.local' })).toMatchObject({ ok: false, status: 401 });
    expect(
      statusAccess('0.0.0.0', TOKEN, { host: 'crm.local', authorization: 'Bearer wrong-token-0000000' }),
    ).toMatchObject({ ok: false, status: 401 });
    expect(statusAccess('0.0.0.0', TOKEN, { host: 'crm.local', authorization: `Bearer ${TOKEN}` })).toEqual({
      ok: true,
    });
    expect(statusAccess('0.0.0.0', undefined, { host: 'crm.local' })).toMatchObject({
      ok: false,
      status: 403,
      reason: expect.stringMatching(/MCP_AUTH_TOKEN is not set/),
    });
  });
});
