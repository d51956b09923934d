/**
 * Embedded store benchmark: upsert throughput (batches of 256, ~120 sparse terms
 * per point) and search latency p50/p95 per mode, at 10k and 100k points, for
 * dim 100 (local embedder) and 768 (realistic HTTP model). Query embedding is
 * excluded: query vectors are made up front.
 *
 * Baselines measured in the same run, so a busy machine shows as a ratio and not
 * as a regression: the upsert is compared with a plain INSERT of the same blobs
 * and payload JSON into a bare table (no index, no conflict handling, same
 * pragmas and batch size) in a file beside the index, i.e. what SQLite itself
 * costs here; latencies are compared with the targets. `--vec0` also times
 * sqlite-vec's vec0 KNN on the same vectors (the alternative the design was
 * measured against).
 *
 *   npx tsx bench/store.ts                       # sizes 10000,100000; dims 100,768
 *   npx tsx bench/store.ts --sizes 10000 --dims 100 [--vec0]
 *
 * Targets: upsert >= 20,000 points/s; hybrid p95 <= 30 ms at 100k. For demo CRMs
 * up to 1M records (fresh processes, RSS, ratios against 100k) see bench/store-scale.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import * as sqliteVec from 'sqlite-vec';
import { openEmbeddedStore } from '../stores/embedded.js';
import { encodeSparse } from '../stores/embedded/sql.js';
import { pointId } from '../stores/ids.js';
import type { ChunkPoint, SearchRequest } from '../stores/types.js';
import { mulberry32 } from '../crm/demo/rng.js';

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : def;
};
const SIZES = arg('sizes', '10000,100000').split(',').map(Number);
const DIMS = arg('dims', '100,768').split(',').map(Number);
const BATCH = 256;
const TERMS = 120;
const VOCAB = 30_000;
const QUERIES = 100;
const WITH_VEC0 = args.includes('--vec0');
const TARGET_UPSERT = 20_000;
const TARGET_HYBRID_P95_MS = 30;

const prng = mulberry32;
const rand = prng(42);
/** Zipf-like term ids: a few very common terms, a long tail, like real text. */
const term = () => Math.floor(Math.pow(VOCAB, rand())) + 1_000_000;
const TEXT = 'lorem ipsum dolor sit amet '.repeat(40);
const tables = ['organizations', 'people', 'deals', 'activities', 'notes'];

