/**
 * The page's pure parts: escaping, the ring of samples, the SVG charts, the
 * guard's decisions and the HTML it renders from a status report.
 */
import { describe, expect, it } from 'vitest';
import { esc } from '../../web/escape.js';
import { BUCKET_MS, SampleRing } from '../../web/samples.js';
import { niceMax, renderChart } from '../../web/chart.js';
import { WebGuard, hostOnly, parseCookies, sameOrigin } from '../../web/guard.js';
import { renderGate, renderPage, type PageData } from '../../web/page.js';
import type { StatusReport } from '../../runs/status.js';
import type { Hit } from '../../search/engine.js';

const XSS = '<script>alert(1)</script>';

function status(over: Partial<StatusReport> = {}): StatusReport {
  return {
    database: '/data/crm.db',
    store: { kind: 'embedded', location: '/data/index.db', generation: 'g1', points: 42, integrity: [] },
    embedder: { kind: 'openai', model: 'test-hash-16' },
    changelog: { maxSeq: 10, backlog: 3, lagSeconds: 1.5 },
    consumers: [],
    triggers: { ok: true, missing: [], stale: [], extra: [] },
    lastSweep: {
      at: '2026-01-01T00:00:00.000Z',
      ms: 12,
      checked: 9,
      stored: 9,
      missing: 1,
      stale: 2,
      orphans: 0,
      failed: 0,
      triggersRepaired: [],
    },
    deadLetters: { count: 0, newest: [] },
    ...over,
  };
}

function hit(text: string, title = 'A note'): Hit {
  return {
    key: 'notes:7',
    table: 'notes',
    title,
    text,
    score: 0.5,
    chunkIndex: 0,
    payload: {
      record_key: 'notes:7',
      table: 'notes',
      chunk_index: 0,
      chunk_count: 1,
      fingerprint: 'f',
      text,
      title,
      kind: null,
      stage: null,
      organization_id: null,
      date: null,
      owner: null,
      entity_ids: [],
    },
  };
}

function pageData(over: Partial<PageData> = {}): PageData {
  return {
    status: status(),
    tables: ['notes', 'people'],
    form: { q: '', mode: 'hybrid', table: '', from: '', to: '', org: '', stage: '' },
    hits: null,
    searchError: null,
    searchMs: null,
    charts: { throughput: '<svg id="t"></svg>', lag: '<svg id="l"></svg>' },
    csrf: 'CSRF123',
    nonce: 'N1',
    flash: null,
    signedIn: false,
    generatedAt: new Date(0),
    ...over,
  };
}

describe('escaping', () => {
  it('escapes the characters that open tags, attributes and scripts', () => {
    expect(esc(XSS)).toBe('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(esc(`"' onmouseover=x \``)).toBe('&quot;&#39; onmouseover=x &#96;');
    expect(esc('a & b')).toBe('a &amp; b');
    expect(esc(null)).toBe('');
    expect(esc(3)).toBe('3');
  });

  it('renders hit titles, text, record keys and the query escaped', () => {
    const html = renderPage(
      pageData({
        form: { q: `"><img src=x>`, mode: 'sparse', table: '', from: '', to: '', org: '', stage: '' },
        hits: [hit(`body ${XSS}`, `title ${XSS}`)],
      }),
    );
    expect(html).not.toContain(XSS);
    expect(html).not.toContain('<img src=x>');
    expect(html).toContain('body &lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('title &lt;script&gt;');
    expect(html).toContain('value="&quot;&gt;&lt;img src=x&gt;"');
  });

  it('renders dead letters and store errors escaped, each with a requeue form carrying the CSRF token', () => {
    const html = renderPage(
      pageData({
        status: status({
          store: {
            kind: 'qdrant',
            location: 'http://q',
            generation: null,
            points: null,
            error: XSS,
            integrity: [],
          },
          deadLetters: {
            count: 1,
            newest: [
              {
                recordKey: `notes:"${XSS}`,
                step: 'embed',
                error: XSS,
                attempts: 5,
                firstFailedAt: 0,
                lastFailedAt: 0,
              },
            ],
          },
        }),
      }),
    );
    expect(html).not.toContain(XSS);
    expect(html).toContain('name="key" value="notes:&quot;&lt;script&gt;');
    expect(html.match(/name="csrf" value="CSRF123"/g)?.length).toBe(2); // the letter's button and "requeue all"
    expect(html).toContain('needs attention');
  });

  it('the gate page escapes its reason', () => {
    expect(renderGate(XSS, { login: true, csrf: 'c', nonce: 'n' })).not.toContain(XSS);
  });
});

