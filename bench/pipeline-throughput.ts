/**
 * Pipeline overhead throughput: chunks/s through the whole pipeline (render,
 * chunk, fingerprint, BM25, store write, ack) with a zero-cost embedder, so
 * only our own work is measured. Target: >= 10,000 chunks/s on 2 cores.
 *
 * Runs:
 * - the demo CRM: a full rebuild, then draining a backlog of updates. Most of
 *   its records (people, organizations, deals, short notes) are one small
 *   chunk, so this is close to records/s;
 * - long notes: a rebuild of meeting notes of ~1,500-5,000 words (the demo's
 *   own "long" bodies), i.e. chunks of the full 256-token budget, the unit the
 *   target's comparison (a GPU embedding 256-token chunks) is stated in.
 *
 * `--dists` compares builds (each a compiled tree: `dist`, or another
 * commit's built the same way), alternating, `--repeats` rounds on the same
 * files; the tables give medians and, for two builds, the per-round ratio.
 *
 * Every run is a child process of its own, started with the heap flag the
 * product's launchers pass (startos/env.ts), as `crm-index rebuild` and
 * `refresh` run: one run per process. The pipeline is the compiled one
 * (`dist/`, so `npm run build` first). A child's start-up is not timed: it
 * reports the wall and CPU time (all its threads) of the run alone.
 *
 *   npm run build && npx tsx bench/pipeline-throughput.ts [--records 20000] [--updates 20000] [--long 3000] [--dists dist] [--repeats 3]
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openCrm } from '../crm/db.js';
import { childJob, compiledRuns, inChild as runInChild, isBuild, report, requireBuild } from './lib/child.js';
import {
  arg,
  benchConfig,
  meanChunkTokens,
  makeDemo,
  makeLongNotes,
  printTable,
  tempDir,
  ZeroCostEmbedder,
} from './lib/pipeline.js';
import { median, timed } from './lib/timing.js';

const records = Number(arg('records', '20000'));
const updates = Number(arg('updates', '20000'));
const longNotes = Number(arg('long', '3000'));
const dists = arg('dists', 'dist').split(',');
const repeats = Number(arg('repeats', '3'));

/** One measured run, done by a child process. */
interface Job {
  kind: 'rebuild' | 'refresh';
  db: string;
  dist: string;
  resolve: boolean;
}

interface Timing {
  /** Records the run went through (a rebuild's scan; 0 for a refresh, whose count the parent knows). */
  records: number;
  chunks: number;
  wallMs: number;
  cpuMs: number;
}

/** The child's side: the run, then its timing as one JSON line. */
async function runJob(job: Job): Promise<void> {
  const { runRebuild, runRefresh } = await compiledRuns(job.dist);
  const config = benchConfig(job.db);
  const dense = new ZeroCostEmbedder(100);
  const overrides = { dense };
  const t =
    job.kind === 'rebuild'
      ? await timed(() => runRebuild(config, { waitMs: 5000, resolve: job.resolve, overrides }))
      : await timed(() => runRefresh(config, { waitMs: 5000, sweep: false, overrides }));
  const out: Timing = {
    records: 'records' in t.value ? t.value.records : 0,
    chunks: t.value.counts.chunks,
    wallMs: t.wallMs,
    cpuMs: t.cpuMs,
  };
  report(out);
}

function inChild(job: Job): Promise<Timing> {
  return runInChild<Job, Timing>(fileURLToPath(import.meta.url), job);
}

interface Measured {
  run: string;
  /** The CRM it ran on (its index's chunk size goes in the table). */
  db: string;
  setting: string;
  records: number;
  chunks: number;
  ms: number;
  cpuMs: number;
}