function makePoint(i: number, dim: number): ChunkPoint {
  const dense = new Float32Array(dim);
  for (let d = 0; d < dim; d++) dense[d] = rand() * 2 - 1;
  const set = new Set<number>();
  while (set.size < TERMS) set.add(term());
  const indices = [...set];
  const recordKey = `${tables[i % 5]}:${i}`;
  return {
    id: pointId(recordKey, 0),
    dense,
    sparse: { indices, values: indices.map(() => 0.5 + rand()) },
    payload: {
      record_key: recordKey,
      table: tables[i % 5]!,
      chunk_index: 0,
      chunk_count: 1,
      fingerprint: `fp${i}`,
      text: TEXT,
      title: `Record ${i}`,
      kind: i % 3 ? 'email' : 'call',
      stage: i % 7 ? 'open' : 'won',
      organization_id: `org-${i % 500}`,
      date: `2024-${String((i % 12) + 1).padStart(2, '0')}-15T10:00:00Z`,
      owner: `owner-${i % 10}`,
      entity_ids: [`ent-${i % 1000}`],
    },
  };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

interface Row {
  dim: number;
  n: number;
  what: string;
  value: string;
}
const rows: Row[] = [];
interface Ratio {
  dim: number;
  n: number;
  what: string;
  value: string;
  against: string;
  ratio: number;
}
const ratios: Ratio[] = [];
const push = (dim: number, n: number, what: string, value: string) => {
  rows.push({ dim, n, what, value });
  console.error(`  dim ${dim} n ${n}: ${what} = ${value}`);
};

async function timeQueries(
  fn: (i: number) => Promise<unknown> | unknown,
): Promise<{ p50: number; p95: number }> {
  const t: number[] = [];
  for (let i = 0; i < QUERIES; i++) {
    const s = performance.now();
    await fn(i);
    t.push(performance.now() - s);
  }
  return { p50: pct(t, 50), p95: pct(t, 95) };
}
const ms = (x: { p50: number; p95: number }) => `p50 ${x.p50.toFixed(2)} ms, p95 ${x.p95.toFixed(2)} ms`;

async function run(dim: number, maxN: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-index-bench-'));
  const file = path.join(dir, 'index.db');
  try {
    const store = openEmbeddedStore(file);
    await store.ensure({ dim, model: 'bench' });
    const checkpoints = SIZES.filter((s) => s <= maxN).sort((a, b) => a - b);
    let written = 0;
    let writeMs = 0;
    let writeCpu = 0;
    const bare = openBare(path.join(dir, 'bare.db'));
    let bareMs = 0;
    const queries: SearchRequest[] = [];
    for (let q = 0; q < QUERIES; q++) {
      const p = makePoint(10_000_000 + q, dim);
      queries.push({
        mode: 'hybrid',
        dense: p.dense,
        sparse: { indices: p.sparse.indices.slice(0, 6), values: [1, 1, 1, 1, 1, 1] },
        limit: 10,
      });
    }
    for (const target of checkpoints) {
      while (written < target) {
        const batch: ChunkPoint[] = [];
        for (let i = 0; i < BATCH && written + i < target; i++) batch.push(makePoint(written + i, dim));
        const c = process.cpuUsage();
        const s = performance.now();
        await store.upsert(batch);
        writeMs += performance.now() - s;
        const cu = process.cpuUsage(c);
        writeCpu += (cu.user + cu.system) / 1000;
        bareMs += bare(batch);
        written += batch.length;
      }
      const rate = written / (writeMs / 1000);
      const bareRate = written / (bareMs / 1000);
      push(dim, target, 'upsert points/s (cumulative)', fmt(rate));
      push(
        dim,
        target,
        'upsert, process CPU per 1,000 points',
        `${((writeCpu / written) * 1000).toFixed(1)} ms`,
      );
      push(dim, target, 'baseline: plain INSERT into a bare table, points/s', fmt(bareRate));
      ratios.push({
        dim,
        n: target,
        what: 'upsert points/s',
        value: fmt(rate),
        against: `plain INSERT ${fmt(bareRate)}`,
        ratio: rate / bareRate,
      });
      ratios.push({
        dim,
        n: target,
        what: 'upsert points/s',
        value: fmt(rate),
        against: `target ${fmt(TARGET_UPSERT)}`,
        ratio: rate / TARGET_UPSERT,
      });
      // A fresh reader: what the MCP server pays on its first search.
      const reader = openEmbeddedStore(file, { readonly: true });
      const c0 = process.cpuUsage();
      const s0 = performance.now();
      await reader.search({ ...queries[0]!, mode: 'sparse' });
      const cu0 = process.cpuUsage(c0);
      push(
        dim,
        target,
        'first search (index built from the table, snapshot written)',
        `${(performance.now() - s0).toFixed(0)} ms (CPU ${((cu0.user + cu0.system) / 1000).toFixed(0)} ms)`,
      );
      for (const mode of ['dense', 'sparse', 'hybrid'] as const) {
        const t = await timeQueries((i) => reader.search({ ...queries[i]!, mode }));
        push(dim, target, `${mode} search`, ms(t));
        if (mode === 'hybrid') {
          ratios.push({
            dim,
            n: target,
            what: 'hybrid p95 (target / measured)',
            value: `${t.p95.toFixed(2)} ms`,
            against: `target ${TARGET_HYBRID_P95_MS} ms`,
            ratio: TARGET_HYBRID_P95_MS / t.p95,
          });
        }
      }
      const filter = { tables: ['deals', 'people'], dateFrom: '2024-03-01', dateTo: '2024-09-30' };
      push(
        dim,
        target,
        'hybrid + filter',
        ms(await timeQueries((i) => reader.search({ ...queries[i]!, filter }))),
      );
      // A second fresh reader loads the snapshot the first one wrote (what every later process pays).
      const again = openEmbeddedStore(file, { readonly: true });
      const s2 = performance.now();
      await again.search(queries[2]!);
      push(dim, target, 'first search with a snapshot (hybrid)', `${(performance.now() - s2).toFixed(0)} ms`);
      const st = again.indexState!;
      push(
        dim,
        target,
        'index bytes a chunk: dense / sparse / filters',
        [st.bytes.dense, st.bytes.sparse, st.bytes.filters]
          .map((b) => (b / st.points).toFixed(0))
          .join(' / '),
      );
      await again.close();
      // Incremental freshness: another connection writes 256 points, the reader catches up.
      const s1 = performance.now();
      await store.upsert(Array.from({ length: BATCH }, (_, i) => makePoint(i, dim)));
      const w1 = performance.now();
      await reader.search(queries[1]!);
      push(
        dim,
        target,
        'catch-up after 256 foreign writes',
        `${(performance.now() - w1).toFixed(1)} ms (write ${(w1 - s1).toFixed(1)} ms)`,
      );
      await reader.close();
      if (WITH_VEC0) vec0Compare(file, dim, target, queries);
    }
    await store.close();
    bare.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (x: number) => Math.round(x).toLocaleString('en');

/**
 * The upsert's baseline: the same bytes (dense and sparse blobs, payload JSON,
 * id) appended to a bare table with the store's pragmas and one transaction per
 * batch. Returns the writer; each call times one batch (encoding included, as in
 * the store) and returns milliseconds.
 */
function openBare(file: string): ((batch: ChunkPoint[]) => number) & { close(): void } {
  const db = new Database(file);
  db.pragma('page_size = 16384');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('cache_size = -8192');
  db.exec('CREATE TABLE bare (id TEXT, payload TEXT, dense BLOB, sparse BLOB)');
  const ins = db.prepare('INSERT INTO bare VALUES (?, ?, ?, ?)');
  const write = db.transaction((batch: ChunkPoint[]) => {
    for (const p of batch) {
      const d = Float32Array.from(p.dense);
      ins.run(
        p.id,
        JSON.stringify(p.payload),
        Buffer.from(d.buffer),
        encodeSparse(p.sparse.indices, p.sparse.values),
      );
    }
  });
  const fn = (batch: ChunkPoint[]) => {
    const s = performance.now();
    write(batch);
    return performance.now() - s;
  };
  return Object.assign(fn, { close: () => db.close() });
}

/** sqlite-vec vec0 on the same vectors: insert rate and unfiltered KNN latency. */
function vec0Compare(file: string, dim: number, n: number, queries: SearchRequest[]): void {
  const db = new Database(file);
  sqliteVec.load(db);
  const gen = db.prepare("SELECT value FROM _store_meta WHERE key='active'").pluck().get() as string;
  db.exec(
    `DROP TABLE IF EXISTS bench_vec; CREATE VIRTUAL TABLE bench_vec USING vec0(embedding float[${dim}] distance_metric=cosine)`,
  );
  const ins = db.prepare('INSERT INTO bench_vec(rowid, embedding) VALUES (?, ?)');
  const s = performance.now();
  const all = db.prepare(`SELECT rid, dense FROM pts_${gen}`).all() as { rid: number; dense: Buffer }[];
  db.transaction(() => {
    for (const r of all) ins.run(BigInt(r.rid), r.dense);
  })();
  const insMs = performance.now() - s;
  push(dim, n, 'vec0 insert points/s (vectors only)', Math.round(n / (insMs / 1000)).toLocaleString('en'));
  const knn = db.prepare('SELECT rowid, distance FROM bench_vec WHERE embedding MATCH ? AND k = 10');
  const t: number[] = [];
  for (let i = 0; i < 30; i++) {
    const q = Float32Array.from(queries[i]!.dense!);
    const a = performance.now();
    knn.all(Buffer.from(q.buffer));
    t.push(performance.now() - a);
  }
  push(
    dim,
    n,
    'vec0 dense KNN (unfiltered, 30 q)',
    `p50 ${pct(t, 50).toFixed(2)} ms, p95 ${pct(t, 95).toFixed(2)} ms`,
  );
  db.exec('DROP TABLE bench_vec');
  db.close();
}

const maxN = Math.max(...SIZES);
const load0 = os.loadavg()[0]!.toFixed(1);
for (const dim of DIMS) await run(dim, maxN);

console.log('\n| dim | points | measure | value |\n| --- | --- | --- | --- |');
for (const r of rows) console.log(`| ${r.dim} | ${r.n.toLocaleString('en')} | ${r.what} | ${r.value} |`);
console.log('\n| dim | points | measure | value | against | ratio |\n| --- | --- | --- | --- | --- | --- |');
for (const r of ratios) {
  console.log(
    `| ${r.dim} | ${r.n.toLocaleString('en')} | ${r.what} | ${r.value} | ${r.against} | ${r.ratio.toFixed(2)}x |`,
  );
}
console.log(`\nload average at start: ${load0}`);
console.log(
  `\nload average at end: ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(
      ' ',
    )}; machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), node ${process.version}; targets: upsert >= 20,000 points/s, hybrid p95 <= 30 ms at 100k`,
);