describe('health section', () => {
  it('shows lag, backlog, what the last sweep repaired, triggers, points, embedder and store', () => {
    const html = renderPage(pageData());
    expect(html).toContain('<span class="ok" id="lag">1.5 s</span>');
    expect(html).toContain('<span id="backlog">3</span>');
    expect(html).toContain('repaired <span id="repaired">3</span> (missing 1, stale 2, orphans 0)');
    expect(html).toContain('<span id="points">42</span> points');
    expect(html).toContain('openai');
    expect(html).toContain('embedded at /data/index.db');
    expect(html).toContain('<title>crm-index: healthy</title>');
    expect(html).toContain('<style nonce="N1">');
  });

  it('names missing triggers and marks the page as needing attention', () => {
    const html = renderPage(
      pageData({
        status: status({ triggers: { ok: false, missing: ['trg_notes_ai'], stale: [], extra: [] } }),
      }),
    );
    expect(html).toContain('missing trg_notes_ai');
    expect(html).toContain('needs attention');
  });
});

describe('sample ring', () => {
  it('sums batches per bucket and keeps the highest lag', () => {
    const r = new SampleRing();
    const t = 1_000 * BUCKET_MS;
    r.addBatch(t + 1, 5, 7);
    r.addBatch(t + 2, 3, 4);
    r.addLag(t + 3, 2);
    r.addLag(t + 4, 1);
    const s = r.series(t + 5);
    expect(s).toHaveLength(360);
    expect(s.at(-1)).toEqual({ at: t, records: 8, chunks: 11, batches: 2, lagSeconds: 2 });
    expect(s.at(-2)).toEqual({ at: t - BUCKET_MS, records: 0, chunks: 0, batches: 0, lagSeconds: null });
  });

  it('forgets buckets older than the window, even when their slot is not reused', () => {
    const r = new SampleRing(1000, 10_000);
    r.addBatch(500, 9, 9);
    expect(r.series(5_000).some((x) => x.records === 9)).toBe(true);
    expect(r.series(10_500).some((x) => x.records === 9)).toBe(false);
    r.addBatch(10_500, 1, 1); // same slot as 500, a later lap
    expect(
      r
        .series(10_500)
        .map((x) => x.records)
        .filter((v) => v > 0),
    ).toEqual([1]);
  });

  it('ignores nonsense lag readings', () => {
    const r = new SampleRing(1000, 5000);
    r.addLag(100, Number.NaN);
    r.addLag(100, -1);
    expect(r.series(100).every((x) => x.lagSeconds === null)).toBe(true);
  });
});

