/**
 * Freshness: time from a CRM commit (in another process) to the change being
 * written to the index and searchable, over single-row commits at a steady
 * rate and in bursts. Local GloVe embedder + embedded store (the defaults).
 * Target: p95 <= 100 ms.
 *
 * Without `--dists`, `follow` runs in the bench process on this tree's
 * sources, `--rounds` times one after the other (each stopped and closed
 * before the next). With `--dists a,b` each build (a compiled tree: `dist`, or
 * another commit's built the same way; bench/lib/child.ts) gets a demo CRM of
 * its own, rebuilt by that build, and each round runs every build's `follow`
 * in a child process of its own (started like the daemon, with the
 * launchers' heap flag), the builds one after the other in an order that
 * flips from round to round. The table gives each build's steady and burst
 * p50/p95 over all its rounds' commits and each p95 over the first build's.
 *
 *   npx tsx bench/freshness.ts [--records 2000] [--steady 1000] [--interval-ms 25] [--bursts 10] [--burst-size 100] [--rounds 1] [--dists dist[,other]]
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openPipeline } from '../runs/context.js';
import { startFollow } from '../runs/follow.js';
import { runRebuild } from '../runs/runs.js';
import { childJob, compiled, compiledRuns, inChild, isBuild, report } from './lib/child.js';
import { arg, benchConfig, makeDemo, percentile, printTable, tempDir } from './lib/pipeline.js';

/** The writer's load: read here, and handed to each build's child in its job. */
interface Load {
  steady: number;
  intervalMs: number;
  bursts: number;
  burstSize: number;
}

const records = Number(arg('records', '2000'));
const load: Load = {
  steady: Number(arg('steady', '1000')),
  intervalMs: Number(arg('interval-ms', '25')),
  bursts: Number(arg('bursts', '10')),
  burstSize: Number(arg('burst-size', '100')),
};
const { steady, intervalMs, bursts, burstSize } = load;
const rounds = Number(arg('rounds', '1'));
const distsArg = arg('dists', '');
if (!Number.isInteger(rounds) || rounds < 1)
  throw new Error(`--rounds: expected a whole number of rounds, 1 or more, got "${arg('rounds', '')}".`);

const WRITER = `
const Database = require(process.env.BSQ);
const db = new Database(process.env.DB);
db.pragma('busy_timeout = 5000');
const ins = db.prepare("INSERT INTO notes (subject_table, subject_id, author, body) VALUES ('organizations', 1, 'bench', ?)");
const seqOf = db.prepare('SELECT max(seq) FROM _cdc_changelog').pluck();
const now = () => performance.timeOrigin + performance.now();
const out = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
process.on('message', async (m) => {
  for (let b = 0; b < m.groups; b++) {
    for (let i = 0; i < m.size; i++) {
      ins.run('freshness probe ' + m.phase + ' ' + b + ' ' + i);
      out.push([seqOf.get(), now()]);
      if (m.gapMs) await sleep(m.gapMs);
    }
    if (m.pauseMs) await sleep(m.pauseMs);
  }
  process.send(out.splice(0));
});
`;

interface Job {
  kind: 'rebuild' | 'follow';
  db: string;
  dist: string;
  load: Load;
}

/** Commit-to-indexed latencies of one run, in ms, each list sorted. */
interface Latencies {
  steady: number[];
  burst: number[];
}

/** What a run needs of a pipeline: this tree's sources, or a compiled build's modules. */
interface Runs {
  openPipeline: typeof openPipeline;
  startFollow: typeof startFollow;
  runRebuild: typeof runRebuild;
}

const config = (dbPath: string): ReturnType<typeof benchConfig> =>
  benchConfig(dbPath, { BATCH_LINGER_MS: '2', POLL_INTERVAL_MS: '100' });

async function compiledBuild(dist: string): Promise<Runs> {
  const ctx = await compiled<typeof import('../runs/context.js')>('context', dist);
  const fol = await compiled<typeof import('../runs/follow.js')>('follow', dist);
  const runs = await compiledRuns(dist);
  return { openPipeline: ctx.openPipeline, startFollow: fol.startFollow, runRebuild: runs.runRebuild };
}

/**
 * One run of `follow` on `dbPath` (already rebuilt) while a writer process commits the steady
 * phase, then the bursts; follow is stopped and its pipeline closed before this returns.
 */
