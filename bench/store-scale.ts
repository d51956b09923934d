/**
 * The embedded store on demo CRMs of growing size: a search in a fresh CLI
 * process (with the index's snapshot, and optionally without: `--cold`), and
 * in a warm process (what follow's page or the MCP server holds), with the
 * process's RSS, the index's bytes per chunk, and every figure as a ratio
 * against the first (smallest) size measured in the same run.
 *
 *   npm run build && npx tsx bench/store-scale.ts --dir DIR [--records 100000,300000,1000000]
 *       [--runs 5] [--queries 200] [--cold]
 *
 * DIR keeps one folder per size (`r<records>/crm.db`, `index.db`); a missing
 * one is made with the compiled CLI (`demo-data`, then `rebuild`, timed with
 * its peak RSS): minutes at 1M records, so keep DIR between runs.
 * Fresh-process figures are wall time and peak RSS of `node dist/cli/main.js
 * search` under /usr/bin/time; warm figures come from a child process that
 * opens the store and the real embedders as `crm-index mcp` does.
 *
 * Targets (issue: the stores at a million records): fresh CLI search without
 * follow <= 2 s at 1M records; warm hybrid p95 <= 50 ms; warm process RSS
 * <= 1 GB at 1M x 100-d; rebuild peak RSS <= 450 MB.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { childJob, inChild, report } from './lib/child.js';
import { arg } from './lib/pipeline.js';

const CLI = path.resolve('dist/cli/main.js');
const QUERIES = [
  'lightning custody',
  'series B term sheet',
  'churn worries from the CFO',
  'gearbox supply problems',
  'intro to portfolio companies',
  'diligence on the custody stack',
  'quarterly update pipeline pilots',
  'board seat negotiation',
  'hiring a head of sales',
  'regulatory approval in Singapore',
  'follow-up call next week',
  'lead or co-lead the round',
];

interface Warm {
  loadMs: number;
  hybrid: { p50: number; p95: number };
  dense: { p50: number; p95: number };
  sparse: { p50: number; p95: number };
  rssMb: number;
  chunks: number;
  bytes: { dense: number; sparse: number; filters: number };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** The child: open the store and embedders as the MCP server does, warm, then time searches. */
async function warmChild(job: { dir: string; queries: number }): Promise<Warm> {
  const { loadConfig } = await import('../config/index.js');
  const { createStore } = await import('../stores/factory.js');
  const { createDenseEmbedder } = await import('../encoders/factory.js');
  const { Bm25Encoder } = await import('../encoders/bm25.js');
  const { createSearchEngine } = await import('../search/engine.js');
  const config = loadConfig({
    env: { ...process.env, CRM_DB_PATH: `${job.dir}/crm.db`, CRM_INDEX_PATH: `${job.dir}/index.db` },
    envFile: false,
  });
  const store = await createStore(config);
  const dense = await createDenseEmbedder(config);
  const engine = createSearchEngine({ store, dense, sparse: new Bm25Encoder() });
  const t0 = performance.now();
  await engine.warm();
  const loadMs = performance.now() - t0;
  const times = (mode: 'dense' | 'sparse' | 'hybrid', n: number) => async () => {
    const ms: number[] = [];
    for (let i = 0; i < n; i++) {
      const q = `${QUERIES[i % QUERIES.length]}${i >= QUERIES.length ? ` ${i}` : ''}`;
      const s = performance.now();
      await engine.search(q, { mode, limit: 10 });
      ms.push(performance.now() - s);
    }
    return { p50: pct(ms, 50), p95: pct(ms, 95) };
  };
  const hybrid = await times('hybrid', job.queries)();
  const denseT = await times('dense', Math.ceil(job.queries / 2))();
  const sparseT = await times('sparse', Math.ceil(job.queries / 2))();
  const st = (store as unknown as { indexState?: { points: number; bytes: Warm['bytes'] } }).indexState;
  const out: Warm = {
    loadMs,
    hybrid,
    dense: denseT,
    sparse: sparseT,
    rssMb: process.memoryUsage().rss / 1e6,
    chunks: st?.points ?? 0,
    bytes: st?.bytes ?? { dense: 0, sparse: 0, filters: 0 },
  };
  await store.close();
  await dense.close();
  return out;
}

