/**
 * The operator page as an extra route of follow's HTTP server (see
 * runs/http.ts): GET / renders health, charts and search; POST /requeue
 * puts dead letters back; POST /login turns the MCP token into a session
 * cookie when the server is bound beyond loopback.
 *
 * Invariants: GET never writes; the only write is the requeue, and it passes
 * the guard (CSRF token, same origin, token off loopback). Every response
 * carries a Content-Security-Policy with no script at all and a per-response
 * nonce for the one inline stylesheet.
 */
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { errorMessage } from '../config/errors.js';
import { recordTables } from '../crm/sourceMap.js';
import type { PipelineContext } from '../runs/context.js';
import { INDEX_CONSUMER } from '../runs/context.js';
import { lagSeconds } from '../runs/drain.js';
import { requeueDeadLetters } from '../runs/failures.js';
import type { ExtraRoute } from '../runs/http.js';
import { collectStatus } from '../runs/status.js';
import type { Hit, SearchFilter, SearchOptions } from '../search/engine.js';
import { indexIdentity } from '../search/remote.js';
import { engineFromSettings } from '../search/open.js';
import { renderChart } from './chart.js';
import { SESSION_COOKIE, WebGuard } from './guard.js';
import { MODES, renderGate, renderPage, type Mode, type SearchForm } from './page.js';
import { BUCKET_MS, SampleRing } from './samples.js';

/** Hits shown per search: a page to skim, not an export. */
export const PAGE_HITS = 20;
/** Form bodies are a token and a record key; anything bigger is not ours. */
const MAX_BODY_BYTES = 16 * 1024;

export interface WebRoutes {
  handle: ExtraRoute;
  samples: SampleRing;
  guard: WebGuard;
  /** Stop the lag sampler and the event subscription. */
  close(): void;
}

export interface WebRoutesOptions {
  now?: () => number;
  /** How often the lag is sampled between batches (default one bucket). */
  sampleEveryMs?: number;
}

/** What `runFollow(config, webRoutes)` takes: the page for a pipeline context. */
export function webRoutes(ctx: PipelineContext): ExtraRoute {
  return createWebRoutes(ctx).handle;
}

export function parseSearchForm(q: URLSearchParams): SearchForm {
  const mode = q.get('mode') ?? 'hybrid';
  return {
    q: (q.get('q') ?? '').slice(0, 500),
    mode: (MODES as readonly string[]).includes(mode) ? (mode as Mode) : 'hybrid',
    table: q.get('table') ?? '',
    from: q.get('from') ?? '',
    to: q.get('to') ?? '',
    org: q.get('org') ?? '',
    stage: q.get('stage') ?? '',
  };
}

export function filterOf(f: SearchForm): SearchFilter {
  const filter: SearchFilter = {};
  if (f.table) filter.tables = [f.table];
  if (f.org.trim()) filter.organizationIds = [f.org.trim()];
  if (f.stage.trim()) filter.stages = [f.stage.trim()];
  if (f.from) filter.dateFrom = f.from;
  if (f.to) filter.dateTo = f.to;
  return filter;
}

