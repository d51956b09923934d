/**
 * The operator page's HTML, from plain data: status, the search form and its
 * hits, the charts. Pure and framework-free, so tests render it without a
 * server. Invariant: every value that did not come from this file goes
 * through `esc` (see escape.ts); the only markup inserted raw is the SVG that
 * chart.ts built, which escapes its own text.
 */
import type { StatusReport } from '../runs/status.js';
import type { Hit } from '../search/engine.js';
import { esc } from './escape.js';

export const MODES = ['hybrid', 'dense', 'sparse'] as const;
export type Mode = (typeof MODES)[number];

export interface SearchForm {
  q: string;
  mode: Mode;
  table: string;
  from: string;
  to: string;
  org: string;
  stage: string;
}

export interface PageData {
  status: StatusReport;
  tables: string[];
  form: SearchForm;
  hits: Hit[] | null;
  searchError: string | null;
  searchMs: number | null;
  charts: { throughput: string; lag: string };
  csrf: string;
  nonce: string;
  flash: string | null;
  /** Shown when the page is bound beyond loopback: the session is signed in with the token. */
  signedIn: boolean;
  generatedAt: Date;
}

const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2430;background:#f5f6f8}
header{background:#1d2430;color:#fff;padding:10px 20px;display:flex;gap:16px;align-items:baseline}
header h1{font-size:18px;margin:0}
header a{color:#cfd6e0}
main{padding:16px 20px;display:grid;gap:16px;max-width:1100px}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:12px 16px}
h2{font-size:15px;margin:0 0 8px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #eef0f3;vertical-align:top}
th{font-weight:600;width:170px;color:#4a5566}
.ok{color:#17803d;font-weight:600}.bad{color:#b42318;font-weight:600}.warn{color:#b25e09;font-weight:600}
.flash{background:#e8f5ec;border:1px solid #9fd4b0;padding:6px 10px;border-radius:4px}
.error{background:#fdecea;border:1px solid #f3b3ad;padding:6px 10px;border-radius:4px}
form.search{display:flex;flex-wrap:wrap;gap:8px;align-items:end}
form.search label{display:flex;flex-direction:column;font-size:12px;color:#4a5566}
input,select,button{font:inherit;padding:3px 6px}
button{cursor:pointer}
ol.hits{padding-left:20px}ol.hits li{margin:0 0 10px}
.hit-head{display:flex;gap:10px;flex-wrap:wrap;align-items:baseline}
.key{font-family:ui-monospace,monospace;font-size:12px;background:#eef0f3;padding:1px 5px;border-radius:3px}
.chunk-text{white-space:pre-wrap;margin:4px 0 0;font-size:13px;color:#333;max-height:9em;overflow:auto}
.muted{color:#6b7685;font-size:12px}
svg.chart{display:block;margin:4px 0 10px}
svg .axis{stroke:#9aa3b0;stroke-width:1}
svg .tick,svg .nodata{font-size:10px;fill:#6b7685}
svg .chart-title{font-size:11px;fill:#1d2430}
svg .throughput{fill:#3b6fd8}
svg .lag{stroke:#d8573b;stroke-width:1.5;fill:#d8573b}
`;

function yesNo(ok: boolean, good: string, bad: string): string {
  return ok ? `<span class="ok">${esc(good)}</span>` : `<span class="bad">${esc(bad)}</span>`;
}

function time(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
}

function lagText(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export function renderHealth(s: StatusReport, csrf: string): string {
  const sweep = s.lastSweep;
  const repaired = sweep ? sweep.missing + sweep.stale + sweep.orphans : 0;
  const lagClass = s.changelog.lagSeconds > 300 ? 'bad' : s.changelog.lagSeconds > 30 ? 'warn' : 'ok';
  const rows: [string, string][] = [
    ['Lag', `<span class="${lagClass}" id="lag">${esc(lagText(s.changelog.lagSeconds))}</span>`],
    [
      'Backlog',
      `<span id="backlog">${esc(s.changelog.backlog)}</span> changes <span class="muted">(max seq ${esc(s.changelog.maxSeq)})</span>`,
    ],
    [
      'Last sweep',
      sweep
        ? `${esc(sweep.at)}: checked ${esc(sweep.checked)}, repaired <span id="repaired">${esc(repaired)}</span> (missing ${esc(sweep.missing)}, stale ${esc(sweep.stale)}, orphans ${esc(sweep.orphans)}${sweep.failed ? `, failed ${esc(sweep.failed)}` : ''})${sweep.triggersRepaired.length ? `; triggers repaired: ${esc(sweep.triggersRepaired.join(', '))}` : ''} <span class="muted">in ${esc(Math.round(sweep.ms))} ms</span>`
        : '<span class="muted">never</span>',
    ],
    [
      'Triggers',
      s.triggers.ok
        ? yesNo(true, 'ok', '')
        : `${yesNo(false, '', 'not ok')}: missing ${esc(s.triggers.missing.join(', ') || '-')}; stale ${esc(s.triggers.stale.join(', ') || '-')} <span class="muted">(run crm-index install)</span>`,
    ],
    [
      'Store',
      `${esc(s.store.kind)} at ${esc(s.store.location)}${s.store.generation ? ` <span class="muted">[${esc(s.store.generation)}]</span>` : ''}; <span id="points">${esc(s.store.points ?? 'unknown')}</span> points${s.store.error ? ` <span class="bad">error: ${esc(s.store.error)}</span>` : ''}`,
    ],
    ['Embedder', `${esc(s.embedder.kind)} <span class="muted">(${esc(s.embedder.model)})</span>`],
    ['Database', esc(s.database)],
    [
      'Dead letters',
      s.deadLetters.count === 0
        ? yesNo(true, 'none', '')
        : `<span class="bad" id="dead-count">${esc(s.deadLetters.count)}</span>`,
    ],
  ];
  const dead =
    s.deadLetters.count === 0
      ? ''
      : `<table id="dead-letters"><thead><tr><th>Record</th><th>Step</th><th>Error</th><th>Attempts</th><th>Last failed</th><th></th></tr></thead><tbody>${s.deadLetters.newest
          .map(
            (d) =>
              `<tr><td class="key">${esc(d.recordKey)}</td><td>${esc(d.step)}</td><td>${esc(d.error)}</td><td>${esc(d.attempts)}</td><td>${esc(time(d.lastFailedAt))}</td><td>${requeueForm(csrf, d.recordKey, 'Requeue')}</td></tr>`,
          )
          .join('')}</tbody></table>${
          s.deadLetters.count > s.deadLetters.newest.length
            ? `<p class="muted">${esc(s.deadLetters.newest.length)} newest of ${esc(s.deadLetters.count)} shown.</p>`
            : ''
        }${requeueForm(csrf, 'all', `Requeue all ${s.deadLetters.count}`)}`;
  return `<section id="health"><h2>Health</h2><table>${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${v}</td></tr>`).join('')}</table>${dead}</section>`;
}

function requeueForm(csrf: string, key: string, label: string): string {
  return `<form method="post" action="/requeue" class="requeue"><input type="hidden" name="csrf" value="${esc(csrf)}"><input type="hidden" name="key" value="${esc(key)}"><button type="submit" data-key="${esc(key)}">${esc(label)}</button></form>`;
}

export function renderSearch(
  d: Pick<PageData, 'form' | 'tables' | 'hits' | 'searchError' | 'searchMs'>,
): string {
  const f = d.form;
  const opt = (v: string, cur: string, label = v) =>
    `<option value="${esc(v)}"${v === cur ? ' selected' : ''}>${esc(label)}</option>`;
  const input = (name: string, label: string, value: string, type = 'text', extra = '') =>
    `<label>${esc(label)}<input type="${type}" name="${name}" value="${esc(value)}"${extra}></label>`;
  const form = `<form method="get" action="/" class="search" role="search">
${input('q', 'Query', f.q, 'search', ' size="36" autofocus')}
<label>Mode<select name="mode">${MODES.map((m) => opt(m, f.mode)).join('')}</select></label>
<label>Table<select name="table">${opt('', f.table, 'any')}${d.tables.map((t) => opt(t, f.table)).join('')}</select></label>
${input('from', 'Date from', f.from, 'date')}
${input('to', 'Date to', f.to, 'date')}
${input('org', 'Organization id', f.org, 'text', ' size="8"')}
${input('stage', 'Stage', f.stage, 'text', ' size="10"')}
<button type="submit">Search</button></form>`;
  let results = '';
  if (d.searchError) results = `<p class="error" id="search-error">${esc(d.searchError)}</p>`;
  else if (d.hits && d.hits.length === 0) results = '<p id="no-hits">No hits.</p>';
  else if (d.hits) {
    results = `<p class="muted">${esc(d.hits.length)} records, ${esc(f.mode)}${d.searchMs !== null ? `, ${esc(Math.round(d.searchMs))} ms` : ''}</p><ol class="hits" id="hits">${d.hits
      .map(
        (h) =>
          `<li class="hit" data-key="${esc(h.key)}"><div class="hit-head"><strong class="title">${esc(h.title)}</strong><span class="key">${esc(h.key)}</span><span class="muted">chunk ${esc(h.chunkIndex + 1)} of ${esc(h.payload.chunk_count)}; score ${esc(h.score.toFixed(4))}${h.payload.date ? `; ${esc(h.payload.date)}` : ''}${h.payload.stage ? `; stage ${esc(h.payload.stage)}` : ''}</span></div><div class="chunk-text">${esc(h.text.replace(/\n{2,}/g, '\n'))}</div></li>`,
      )
      .join('')}</ol>`;
  }
  return `<section id="search"><h2>Search</h2>${form}${results}</section>`;
}

export function renderPage(d: PageData): string {
  const s = d.status;
  const healthy =
    s.triggers.ok && !s.store.error && s.deadLetters.count === 0 && s.changelog.lagSeconds <= 300;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>crm-index: ${healthy ? 'healthy' : 'needs attention'}</title>
<style nonce="${esc(d.nonce)}">${STYLE}</style></head>
<body><header><h1>crm-index</h1><span>${yesNo(healthy, 'healthy', 'needs attention')}</span><span class="muted">as of ${esc(time(d.generatedAt.getTime()))}; <a href="/">refresh</a> · <a href="/healthz">/healthz</a> · <a href="/metrics">/metrics</a>${d.signedIn ? ' · signed in' : ''}</span></header>
<main>
${d.flash ? `<p class="flash" id="flash">${esc(d.flash)}</p>` : ''}
${renderHealth(s, d.csrf)}
<section id="charts"><h2>Last hour</h2>${d.charts.throughput}${d.charts.lag}</section>
${renderSearch(d)}
</main></body></html>`;
}

/** The page a visitor sees when they may not see the real one (wrong Host, no token configured, not signed in). */
export function renderGate(
  reason: string,
  opts: { login: boolean; csrf: string; nonce: string; error?: string },
): string {
  const login = opts.login
    ? `<form method="post" action="/login"><input type="hidden" name="csrf" value="${esc(opts.csrf)}"><label>MCP token <input type="password" name="token" autocomplete="current-password" size="40"></label> <button type="submit">Sign in</button></form>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>crm-index: sign in</title><style nonce="${esc(opts.nonce)}">${STYLE}</style></head>
<body><header><h1>crm-index</h1></header><main><section><h2>Access</h2>${opts.error ? `<p class="error">${esc(opts.error)}</p>` : ''}<p>${esc(reason)}</p>${login}</section></main></body></html>`;
}
