/**
 * The safety sweep at 100k records (issue 4: "it must finish in seconds at
 * 100k records"): a refresh whose changelog is empty, so what is timed is the
 * sweep's comparison of every source record with the store (read the store's
 * fingerprints, render and fingerprint every record, nothing to repair).
 *
 * `--dists` compares builds (each a compiled tree: `dist`, or another
 * commit's built the same way), alternating round by round on the same
 * files; each run is a child process (bench/lib/child.ts).
 * The first sweep after the rebuild is not timed (it settles entity ids).
 *
 * Then, in `follow` (each build again): a sweep is started and an
 * edit is committed 1.5 s into it; the table gives how long the edit took to
 * be indexed, and the longest the event loop went without a turn during the
 * sweep (health checks, metrics and lease renewals wait that long).
 *
 *   npm run build && npx tsx bench/sweep.ts [--records 100000] [--repeats 5] [--dists dist]
 */
import fs from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { openCrm } from '../crm/db.js';
import { fileURLToPath } from 'node:url';
import { childJob, compiled, compiledRuns, inChild, isBuild, report, requireBuild } from './lib/child.js';
import { arg, benchConfig, makeDemo, printTable, tempDir, ZeroCostEmbedder } from './lib/pipeline.js';
import { median, timed } from './lib/timing.js';

const records = Number(arg('records', '100000'));
const repeats = Number(arg('repeats', '5'));
const dists = arg('dists', 'dist').split(',');

interface Job {
  kind: 'rebuild' | 'sweep' | 'follow-edit';
  db: string;
  dist: string;
}

interface Result {
  /** follow-edit: the edit's time to indexed, and the longest event-loop stall (ms). */
  editMs?: number;
  stallMs?: number;
  sweepMs: number;
  wallMs: number;
  cpuMs: number;
  checked: number;
  repaired: number;
}

async function runJob(job: Job): Promise<void> {
  const { runRebuild, runRefresh } = await compiledRuns(job.dist);
  const config = benchConfig(job.db);
  const overrides = { dense: new ZeroCostEmbedder(100) };
  if (job.kind === 'follow-edit') {
    report(await editDuringSweep(config, overrides, job.dist));
    return;
  }
  if (job.kind === 'rebuild') {
    await runRebuild(config, { waitMs: 5000, overrides });
    report({ sweepMs: 0, wallMs: 0, cpuMs: 0, checked: 0, repaired: 0 });
    return;
  }
  const t = await timed(() => runRefresh(config, { waitMs: 5000, overrides }));
  const s = t.value.sweep!;
  report({
    sweepMs: s.ms,
    wallMs: t.wallMs,
    cpuMs: t.cpuMs,
    checked: s.checked,
    repaired: s.missing + s.stale + s.orphans,
  } satisfies Result);
}

/** follow on the compiled pipeline: start a sweep, commit an edit 1.5 s into it, time both. */
async function editDuringSweep(
  config: ReturnType<typeof benchConfig>,
  overrides: { dense: ZeroCostEmbedder },
  dist: string,
): Promise<Result> {
  const { openPipeline } = await compiled<typeof import('../runs/context.js')>('context', dist);
  const { startFollow } = await compiled<typeof import('../runs/follow.js')>('follow', dist);
  const ctx = await openPipeline(config, overrides);
  const follow = await startFollow(ctx, { waitForLeaseMs: 5000 });
  const crm = openCrm(config.dbPath);
  try {
    // Let follow's first drain (an empty changelog) finish.
    await new Promise((r) => setTimeout(r, 1000));
    let sweepEnd = 0;
    let seenAt = 0;
    let writeAt = 0;
    ctx.events.on('sweep:done', () => (sweepEnd = performance.now()));
    ctx.events.on('batch:written', () => {
      if (writeAt && !seenAt) seenAt = performance.now();
    });
    const stalls = monitorEventLoopDelay({ resolution: 10 });
    stalls.enable();
    const start = performance.now();
    follow.kick('sweep');
    await new Promise((r) => setTimeout(r, 1500));
    writeAt = performance.now();
    crm.prepare("UPDATE notes SET body = body || ' (edited)' WHERE id = (SELECT min(id) FROM notes)").run();
    await waitUntil(() => sweepEnd > 0 && seenAt > 0, 120_000);
    stalls.disable();
    return {
      sweepMs: sweepEnd - start,
      editMs: seenAt - writeAt,
      stallMs: stalls.max / 1e6,
      wallMs: 0,
      cpuMs: 0,
      checked: 0,
      repaired: 0,
    };
  } finally {
    crm.close();
    await follow.stop();
    await ctx.close();
  }
}

async function waitUntil(ok: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!ok() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
}

async function main(): Promise<void> {
  requireBuild();
  for (const d of dists)
    if (!isBuild(d)) throw new Error(`--dists: ${d}/runs/runs.js is missing; build it first.`);
  const script = fileURLToPath(import.meta.url);
  const dir = tempDir('sweep');
  const db = makeDemo(dir, records);
  await inChild<Job, Result>(script, { kind: 'rebuild', db, dist: dists[0]! });
  await inChild<Job, Result>(script, { kind: 'sweep', db, dist: dists[0]! });
  const all = new Map<string, Result[]>(dists.map((w) => [w, []]));
  for (let r = 0; r < repeats; r++) {
    const order = r % 2 === 0 ? dists : [...dists].reverse();
    for (const w of order)
      all.get(w)!.push(await inChild<Job, Result>(script, { kind: 'sweep', db, dist: w }));
  }
  const base = median(all.get(dists[0]!)!.map((x) => x.sweepMs));
  printTable(
    `Sweep of a ${records}-record demo CRM with nothing to repair (embedded store), median of ${repeats} rounds`,
    [
      'build',
      'records checked',
      'repaired',
      'sweep s',
      'CPU s (whole refresh)',
      'each round (s)',
      'vs first',
    ],
    dists.map((w) => {
      const rs = all.get(w)!;
      const ms = median(rs.map((x) => x.sweepMs));
      return [
        w,
        rs[0]!.checked,
        String(Math.max(...rs.map((x) => x.repaired))),
        ms / 1000,
        median(rs.map((x) => x.cpuMs)) / 1000,
        rs.map((x) => (x.sweepMs / 1000).toFixed(2)).join(' / '),
        ms / base,
      ];
    }),
  );
  const edits = new Map<string, Result[]>(dists.map((w) => [w, []]));
  for (let r = 0; r < Math.min(repeats, 3); r++) {
    for (const w of dists)
      edits.get(w)!.push(await inChild<Job, Result>(script, { kind: 'follow-edit', db, dist: w }));
  }
  printTable(
    'follow: an edit committed 1.5 s into a sweep (median of the rounds)',
    ['build', 'sweep s', 'edit indexed after (ms)', 'each round (ms)', 'longest event-loop stall (ms)'],
    dists.map((w) => {
      const rs = edits.get(w)!;
      return [
        w,
        median(rs.map((x) => x.sweepMs)) / 1000,
        median(rs.map((x) => x.editMs!)),
        rs.map((x) => Math.round(x.editMs!)).join(' / '),
        median(rs.map((x) => x.stallMs!)),
      ];
    }),
  );
  fs.rmSync(dir, { recursive: true, force: true });
}

const job = childJob<Job>();
if (job) await runJob(job);
else await main();
