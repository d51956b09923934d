/**
 * `crm-index search` in a fresh process while follow runs on the same
 * database: the CLI asks follow (search/remote.ts), which holds the index
 * loaded, instead of loading it itself. Per size: follow is started, its
 * first search loads the index (timed apart), then --runs fresh CLI searches
 * through follow and --local-runs with --local, each timed as a whole
 * process. Every figure is also given as a ratio against the first size.
 *
 *   npm run build && npx tsx bench/search-follow.ts --dir DIR [--records 100000,1000000]
 *       [--runs 20] [--local-runs 3]
 *
 * DIR holds r<records>/crm.db and index.db as bench/store-scale.ts makes them.
 * Target (issue: the stores at a million records): p95 <= 300 ms at 1M
 * records with follow running.
 */
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { arg, printTable } from './lib/pipeline.js';

const CLI = path.resolve('dist/cli/main.js');
const QUERIES = [
  'lightning custody',
  'series B term sheet',
  'gearbox supply problems',
  'board seat negotiation',
];
const dir = arg('dir', '');
if (!dir) throw new Error('--dir is required: the folder with r<records>/crm.db and index.db');
const sizes = arg('records', '100000,1000000').split(',').map(Number);
const runs = Number(arg('runs', '20'));
const localRuns = Number(arg('local-runs', '3'));

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

function timedSearch(
  env: NodeJS.ProcessEnv,
  q: string,
  extra: string[] = [],
): { ms: number; viaFollow: boolean } {
  const t = performance.now();
  const r = spawnSync(process.execPath, [CLI, 'search', q, '--mode', 'hybrid', ...extra], {
    env: { ...env, LOG_LEVEL: 'debug' },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`search failed: ${r.stderr}`);
  return { ms: performance.now() - t, viaFollow: r.stderr.includes('answered by follow') };
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

const rows: (string | number)[][] = [];
let base: { p50: number; p95: number } | undefined;
for (const n of sizes) {
  const folder = path.join(dir, `r${n}`);
  const port = await freePort();
  const env = {
    ...process.env,
    CRM_DB_PATH: path.join(folder, 'crm.db'),
    CRM_INDEX_HTTP_PORT: String(port),
    LOG_LEVEL: 'warn',
  };
  const follow = spawn(process.execPath, [CLI, 'follow'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    await new Promise<void>((resolve, reject) => {
      let err = '';
      follow.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('/healthz')) resolve();
      });
      follow.once('exit', (c) => reject(new Error(`follow exited with ${c}: ${err}`)));
    });
    const first = timedSearch(env, QUERIES[0]!);
    const via: number[] = [];
    for (let i = 0; i < runs; i++) {
      const r = timedSearch(env, QUERIES[i % QUERIES.length]!);
      if (!r.viaFollow) throw new Error('a search was not answered by follow');
      via.push(r.ms);
    }
    const local: number[] = [];
    for (let i = 0; i < localRuns; i++)
      local.push(timedSearch(env, QUERIES[i % QUERIES.length]!, ['--local']).ms);
    const p50 = pct(via, 50);
    const p95 = pct(via, 95);
    base ??= { p50, p95 };
    rows.push([n, first.ms, p50, p95, p95 / base.p95, pct(local, 50), pct(local, 50) / p50]);
  } finally {
    follow.kill('SIGTERM');
    await new Promise((r) => follow.once('exit', r));
  }
}
printTable(
  `Fresh CLI hybrid search with follow running (${runs} via follow, ${localRuns} --local per size; ms)`,
  [
    'records',
    'first (follow loads)',
    'p50 via follow',
    'p95 via follow',
    'p95 ratio to first size',
    'p50 --local',
    '--local / via follow',
  ],
  rows,
);
