/**
 * The operator page against a real pipeline: a small CRM with capture, the
 * embeddings test server, follow running in-process, follow's HTTP server with
 * the page as its extra route. The HTTP checks use fetch; the browser checks
 * drive Debian's headless Chromium through playwright-core and leave a
 * screenshot in test/web/__screenshots__/ (gitignored).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { openPipeline, type PipelineContext } from '../../runs/context.js';
import { startFollow, type FollowHandle } from '../../runs/follow.js';
import { startHttp } from '../../runs/http.js';
import { createMetrics } from '../../runs/metrics.js';
import { runRefresh } from '../../runs/runs.js';
import { listDeadLetters, recordFailures } from '../../runs/failures.js';
import { createWebRoutes, type WebRoutes } from '../../web/routes.js';
import { makeWorld, waitFor, type World } from '../pipeline/harness.js';

const CHROMIUM = '/usr/bin/chromium';
const HAS_CHROMIUM = fs.existsSync(CHROMIUM);
if (!HAS_CHROMIUM)
  console.warn(`[test/web] ${CHROMIUM} is missing (apt-get install chromium): the browser tests skip`);
const SCREENSHOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '__screenshots__', 'page.png');
const XSS = '<script>alert(1)</script>';
const TOKEN = 'operator-token-0123456789abcdef';

let world: World;
let ctx: PipelineContext;
let follow: FollowHandle;
let web: WebRoutes;
let server: { url: string; close(): Promise<void> };
let remote: { web: WebRoutes; server: { url: string; close(): Promise<void> } };

/** Put a record in the dead letters the way the drain does after the last attempt. */
function poison(key: string, error: string): void {
  recordFailures(ctx.db, [{ recordKey: key, step: 'embed', error }], 1);
}

async function post(
  url: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    body: new URLSearchParams(form),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    redirect: 'manual',
  });
}