async function runAll(dbPath: string, longDb: string, dist: string): Promise<Measured[]> {
  const rb = await inChild({ kind: 'rebuild', db: dbPath, dist, resolve: true });

  // A backlog: many updated records waiting in the changelog (a new subject every round).
  const db = openCrm(dbPath);
  const ids = db.prepare('SELECT id FROM interactions ORDER BY id LIMIT ?').pluck().all(updates) as number[];
  const upd = db.prepare("UPDATE interactions SET subject = subject || ' (rev)' WHERE id = ?");
  db.transaction(() => ids.forEach((id) => upd.run(id)))();
  db.close();
  const rf = await inChild({ kind: 'refresh', db: dbPath, dist, resolve: false });

  // Long notes: a separate CRM, rebuilt (entity resolution skipped: these notes name no one).
  const lr = await inChild({ kind: 'rebuild', db: longDb, dist, resolve: false });
  const m = (run: string, db: string, records: number, t: Timing): Measured => ({
    run,
    db,
    setting: dist,
    records,
    chunks: t.chunks,
    ms: t.wallMs,
    cpuMs: t.cpuMs,
  });
  return [
    m('rebuild (full scan)', dbPath, rb.records, rb),
    m(`drain a backlog of ${ids.length} updates`, dbPath, ids.length, rf),
    m(`rebuild, ${longNotes} long notes (+200 demo records)`, longDb, lr.records, lr),
  ];
}

async function main(): Promise<void> {
  requireBuild();
  for (const d of dists)
    if (!isBuild(d)) throw new Error(`--dists: ${d}/runs/runs.js is missing; build it first.`);
  const dir = tempDir('tput');
  const dbPath = makeDemo(dir, records);
  const longDir = path.join(dir, 'long');
  fs.mkdirSync(longDir);
  const longDb = makeLongNotes(longDir, longNotes);
  const all: Measured[] = [];
  // Builds alternate in order from round to round, so drift on a shared machine hits both alike.
  for (let r = 0; r < repeats; r++) {
    const order = r % 2 === 0 ? dists : [...dists].reverse();
    for (const dist of order) all.push(...(await runAll(dbPath, longDb, dist)));
  }
  const label = (d: string): string => d;
  // Chunk sizes of what the last rounds left in each CRM's index (the drain rewrote the demo's records in place).
  const sizes = new Map(
    [dbPath, longDb].map((db) => [db, meanChunkTokens(benchConfig(db).resolvedIndexPath)]),
  );
  const runs = [...new Set(all.map((m) => m.run))];
  const rate = (m: Measured): number => (m.chunks / m.ms) * 1000;
  const rows = runs.flatMap((run) =>
    dists.map((w) => {
      const ms = all.filter((m) => m.run === run && m.setting === w);
      const wall = median(ms.map(rate));
      return [
        run,
        label(w),
        ms[0]!.records,
        ms[0]!.chunks,
        sizes.get(ms[0]!.db)!,
        wall,
        median(ms.map((m) => (m.chunks / m.cpuMs) * 1000)),
        ms.map((m) => Math.round(rate(m))).join(' / '),
        wall / 10_000,
      ];
    }),
  );
  printTable(
    `Pipeline throughput with a zero-cost embedder (${records}-record demo CRM, embedded store), median of ${repeats} rounds`,
    [
      'run',
      'build',
      'records',
      'chunks written',
      'est. tokens a chunk (index)',
      'chunks/s (wall)',
      'chunks/s (CPU)',
      'each round (wall)',
      'wall / 10k target',
    ],
    rows,
  );
  if (dists.length === 2) {
    const [base, other] = dists as [string, string];
    printTable(
      `${label(other)} against ${label(base)}: wall chunks/s ratio per round (same round, same files)`,
      ['run', 'median ratio', 'each round'],
      runs.map((run) => {
        const ratios = Array.from({ length: repeats }, (_, r) => {
          const pick = (w: string) => all.filter((m) => m.run === run && m.setting === w)[r]!;
          return rate(pick(other)) / rate(pick(base));
        });
        return [run, median(ratios), ratios.map((x) => x.toFixed(2)).join(' / ')];
      }),
    );
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

const job = childJob<Job>();
if (job) await runJob(job);
else await main();
