/**
 * Inline SVG charts for the page, from a series of samples. Pure: the same
 * points give the same markup, so tests read the bars and the line back.
 * Invariant: the title and unit go through `esc`; numbers are formatted here.
 */
import { esc } from './escape.js';

export interface ChartPoint {
  at: number;
  /** null = not measured (a gap in a line, no bar). */
  value: number | null;
}

export interface ChartOptions {
  title: string;
  unit: string;
  kind: 'bars' | 'line';
  width?: number;
  height?: number;
  /** CSS class of the marks, so the page's stylesheet colours them. */
  className?: string;
}

const PAD = { left: 44, right: 8, top: 18, bottom: 18 };

/** A round-ish upper bound so the axis label reads well (1, 2, 5 × 10^n). */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(n < 10 ? 1 : 0);
}

export function renderChart(points: ChartPoint[], opts: ChartOptions): string {
  const width = opts.width ?? 720;
  const height = opts.height ?? 140;
  const cls = esc(opts.className ?? 'mark');
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const values = points.map((p) => p.value).filter((v): v is number => v !== null);
  const max = niceMax(Math.max(0, ...values));
  const n = Math.max(points.length, 1);
  const x = (i: number) => PAD.left + (i * plotW) / n;
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  const r = (v: number) => Math.round(v * 10) / 10;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<title>${esc(opts.title)}</title>`,
    `<text x="${PAD.left}" y="12" class="chart-title">${esc(opts.title)} (${esc(opts.unit)})</text>`,
    `<line x1="${PAD.left}" y1="${r(y(0))}" x2="${width - PAD.right}" y2="${r(y(0))}" class="axis"/>`,
    `<line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${r(y(0))}" class="axis"/>`,
    `<text x="${PAD.left - 4}" y="${PAD.top + 4}" text-anchor="end" class="tick" data-max="${max}">${fmt(max)}</text>`,
    `<text x="${PAD.left - 4}" y="${r(y(0))}" text-anchor="end" class="tick">0</text>`,
  ];
  const first = points[0];
  const last = points[points.length - 1];
  if (first && last) {
    const mins = Math.round((last.at - first.at) / 60_000);
    parts.push(`<text x="${PAD.left}" y="${height - 4}" class="tick">-${mins} min</text>`);
    parts.push(`<text x="${width - PAD.right}" y="${height - 4}" text-anchor="end" class="tick">now</text>`);
  }
  if (values.length === 0) {
    parts.push(
      `<text x="${PAD.left + plotW / 2}" y="${PAD.top + plotH / 2}" text-anchor="middle" class="nodata">no data yet</text>`,
    );
  } else if (opts.kind === 'bars') {
    const bw = Math.max(plotW / n - 0.5, 0.5);
    points.forEach((p, i) => {
      if (p.value === null || p.value <= 0) return;
      const top = y(p.value);
      parts.push(
        `<rect class="${cls}" x="${r(x(i))}" y="${r(top)}" width="${r(bw)}" height="${r(y(0) - top)}" data-value="${p.value}"><title>${fmt(p.value)} ${esc(opts.unit)} at ${new Date(p.at).toISOString().slice(11, 19)}</title></rect>`,
      );
    });
  } else {
    // One polyline per run of measured points: a gap means "not measured", not zero.
    let run: string[] = [];
    const flush = () => {
      if (run.length === 1) {
        const [cx, cy] = run[0]!.split(',');
        parts.push(`<circle class="${cls}" cx="${cx}" cy="${cy}" r="2"/>`);
      } else if (run.length > 1)
        parts.push(`<polyline class="${cls}" fill="none" points="${run.join(' ')}"/>`);
      run = [];
    };
    points.forEach((p, i) => {
      if (p.value === null) return flush();
      run.push(`${r(x(i) + plotW / n / 2)},${r(y(p.value))}`);
    });
    flush();
  }
  parts.push('</svg>');
  return parts.join('');
}