describe('operator page', () => {
  beforeAll(async () => {
    world = await makeWorld();
    await runRefresh(world.config, { waitMs: 5000 });
    ctx = await openPipeline(world.config);
    follow = await startFollow(ctx, { waitForLeaseMs: 5000 });
    web = createWebRoutes(ctx);
    server = await startHttp(ctx, follow, createMetrics(ctx, 'index'), '127.0.0.1', 0, web.handle);
    // The same pipeline as if follow were bound beyond loopback with MCP_AUTH_TOKEN set.
    const offLoopback = { ...ctx, config: { ...ctx.config, httpHost: '0.0.0.0', mcpAuthToken: TOKEN } };
    const rweb = createWebRoutes(offLoopback);
    remote = {
      web: rweb,
      server: await startHttp(ctx, follow, createMetrics(ctx, 'index'), '127.0.0.1', 0, rweb.handle),
    };
  }, 60_000);

  afterAll(async () => {
    web?.close();
    remote?.web.close();
    await server?.close();
    await remote?.server.close();
    await follow?.stop();
    await ctx?.close();
    await world?.close();
  });

  it('serves the page with a Content-Security-Policy that allows no script', async () => {
    const res = await fetch(server.url + '/');
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('script-src');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const html = await res.text();
    expect(html).toContain('id="health"');
    expect(html).toMatch(/<span id="points">\d+<\/span> points/);
    // /healthz and /metrics still answer beside it.
    expect((await fetch(server.url + '/healthz')).status).toBe(200);
  });

  it('refuses a requeue POST without the CSRF token, with a wrong one, or from another origin (403), and requeues nothing', async () => {
    poison('people:2', 'refused-post test');
    const html = await (await fetch(server.url + '/')).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
    expect(csrf).toBeTruthy();
    expect((await post(server.url + '/requeue', { key: 'people:2' })).status).toBe(403);
    expect((await post(server.url + '/requeue', { key: 'people:2', csrf: 'nope' })).status).toBe(403);
    expect(
      (
        await post(
          server.url + '/requeue',
          { key: 'people:2', csrf: csrf! },
          { origin: 'http://evil.example' },
        )
      ).status,
    ).toBe(403);
    expect(listDeadLetters(ctx.db).map((d) => d.recordKey)).toContain('people:2');
    const ok = await post(server.url + '/requeue', { key: 'people:2', csrf: csrf! });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/?requeued=1');
    expect(listDeadLetters(ctx.db).map((d) => d.recordKey)).not.toContain('people:2');
  });

  it('refuses a Host header that is not a loopback name while bound to loopback', async () => {
    const http = await import('node:http');
    const u = new URL(server.url);
    const status = await new Promise<number>((resolve, reject) => {
      http
        .get({ host: u.hostname, port: u.port, path: '/', headers: { host: 'rebound.example' } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject);
    });
    expect(status).toBe(403);
  });

  it('beyond loopback shows only a sign-in form until the MCP token is given, then sets a session cookie', async () => {
    const gate = await fetch(remote.server.url + '/?q=acme');
    expect(gate.status).toBe(401);
    const gateHtml = await gate.text();
    expect(gateHtml).toContain('action="/login"');
    expect(gateHtml).not.toContain('id="health"');
    const csrf = /name="csrf" value="([^"]+)"/.exec(gateHtml)![1]!;
    expect(
      (await post(remote.server.url + '/login', { csrf, token: 'wrong-token-wrong-token' })).status,
    ).toBe(401);
    expect((await post(remote.server.url + '/requeue', { csrf, key: 'all' })).status).toBe(401);
    const login = await post(remote.server.url + '/login', { csrf, token: TOKEN });
    expect(login.status).toBe(303);
    const cookie = login.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).not.toContain(TOKEN);
    const page = await fetch(remote.server.url + '/', { headers: { cookie: cookie.split(';')[0]! } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('id="health"');
    expect(
      (await fetch(remote.server.url + '/', { headers: { authorization: `Bearer ${TOKEN}` } })).status,
    ).toBe(200);
  });

  describe('in a real browser', () => {
    let browser: BrowserContext;
    let page: Page;
    const dialogs: string[] = [];

    beforeAll(async () => {
      if (!HAS_CHROMIUM) return;
      const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-index-chromium-'));
      browser = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
      page = browser.pages()[0] ?? (await browser.newPage());
      page.on('dialog', (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
    }, 60_000);
    afterAll(async () => {
      await browser?.close();
    });

    async function search(q: string, mode: string, filters: Record<string, string> = {}): Promise<string[]> {
      await page.goto(server.url + '/');
      await page.fill('input[name=q]', q);
      await page.selectOption('select[name=mode]', mode);
      for (const [k, v] of Object.entries(filters)) {
        if (k === 'table') await page.selectOption('select[name=table]', v);
        else await page.fill(`input[name=${k}]`, v);
      }
      await Promise.all([page.waitForURL(/\?q=/), page.click('form.search button[type=submit]')]);
      return page.locator('li.hit').evaluateAll((els) => els.map((e) => e.getAttribute('data-key') ?? ''));
    }

    it.skipIf(!HAS_CHROMIUM)('shows health and both charts', async () => {
      await page.goto(server.url + '/');
      expect(await page.title()).toMatch(/^crm-index: /);
      expect(await page.locator('#health').innerText()).toContain('Embedder');
      expect(await page.locator('#charts svg.chart').count()).toBe(2);
      expect(await page.locator('#points').innerText()).toMatch(/^\d+$/);
    });

    it.skipIf(!HAS_CHROMIUM)(
      'runs a search in each mode and shows record key, title, chunk and text',
      async () => {
        const sparse = await search('lightning custody', 'sparse');
        expect(sparse).toContain('organizations:3');
        const hybrid = await search('lightning custody', 'hybrid');
        expect(hybrid).toContain('organizations:3');
        const dense = await search('lightning custody exchanges', 'dense');
        expect(dense.length).toBeGreaterThan(0);
        expect(await page.locator('select[name=mode]').inputValue()).toBe('dense');
        const first = page.locator('li.hit').first();
        expect(await first.locator('.key').innerText()).toMatch(/^\w+:\d+$/);
        expect(await first.locator('.muted').innerText()).toMatch(/chunk 1 of \d+/);
        expect((await first.locator('.chunk-text').innerText()).length).toBeGreaterThan(0);
        // A filter narrows the hits: only deals.
        const deals = await search('lightning custody', 'hybrid', { table: 'deals' });
        expect(deals.length).toBeGreaterThan(0);
        expect(deals.every((k) => k.startsWith('deals:'))).toBe(true);
      },
    );

    it.skipIf(!HAS_CHROMIUM)('shows a CRM write after a reload, with its text escaped', async () => {
      world.crm
        .prepare(
          "INSERT INTO notes (id, subject_table, subject_id, author, body) VALUES (70, 'organizations', 1, 'Ann', ?)",
        )
        .run(`Wombat migration memo ${XSS}`);
      await waitFor('the write to show up', async () => {
        await page.goto(server.url + '/?q=wombat&mode=sparse');
        return (await page.locator('li.hit[data-key="notes:70"]').count()) === 1;
      });
      const text = await page.locator('li.hit[data-key="notes:70"] .chunk-text').innerText();
      expect(text).toContain(XSS); // shown as text, not run
      expect(await page.locator('li.hit script').count()).toBe(0);
      expect(dialogs).toEqual([]);
      const raw = await (await fetch(server.url + '/?q=wombat&mode=sparse')).text();
      expect(raw).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
      expect(raw).not.toContain(XSS);
    });

    it.skipIf(!HAS_CHROMIUM)('requeues a dead letter from its button, and the retry clears it', async () => {
      poison('notes:1', 'poisoned on purpose <b>bold?</b>');
      await page.goto(server.url + '/');
      expect(await page.locator('#dead-letters').innerText()).toContain('poisoned on purpose <b>bold?</b>');
      fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
      await page.goto(server.url + '/?q=acme&mode=hybrid');
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      console.warn(`[test/web] screenshot: ${SCREENSHOT}`);
      expect(fs.statSync(SCREENSHOT).size).toBeGreaterThan(10_000);
      await Promise.all([
        page.waitForURL(/requeued=1/),
        page.click('#dead-letters button[data-key="notes:1"]'),
      ]);
      expect(await page.locator('#flash').innerText()).toContain('Requeued 1 dead letter');
      expect(listDeadLetters(ctx.db)).toEqual([]);
      // The follow loop picks the retry up within a second or so and, the record being fine, clears it.
      await waitFor(
        'retry processed',
        () => (ctx.db.prepare('SELECT count(*) FROM _index_retry').pluck().get() as number) === 0,
      );
      await page.reload();
      expect(await page.locator('#dead-letters').count()).toBe(0);
    });
  });
});
