/**
 * The safety sweep at 100k records (issue 4: "it must finish in seconds at
 * 100k records"): a refresh whose changelog is empty, so what is timed is the
 * sweep's comparison of every source record with the store (read the store's
 * fingerprints, render and fingerprint every record, nothing to repair).
 *
 * Compared: the sweep on the main thread alone (CRM_INDEX_WORKERS=0) and with
 * `auto`, where the sweep renders pages on worker threads too (on 2 cores, a
 * worker of its own for the sweep; pipeline/sweep.ts), alternating round by
 * round on the same files; each run is a child process (bench/lib/child.ts).
 * The first sweep after the rebuild is not timed (it settles entity ids).
 *
 *   npm run build && npx tsx bench/sweep.ts [--records 100000] [--repeats 5] [--workers 0,auto]
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { childJob, compiledRuns, inChild, report, requireBuild } from './lib/child.js';
import { arg, benchConfig, makeDemo, printTable, tempDir, ZeroCostEmbedder } from './lib/pipeline.js';
import { median, timed } from './lib/timing.js';

const records = Number(arg('records', '100000'));
const repeats = Number(arg('repeats', '5'));
const workerSettings = arg('workers', '0,auto').split(',');

interface Job {
  kind: 'rebuild' | 'sweep';
  db: string;
  workers: string;
}

interface Result {
  sweepMs: number;
  wallMs: number;
  cpuMs: number;
  checked: number;
  repaired: number;
}

async function runJob(job: Job): Promise<void> {
  const { runRebuild, runRefresh } = await compiledRuns();
  const config = benchConfig(job.db, { CRM_INDEX_WORKERS: job.workers });
  const overrides = { dense: new ZeroCostEmbedder(100) };
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

async function main(): Promise<void> {
  requireBuild();
  const script = fileURLToPath(import.meta.url);
  const dir = tempDir('sweep');
  const db = makeDemo(dir, records);
  await inChild<Job, Result>(script, { kind: 'rebuild', db, workers: '0' });
  await inChild<Job, Result>(script, { kind: 'sweep', db, workers: '0' });
  const all = new Map<string, Result[]>(workerSettings.map((w) => [w, []]));
  for (let r = 0; r < repeats; r++) {
    const order = r % 2 === 0 ? workerSettings : [...workerSettings].reverse();
    for (const w of order)
      all.get(w)!.push(await inChild<Job, Result>(script, { kind: 'sweep', db, workers: w }));
  }
  const base = median(all.get(workerSettings[0]!)!.map((x) => x.sweepMs));
  printTable(
    `Sweep of a ${records}-record demo CRM with nothing to repair (embedded store), median of ${repeats} rounds`,
    [
      'CRM_INDEX_WORKERS',
      'records checked',
      'repaired',
      'sweep s',
      'CPU s (whole refresh)',
      'each round (s)',
      'vs first',
    ],
    workerSettings.map((w) => {
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
  fs.rmSync(dir, { recursive: true, force: true });
}

const job = childJob<Job>();
if (job) await runJob(job);
else await main();
