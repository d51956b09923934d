/**
 * Shared set-up for the pipeline benchmarks: a demo CRM in a temp folder with
 * capture installed, a Config on embedded defaults, a zero-cost embedder (so
 * only our own work is measured), percentiles and a table printer.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../config/index.js';
import { openCrm } from '../../crm/db.js';
import { createDemoDatabase } from '../../crm/demo/create.js';
import { Rng } from '../../crm/demo/rng.js';
import { bodyParagraphs, subject } from '../../crm/demo/text.js';
import { DEFAULT_SOURCE_MAP } from '../../crm/sourceMap.js';
import type { DenseEmbedder } from '../../encoders/types.js';
import { installCapture } from '../../triggers/install.js';
import { estimateTokens } from '../../pipeline/chunk.js';
import { pointsTable } from '../../stores/embedded/sql.js';
import Database from 'better-sqlite3';

export function tempDir(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `crm-index-bench-${name}-`));
}

export function makeDemo(dir: string, records: number, seed = 42): string {
  const dbPath = path.join(dir, 'crm.db');
  createDemoDatabase({ dbPath, records, seed });
  const db = openCrm(dbPath);
  installCapture(db, DEFAULT_SOURCE_MAP);
  db.close();
  return dbPath;
}

/**
 * The mean size, in estimated model tokens (what CHUNK_MAX_TOKENS budgets,
 * header included), of the chunks in the active generation of an embedded
 * index file, so a chunks/s figure says how big its chunks were.
 */
export function meanChunkTokens(indexPath: string): number {
  const db = new Database(indexPath, { readonly: true, fileMustExist: true });
  try {
    const gen = db.prepare("SELECT value FROM _store_meta WHERE key = 'active'").pluck().get() as string;
    let chunks = 0;
    let tokens = 0;
    for (const text of db
      .prepare(`SELECT text FROM ${pointsTable(gen)}`)
      .pluck()
      .iterate() as Iterable<string>) {
      chunks++;
      tokens += estimateTokens(text);
    }
    return chunks > 0 ? tokens / chunks : 0;
  } finally {
    db.close();
  }
}

/**
 * The texts of the chunks in the active generation of an embedded index file,
 * exactly as they were sent to the embedder (the text column; inside the
 * payload JSON in the first layout), in insertion order.
 */
export function chunkTexts(indexPath: string): string[] {
  const db = new Database(indexPath, { readonly: true, fileMustExist: true });
  try {
    const gen = db.prepare("SELECT value FROM _store_meta WHERE key = 'active'").pluck().get() as string;
    const table = pointsTable(gen);
    const cols = new Set((db.pragma(`table_info(${table})`) as { name: string }[]).map((c) => c.name));
    const text = cols.has('text') ? 'text' : "json_extract(payload, '$.text')";
    return db.prepare(`SELECT ${text} FROM ${table} ORDER BY rowid`).pluck().all() as string[];
  } finally {
    db.close();
  }
}

/** A small demo CRM plus `n` multi-page meeting notes (the demo's "long" bodies); returns its path. */
export function makeLongNotes(dir: string, n: number): string {
  const dbPath = makeDemo(dir, 200);
  const db = openCrm(dbPath);
  const rng = new Rng(7);
  const ctx = { org: 'Acme Robotics', people: ['Ana Lima', 'Ben Ode'], sector: 'fintech', city: 'Lisbon' };
  const ins = db.prepare(
    "INSERT INTO interactions (kind, occurred_at, subject, body, owner) VALUES ('meeting', '2026-01-01', ?, ?, 'ana')",
  );
  db.transaction(() => {
    for (let i = 0; i < n; i++) ins.run(subject(rng, ctx), bodyParagraphs(rng, ctx, 'long').join('\n\n'));
  })();
  db.close();
  return dbPath;
}

export function benchConfig(dbPath: string, env: Record<string, string> = {}): Config {
  return loadConfig({
    env: {
      CRM_DB_PATH: dbPath,
      LOG_LEVEL: 'silent',
      CRM_INDEX_HTTP_PORT: '0',
      POLL_INTERVAL_MS: '50',
      ...env,
    },
    envFile: false,
  });
}

/**
 * A zero-cost dense embedder: a unit vector picked from a few character codes
 * and the length of each text, O(1) per text. It stands in for a GPU server
 * that is never the bottleneck, so a benchmark measures the pipeline's own
 * overhead. (Distinct texts mostly get distinct vectors; nothing here needs
 * them to mean anything.)
 */
export class ZeroCostEmbedder implements DenseEmbedder {
  readonly modelId = 'zero-cost-bench';
  constructor(readonly dim = 100) {}
  async init(): Promise<void> {}
  async embed(texts: string[]): Promise<Float32Array[]> {
    const d = this.dim;
    return texts.map((t) => {
      const v = new Float32Array(d);
      const n = t.length;
      v[n % d] = 0.6;
      const j = (t.charCodeAt(n >> 1) + 7 * t.charCodeAt(n - 1)) % d || 0; // NaN (empty text) -> 0
      v[j] = v[j]! + 0.8;
      let s = 0;
      for (let i = 0; i < d; i++) s += v[i]! * v[i]!;
      const norm = Math.sqrt(s);
      for (let i = 0; i < d; i++) v[i]! /= norm;
      return v;
    });
  }
  async close(): Promise<void> {}
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function printTable(title: string, head: string[], rows: (string | number)[][]): void {
  const cells = [head, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  console.log(`\n${title}`);
  console.log('| ' + head.map((h, i) => h.padEnd(widths[i]!)).join(' | ') + ' |');
  console.log('| ' + widths.map((w) => '-'.repeat(w)).join(' | ') + ' |');
  for (const r of cells.slice(1))
    console.log('| ' + r.map((c, i) => String(c).padEnd(widths[i]!)).join(' | ') + ' |');
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US');
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

export function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}