async function measure(dbPath: string, runs: Runs, load: Load): Promise<Latencies> {
  // As the follow daemon opens it (runs/daemon.ts).
  const ctx = await runs.openPipeline(config(dbPath), { longRunning: true });
  const follow = await runs.startFollow(ctx, { waitForLeaseMs: 5000 });
  const indexedAt: [number, number][] = []; // [seq, epoch ms]
  ctx.events.on('batch:written', (e) => indexedAt.push([e.seq, performance.timeOrigin + performance.now()]));

  const writerFile = path.join(path.dirname(dbPath), 'writer.cjs');
  fs.writeFileSync(writerFile, WRITER);
  const child = fork(writerFile, [], {
    env: { ...process.env, DB: dbPath, BSQ: path.resolve('node_modules/better-sqlite3') },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const phase = (msg: object) =>
      new Promise<[number, number][]>((resolve) => {
        child.once('message', (m) => resolve(m as [number, number][]));
        child.send(msg);
      });
    const latencies = async (commits: [number, number][]): Promise<number[]> => {
      const last = commits[commits.length - 1]![0];
      while (!indexedAt.some(([s]) => s >= last)) await new Promise((r) => setTimeout(r, 10));
      return commits
        .map(([seq, t]) => {
          const hit = indexedAt.find(([s]) => s >= seq)!;
          return hit[1] - t;
        })
        .sort((a, b) => a - b);
    };
    await new Promise((r) => setTimeout(r, 500));
    const steadyLat = await latencies(
      await phase({ phase: 'steady', groups: 1, size: load.steady, gapMs: load.intervalMs }),
    );
    const burstLat = await latencies(
      await phase({ phase: 'burst', groups: load.bursts, size: load.burstSize, gapMs: 0, pauseMs: 500 }),
    );
    return { steady: steadyLat, burst: burstLat };
  } finally {
    child.kill();
    await follow.stop();
    await ctx.close();
  }
}

/** The child's side of --dists: a build's rebuild (untimed) or one measured follow run. */
async function runJob(job: Job): Promise<void> {
  const runs = await compiledBuild(job.dist);
  if (job.kind === 'rebuild') {
    await runs.runRebuild(config(job.db), { waitMs: 5000 });
    report({ steady: [], burst: [] } satisfies Latencies);
  } else {
    report(await measure(job.db, runs, job.load));
  }
}

const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);

/** This tree's sources in the bench process, `--rounds` runs one after the other. */
async function mainInProcess(): Promise<void> {
  const dir = tempDir('fresh');
  const dbPath = makeDemo(dir, records);
  await runRebuild(config(dbPath), { waitMs: 5000 });
  const all: Latencies[] = [];
  for (let r = 0; r < rounds; r++)
    all.push(await measure(dbPath, { openPipeline, startFollow, runRebuild }, load));
  const steadyLat = sorted(all.flatMap((l) => l.steady));
  const burstLat = sorted(all.flatMap((l) => l.burst));
  const rows = [
    [
      `steady (1 commit / ${intervalMs} ms)`,
      steadyLat.length,
      percentile(steadyLat, 50),
      percentile(steadyLat, 95),
      percentile(steadyLat, 99),
      percentile(steadyLat, 95) / 100,
    ],
    [
      `bursts (${bursts} x ${burstSize}, back to back)`,
      burstLat.length,
      percentile(burstLat, 50),
      percentile(burstLat, 95),
      percentile(burstLat, 99),
      percentile(burstLat, 95) / 100,
    ],
  ];
  printTable(
    `Freshness: commit in another process -> indexed (local GloVe embedder, embedded store, ${records}-record demo CRM)`,
    ['load', 'commits', 'p50 ms', 'p95 ms', 'p99 ms', 'p95 / 100 ms target'],
    rows,
  );
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Each build's follow in a child process, the builds alternating round by round. */
async function mainBuilds(dists: string[]): Promise<void> {
  for (const d of dists)
    if (!isBuild(d)) throw new Error(`--dists: ${d}/runs/runs.js is missing; build that tree first.`);
  const script = fileURLToPath(import.meta.url);
  const dir = tempDir('fresh');
  // A CRM of its own for each build (the same seed, so the same records), rebuilt by that build.
  const dbs = dists.map((_, i) => {
    fs.mkdirSync(path.join(dir, `build${i}`));
    return makeDemo(path.join(dir, `build${i}`), records);
  });
  for (const [i, dist] of dists.entries())
    await inChild<Job, Latencies>(script, { kind: 'rebuild', db: dbs[i]!, dist, load });
  const all = dists.map((): Latencies[] => []);
  for (let r = 0; r < rounds; r++) {
    const order = [...dists.keys()];
    if (r % 2 === 1) order.reverse();
    for (const i of order)
      all[i]!.push(
        await inChild<Job, Latencies>(script, { kind: 'follow', db: dbs[i]!, dist: dists[i]!, load }),
      );
  }
  const p95s = (i: number, k: keyof Latencies): string =>
    all[i]!.map((l) => percentile(l[k], 95).toFixed(1)).join(' / ');
  const pooled = (i: number, k: keyof Latencies): number[] => sorted(all[i]!.flatMap((l) => l[k]));
  const base = (k: keyof Latencies): number => percentile(pooled(0, k), 95);
  printTable(
    `Freshness by build: commit in another process -> indexed (local GloVe embedder, embedded store, ${records}-record demo CRM; steady 1 commit / ${intervalMs} ms x ${steady}, bursts ${bursts} x ${burstSize}), all commits of ${rounds} round(s)`,
    [
      'build',
      'steady p50 ms',
      'steady p95 ms',
      'p95 each round',
      'steady p95 vs first',
      'burst p50 ms',
      'burst p95 ms',
      'p95 each round',
      'burst p95 vs first',
    ],
    dists.map((dist, i) => {
      const s = pooled(i, 'steady');
      const b = pooled(i, 'burst');
      return [
        dist,
        percentile(s, 50),
        percentile(s, 95),
        p95s(i, 'steady'),
        percentile(s, 95) / base('steady'),
        percentile(b, 50),
        percentile(b, 95),
        p95s(i, 'burst'),
        percentile(b, 95) / base('burst'),
      ];
    }),
  );
  fs.rmSync(dir, { recursive: true, force: true });
}

const job = childJob<Job>();
if (job) await runJob(job);
else if (distsArg) await mainBuilds(distsArg.split(','));
else await mainInProcess();