function securityHeaders(nonce: string): Record<string, string> {
  return {
    'content-security-policy': `default-src 'none'; style-src 'nonce-${nonce}'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'same-origin',
    'cache-control': 'no-store',
  };
}

function send(
  res: http.ServerResponse,
  status: number,
  nonce: string,
  body: string,
  extra: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...securityHeaders(nonce), ...extra });
  res.end(body);
}

function redirect(res: http.ServerResponse, to: string, extra: Record<string, string> = {}): void {
  res.writeHead(303, { location: to, 'cache-control': 'no-store', ...extra });
  res.end();
}

async function readForm(req: http.IncomingMessage): Promise<URLSearchParams | null> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') return null;
  let size = 0;
  const parts: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return null;
    parts.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(parts).toString('utf8'));
}

export function createWebRoutes(ctx: PipelineContext, opts: WebRoutesOptions = {}): WebRoutes {
  const now = opts.now ?? Date.now;
  const guard = new WebGuard(ctx.config.httpHost, ctx.config.mcpAuthToken);
  const samples = new SampleRing();
  const tables = recordTables(ctx.map).map((t) => t.table);

  const sampleLag = () => {
    try {
      samples.addLag(now(), lagSeconds(ctx, INDEX_CONSUMER));
    } catch {
      // The database is closing (shutdown): the chart simply misses a point.
    }
  };
  const onBatch = (e: { records: number; counts: { chunks: number }; oldestChangeAt: number | null }) => {
    const t = now();
    samples.addBatch(t, e.records, e.counts.chunks);
    // How long the oldest change of the batch waited end to end: the lag an operator feels.
    if (e.oldestChangeAt !== null) samples.addLag(t, Math.max(0, (t - e.oldestChangeAt) / 1000));
  };
  ctx.events.on('batch:written', onBatch);
  const timer = setInterval(sampleLag, opts.sampleEveryMs ?? BUCKET_MS);
  timer.unref();

  /**
   * The CLI's search, answered from this process's loaded index (search/remote.ts): the query in
   * `q`, the engine's options as JSON in `options`. Read-only, behind the same guard as the page.
   */
  async function searchJson(res: http.ServerResponse, url: URL): Promise<void> {
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    let options: SearchOptions;
    try {
      options = JSON.parse(url.searchParams.get('options') ?? '{}') as SearchOptions;
    } catch {
      json(400, { error: 'options is not JSON; send the engine options as a JSON object.' });
      return;
    }
    try {
      const engine = engineFromSettings(ctx.config, {
        store: ctx.store,
        dense: ctx.dense,
        sparse: ctx.sparse,
      });
      const hits = await engine.search(url.searchParams.get('q') ?? '', options);
      json(200, { db: ctx.config.dbPath, index: indexIdentity(ctx.config), hits });
    } catch (err) {
      json(400, { error: errorMessage(err) });
    }
  }

  async function page(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    nonce: string,
  ): Promise<void> {
    sampleLag();
    const form = parseSearchForm(url.searchParams);
    let hits: Hit[] | null = null;
    let searchError: string | null = null;
    let searchMs: number | null = null;
    if (form.q.trim()) {
      const t0 = performance.now();
      try {
        // Built per query from the settings, as the CLI and MCP build theirs (follow may reopen the store).
        const engine = engineFromSettings(ctx.config, {
          store: ctx.store,
          dense: ctx.dense,
          sparse: ctx.sparse,
        });
        hits = await engine.search(form.q, { mode: form.mode, filter: filterOf(form), limit: PAGE_HITS });
      } catch (err) {
        searchError = errorMessage(err);
      }
      searchMs = performance.now() - t0;
    }
    const status = await collectStatus(ctx.config, ctx.db, ctx.map, ctx.store);
    const series = samples.series(now());
    const requeued = url.searchParams.get('requeued');
    const flash =
      requeued !== null && /^\d{1,9}$/.test(requeued)
        ? `Requeued ${requeued} dead letter${requeued === '1' ? '' : 's'}; they retry within a few seconds.`
        : null;
    const body = renderPage({
      status,
      tables,
      form,
      hits,
      searchError,
      searchMs,
      charts: {
        throughput: renderChart(
          series.map((s) => ({ at: s.at, value: s.records })),
          { title: 'Records indexed per 10 s', unit: 'records', kind: 'bars', className: 'throughput' },
        ),
        lag: renderChart(
          series.map((s) => ({ at: s.at, value: s.lagSeconds })),
          { title: 'Lag', unit: 'seconds', kind: 'line', className: 'lag' },
        ),
      },
      csrf: guard.csrf,
      nonce,
      flash,
      signedIn: guard.requireAuth,
      generatedAt: new Date(now()),
    });
    send(res, searchError ? 400 : 200, nonce, body);
  }

  const handle: ExtraRoute = async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const route = `${req.method ?? 'GET'} ${url.pathname}`;
    if (!['GET /', 'HEAD /', 'POST /requeue', 'POST /login', 'GET /search.json'].includes(route))
      return false;
    const nonce = randomBytes(16).toString('base64');
    const access = guard.access(req.headers);

    if (route === 'POST /login') {
      const form = await readForm(req);
      const bad = form
        ? guard.checkPost(req.headers, form)
        : 'send the login form as application/x-www-form-urlencoded.';
      if (bad || !form) {
        send(res, 403, nonce, renderGate(`Refused: ${bad}`, { login: false, csrf: guard.csrf, nonce }));
        return true;
      }
      if (!guard.requireAuth) {
        redirect(res, '/');
        return true;
      }
      if (!guard.tokenMatches(form.get('token') ?? undefined)) {
        send(
          res,
          401,
          nonce,
          renderGate('Sign in with the MCP token (MCP_AUTH_TOKEN).', {
            login: true,
            csrf: guard.csrf,
            nonce,
            error: 'That token is not right.',
          }),
        );
        return true;
      }
      redirect(res, '/', {
        'set-cookie': `${SESSION_COOKIE}=${guard.sessionValue()}; HttpOnly; SameSite=Strict; Path=/`,
      });
      return true;
    }

    if (!access.ok) {
      send(
        res,
        access.status,
        nonce,
        renderGate(access.reason, { login: access.login, csrf: guard.csrf, nonce }),
      );
      return true;
    }

    if (route === 'GET /search.json') {
      await searchJson(res, url);
      return true;
    }

    if (route === 'POST /requeue') {
      const form = await readForm(req);
      const bad = form
        ? guard.checkPost(req.headers, form)
        : 'send the requeue form as application/x-www-form-urlencoded.';
      const key = form?.get('key') ?? '';
      if (bad || !form || !key) {
        send(
          res,
          403,
          nonce,
          renderGate(`Refused: ${bad ?? 'no dead letter named (field "key").'}`, {
            login: false,
            csrf: guard.csrf,
            nonce,
          }),
        );
        return true;
      }
      const n = requeueDeadLetters(ctx.db, key === 'all' ? 'all' : [key]);
      redirect(res, `/?requeued=${n}`);
      return true;
    }

    await page(req, res, url, nonce);
    return true;
  };

  return {
    handle,
    samples,
    guard,
    close() {
      clearInterval(timer);
      ctx.events.off('batch:written', onBatch);
    },
  };
}