/** Wall seconds and peak RSS (MB) of one command under /usr/bin/time. */
function timedRun(cmd: string[], env: NodeJS.ProcessEnv): { s: number; rssMb: number } {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', ...cmd], {
    env,
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} failed: ${r.stderr.slice(-500)}`);
  const [s, kb] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
  return { s: s!, rssMb: kb! / 1000 };
}

async function main(): Promise<void> {
  const job = childJob<{ dir: string; queries: number }>();
  if (job) return report(await warmChild(job));
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first.`);
  const root = arg('dir', '');
  if (!root) throw new Error('give --dir DIR: where the demo CRMs and their indexes are kept between runs');
  const sizes = arg('records', '100000,300000,1000000').split(',').map(Number);
  const runs = Number(arg('runs', '5'));
  const queries = Number(arg('queries', '200'));
  const cold = process.argv.includes('--cold');
  const rows: Record<string, Record<string, number>> = {};
  for (const n of sizes) {
    const dir = path.join(root, `r${n}`);
    const env = { ...process.env, CRM_DB_PATH: `${dir}/crm.db`, CRM_INDEX_PATH: `${dir}/index.db` };
    const r: Record<string, number> = {};
    if (!fs.existsSync(`${dir}/index.db`)) {
      fs.mkdirSync(dir, { recursive: true });
      execFileSync(process.execPath, [CLI, 'demo-data', '--records', String(n), '--force'], {
        env,
        stdio: 'ignore',
      });
      const b = timedRun([process.execPath, CLI, 'rebuild'], env);
      r['rebuild s'] = b.s;
      r['rebuild peak RSS MB'] = b.rssMb;
    }
    const search = (mode: string, q: string) =>
      timedRun([process.execPath, CLI, 'search', q, '--mode', mode, '--limit', '10'], env);
    const snapshots = () => fs.readdirSync(dir).filter((f) => f.endsWith('.mirror'));
    if (cold || snapshots().length === 0) {
      for (const f of snapshots()) fs.rmSync(path.join(dir, f));
      const c = search('hybrid', QUERIES[0]!);
      r['fresh CLI, no snapshot: hybrid s'] = c.s;
      r['fresh CLI, no snapshot: peak RSS MB'] = c.rssMb;
    }
    for (const mode of ['sparse', 'dense', 'hybrid']) {
      const t: number[] = [];
      let rss = 0;
      for (let i = 0; i < runs; i++) {
        const x = search(mode, QUERIES[(i + 1) % QUERIES.length]!);
        t.push(x.s);
        rss = Math.max(rss, x.rssMb);
      }
      r[`fresh CLI ${mode}: p50 s`] = pct(t, 50);
      r[`fresh CLI ${mode}: max s`] = Math.max(...t);
      r[`fresh CLI ${mode}: peak RSS MB`] = rss;
    }
    const w = await inChild<{ dir: string; queries: number }, Warm>(new URL(import.meta.url).pathname, {
      dir,
      queries,
    });
    r['chunks'] = w.chunks;
    r['warm: load (snapshot) ms'] = w.loadMs;
    r['warm hybrid: p50 ms'] = w.hybrid.p50;
    r['warm hybrid: p95 ms'] = w.hybrid.p95;
    r['warm dense: p95 ms'] = w.dense.p95;
    r['warm sparse: p95 ms'] = w.sparse.p95;
    r['warm process RSS MB'] = w.rssMb;
    r['index bytes/chunk: dense'] = w.bytes.dense / w.chunks;
    r['index bytes/chunk: sparse'] = w.bytes.sparse / w.chunks;
    r['index bytes/chunk: filters'] = w.bytes.filters / w.chunks;
    rows[n] = r;
    const base = rows[sizes[0]!]!;
    console.log(
      `\n${n.toLocaleString('en')} records (${w.chunks.toLocaleString('en')} chunks), load average ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}`,
    );
    console.table(
      Object.entries(r).map(([measure, value]) => ({
        measure,
        value: +value.toFixed(value < 10 ? 3 : 1),
        [`at ${sizes[0]!.toLocaleString('en')}`]:
          base[measure] !== undefined ? +base[measure]!.toFixed(3) : '',
        ratio: base[measure] ? +(value / base[measure]!).toFixed(2) : '',
      })),
    );
  }
}

await main();