describe('svg chart', () => {
  const pts = [
    { at: 0, value: 0 },
    { at: 10_000, value: 5 },
    { at: 20_000, value: null },
    { at: 30_000, value: 10 },
  ];

  it('draws one bar per non-zero sample, heights proportional to the value', () => {
    const svg = renderChart(pts, {
      title: 'Records',
      unit: 'records',
      kind: 'bars',
      width: 452,
      height: 136,
    });
    const bars = [...svg.matchAll(/<rect [^>]*height="([\d.]+)" data-value="(\d+)"/g)].map((m) => [
      Number(m[1]),
      Number(m[2]),
    ]);
    expect(bars.map((b) => b[1])).toEqual([5, 10]);
    // plot height 136 - 18 - 18 = 100 with an axis max of 10.
    expect(bars.map((b) => b[0])).toEqual([50, 100]);
    expect(svg).toContain('data-max="10"');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.endsWith('</svg>')).toBe(true);
  });

  it('breaks the line at unmeasured points instead of drawing them as zero', () => {
    const svg = renderChart(pts, { title: 'Lag', unit: 's', kind: 'line' });
    expect(svg.match(/<polyline/g)?.length).toBe(1);
    expect(svg.match(/<circle/g)?.length).toBe(1);
  });

  it('says when there is no data, and escapes its title', () => {
    const svg = renderChart([{ at: 0, value: null }], { title: XSS, unit: 'x', kind: 'line' });
    expect(svg).toContain('no data yet');
    expect(svg).not.toContain(XSS);
  });

  it('rounds the axis up to 1, 2 or 5 times a power of ten', () => {
    expect([0, 0.3, 3, 7, 12, 250].map(niceMax)).toEqual([1, 0.5, 5, 10, 20, 500]);
  });
});

describe('guard', () => {
  const token = 'a-long-random-token-0123456789';

  it('on loopback serves loopback Host names only (DNS rebinding)', () => {
    const g = new WebGuard('127.0.0.1', undefined);
    expect(g.access({ host: '127.0.0.1:8787' }).ok).toBe(true);
    expect(g.access({ host: 'localhost:8787' }).ok).toBe(true);
    expect(g.access({ host: 'evil.example:8787' })).toMatchObject({ ok: false, status: 403 });
  });

  it('beyond loopback wants the token as a bearer header or the session cookie', () => {
    const g = new WebGuard('0.0.0.0', token);
    expect(g.access({ host: 'box.local' })).toMatchObject({ ok: false, status: 401, login: true });
    expect(g.access({ host: 'box.local', authorization: `Bearer ${token}` }).ok).toBe(true);
    expect(g.access({ host: 'box.local', authorization: 'Bearer wrong' }).ok).toBe(false);
    expect(g.access({ host: 'box.local', cookie: `crm_index_session=${g.sessionValue()}` }).ok).toBe(true);
    expect(g.access({ host: 'box.local', cookie: 'crm_index_session=forged' }).ok).toBe(false);
    expect(g.sessionValue()).not.toContain(token);
  });

  it('beyond loopback with no token configured refuses to serve and says what to set', () => {
    const a = new WebGuard('0.0.0.0', undefined).access({ host: 'box.local' });
    expect(a).toMatchObject({ ok: false, status: 403 });
    expect(a.ok ? '' : a.reason).toContain('MCP_AUTH_TOKEN');
  });

  it('accepts a POST only with the CSRF token and from the same origin', () => {
    const g = new WebGuard('127.0.0.1', undefined);
    const good = new URLSearchParams({ csrf: g.csrf });
    expect(g.checkPost({ host: '127.0.0.1:9' }, good)).toBeNull();
    expect(g.checkPost({ host: '127.0.0.1:9', origin: 'http://127.0.0.1:9' }, good)).toBeNull();
    expect(g.checkPost({ host: '127.0.0.1:9' }, new URLSearchParams())).toContain('CSRF');
    expect(g.checkPost({ host: '127.0.0.1:9' }, new URLSearchParams({ csrf: 'x' }))).toContain('CSRF');
    expect(g.checkPost({ host: '127.0.0.1:9', origin: 'http://evil.example' }, good)).toContain('origin');
    expect(g.checkPost({ host: '127.0.0.1:9', referer: 'http://evil.example/x' }, good)).toContain('origin');
    expect(g.checkPost({ host: '127.0.0.1:9', origin: 'null' }, good)).toContain('origin');
  });

  it('parses Host headers and cookies', () => {
    expect(hostOnly('[::1]:80')).toBe('::1');
    expect(hostOnly('Box.Local:8787')).toBe('box.local');
    expect(parseCookies('a=1; b=x%20y').get('b')).toBe('x y');
    expect(sameOrigin({ host: 'h:1', origin: 'http://h:1' })).toBe(true);
    expect(sameOrigin({ origin: 'http://h:1' })).toBe(false);
  });
});
