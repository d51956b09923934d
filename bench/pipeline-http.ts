/**
 * The pipeline in front of a real embeddings server: a long-notes rebuild
 * (256-token chunks) through the HTTP embedder, against the test embeddings
 * server in a child process of its own that waits `--delays` ms before each
 * reply (a GPU's time per request), compared with the zero-cost embedder in
 * the same run. It shows what the pipeline keeps of its own speed once a
 * real client (request bodies, replies, the event loop's turns) and a
 * server's latency are in the way, and whether preparing the next round
 * overlaps the embedding of this one.
 *
 * One child process per run, as `crm-index rebuild` runs (bench/lib/child.ts),
 * with the prepare step on the main thread (`CRM_INDEX_WORKERS=0`, what
 * `auto` gives on 1-2 cores; `--workers N` sets another). The embedder uses the product's defaults
 * (batches of 64, 4 requests in flight). `--dists` compares builds: each is a
 * compiled tree (`dist`, or another commit's, built the same way); only its
 * pipeline is swapped: the config and the zero-cost embedder come from this
 * tree.
 *
 *   npm run build && npx tsx bench/pipeline-http.ts [--long 3000] [--delays 0,20,60] [--repeats 3] [--dists dist] [--workers 0]
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startEmbeddingsServer } from '../test/helpers/embeddingsServer.js';
import {
  childJob,
  compiledRuns,
  inChild,
  isBuild,
  report,
  requireBuild,
  serveInChild,
  serveUntilTerm,
} from './lib/child.js';
import { arg, benchConfig, makeLongNotes, printTable, tempDir, ZeroCostEmbedder } from './lib/pipeline.js';
import { median, timed } from './lib/timing.js';

const DIM = 100;

interface Job {
  db: string;
  dist: string;
  /** The embeddings server's URL, or '' for the zero-cost embedder. */
  url: string;
  workers: string;
}

interface Timing {
  chunks: number;
  wallMs: number;
  cpuMs: number;
}

async function runJob(job: Job): Promise<void> {
  const { runRebuild } = await compiledRuns(job.dist);
  const env: Record<string, string> = { CRM_INDEX_WORKERS: job.workers };
  if (job.url) Object.assign(env, { SPARK_CONTROL_URL: job.url, EMBEDDING_DIM: String(DIM) });
  const config = benchConfig(job.db, env);
  const overrides = job.url ? {} : { dense: new ZeroCostEmbedder(DIM) };
  const t = await timed(() => runRebuild(config, { waitMs: 5000, resolve: false, overrides }));
  report({ chunks: t.value.counts.chunks, wallMs: t.wallMs, cpuMs: t.cpuMs } satisfies Timing);
}

/** The server in its own process, so its work does not share the measured event loop. */
function startServer(delayMs: number): Promise<{ url: string; stop(): void }> {
  return serveInChild(
    fileURLToPath(import.meta.url),
    ['--serve', String(delayMs)],
    `the embeddings server (delay ${delayMs} ms)`,
  );
}

async function main(): Promise<void> {
  const longNotes = Number(arg('long', '3000'));
  const delays = [...new Set(arg('delays', '0,20,60').split(',').map(Number))];
  if (delays.some((d) => !Number.isFinite(d) || d < 0))
    throw new Error(`--delays: expected milliseconds like 0,20,60, got "${arg('delays', '')}".`);
  const repeats = Number(arg('repeats', '3'));
  const dists = arg('dists', 'dist').split(',');
  const workers = arg('workers', '0');
  requireBuild();
  for (const d of dists) {
    if (!isBuild(d)) throw new Error(`--dists: ${d}/runs/runs.js is missing; build it first.`);
  }
  const dir = tempDir('http');
  const db = makeLongNotes(dir, longNotes);
  const servers = new Map<number, { url: string; stop(): void }>();
  const embedders = ['zero-cost', ...delays.map((d) => `HTTP, ${d} ms a request`)];
  const urlOf = (e: number): string => (e === 0 ? '' : servers.get(delays[e - 1]!)!.url);
  const results = new Map<string, Timing[]>();
  try {
    for (const d of delays) servers.set(d, await startServer(d));
    // Every round runs every combination, in an order that flips from round to round.
    for (let r = 0; r < repeats; r++) {
      const combos = dists.flatMap((dist) => embedders.map((_, e) => ({ dist, e })));
      if (r % 2 === 1) combos.reverse();
      for (const { dist, e } of combos) {
        const t = await inChild<Job, Timing>(fileURLToPath(import.meta.url), {
          db,
          dist,
          url: urlOf(e),
          workers,
        });
        const k = `${dist}\u0000${e}`;
        results.set(k, [...(results.get(k) ?? []), t]);
      }
    }
  } finally {
    for (const s of servers.values()) s.stop();
  }
  const rate = (t: Timing): number => (t.chunks / t.wallMs) * 1000;
  const med = (dist: string, e: number): number => median(results.get(`${dist}\u0000${e}`)!.map(rate));
  printTable(
    `Long-notes rebuild (${longNotes} notes, embedded store, CRM_INDEX_WORKERS=${workers}), median of ${repeats} rounds`,
    [
      'build',
      'embedder',
      'chunks',
      'chunks/s (wall)',
      'each round',
      'CPU s (median)',
      'vs zero-cost',
      `vs ${dists[0]}`,
    ],
    dists.flatMap((dist) =>
      embedders.map((name, e) => {
        const ts = results.get(`${dist}\u0000${e}`)!;
        return [
          dist,
          name,
          ts[0]!.chunks,
          med(dist, e),
          ts.map((t) => Math.round(rate(t))).join(' / '),
          median(ts.map((t) => t.cpuMs / 1000)),
          med(dist, e) / med(dist, 0),
          med(dist, e) / med(dists[0]!, e),
        ];
      }),
    ),
  );
  fs.rmSync(dir, { recursive: true, force: true });
}

const job = childJob<Job>();
if (process.argv.includes('--serve'))
  await serveUntilTerm(await startEmbeddingsServer({ dim: DIM, delayMs: Number(arg('serve', '0')) }));
else if (job) await runJob(job);
else await main();
