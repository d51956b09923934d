/**
 * The pipeline in front of a real embeddings server: a rebuild through the
 * HTTP embedder, against the test embeddings server in a child process of
 * its own that waits `--delays` ms before each reply (a GPU's time per
 * request; its vectors cost it next to nothing, so the delay is its time), compared with the zero-cost embedder in the same run. Two
 * corpora: long meeting notes (`--long`, 256-token chunks) and the demo CRM
 * (`--demo`, mostly one short chunk a record).
 *
 * For each HTTP run the server reports its window, from the first request's
 * arrival to the last reply, and the bench prints the server's ceiling
 * (EMBED_BATCH_SIZE x EMBED_CONCURRENCY / delay, in chunks/s) and the share
 * of it the pipeline reached over that window.
 *
 * The baseline, once a round for each delay and corpus: a plain client, this
 * tree's HttpEmbedder with the same settings and nothing else, its
 * EMBED_CONCURRENCY loops each awaiting embed() of EMBED_BATCH_SIZE texts
 * until the corpus's chunks are all sent. Its texts are the corpus's chunk
 * texts as the untimed zero-cost run stored them in the index file, all of
 * them, once each (its wall time is the loops' alone). Its share of the
 * ceiling is what a client doing no other work reaches against this server
 * on this machine; "vs plain client" is a pipeline run's share over the
 * plain client's share of the same round.
 *
 * One child process per run, as `crm-index rebuild` runs (bench/lib/child.ts).
 * The embedder uses the product's defaults (batches of 64, 4 requests in
 * flight). `--dists` compares builds: each is a compiled tree (`dist`, or
 * another commit's, built the same way); only its pipeline is swapped: the
 * config, the zero-cost embedder and the plain client come from this tree.
 *
 *   npm run build && npx tsx bench/pipeline-http.ts [--long 3000] [--demo 0] [--delays 0,20,60] [--repeats 3] [--dists dist]
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createHttpEmbedder } from '../encoders/http.js';
import { startEmbeddingsServer } from '../test/helpers/embeddingsServer.js';
import { childJob, compiledRuns, inChild, isBuild, report, requireBuild, serveInChild } from './lib/child.js';
import {
  arg,
  benchConfig,
  chunkTexts,
  makeDemo,
  makeLongNotes,
  printTable,
  tempDir,
  ZeroCostEmbedder,
} from './lib/pipeline.js';
import { median, timed } from './lib/timing.js';

const DIM = 100;
/** The product's defaults, which the ceiling is computed from. */
const BATCH = 64;
const IN_FLIGHT = 4;
/** The HTTP embedder's start-up probe: not part of the measured window. */
const PROBE_TEXT = 'dimension probe';

interface Job {
  db: string;
  dist: string;
  /** The embeddings server's URL, or '' for the zero-cost embedder. */
  url: string;
  /** The plain client instead of a rebuild: the JSON file of the texts it sends. */
  plain?: string;
}

interface Timing {
  chunks: number;
  wallMs: number;
  cpuMs: number;
  /** The server's window: first request to last reply (HTTP runs). */
  serverMs?: number;
  serverChunks?: number;
  serverInFlight?: number;
  serverRequests?: number;
}

interface ServerStats {
  requests: number;
  chunks: number;
  ms: number;
  /** Requests in flight at the server, on average over the window (the client's limit when it keeps up). */
  inFlight: number;
}

function jobConfig(job: Job): ReturnType<typeof benchConfig> {
  const env: Record<string, string> = {
    EMBED_BATCH_SIZE: String(BATCH),
    EMBED_CONCURRENCY: String(IN_FLIGHT),
    // Room for 64 full 256-token chunks (chars/4 estimates run above the model's count), so every
    // request can carry EMBED_BATCH_SIZE chunks and the ceiling below is the server's.
    EMBED_MAX_TOKENS_PER_REQUEST: String(64 * 1024),
  };
  if (job.url) Object.assign(env, { SPARK_CONTROL_URL: job.url, EMBEDDING_DIM: String(DIM) });
  return benchConfig(job.db, env);
}

async function runJob(job: Job): Promise<void> {
  if (job.plain) return runPlain(job, job.plain);
  const { runRebuild } = await compiledRuns(job.dist);
  const config = jobConfig(job);
  const overrides = job.url ? {} : { dense: new ZeroCostEmbedder(DIM) };
  const t = await timed(() => runRebuild(config, { waitMs: 5000, resolve: false, overrides }));
  report({ chunks: t.value.counts.chunks, wallMs: t.wallMs, cpuMs: t.cpuMs } satisfies Timing);
}

/**
 * The plain client: the HttpEmbedder the pipeline's config makes, its probe sent before the timed
 * part (the server leaves it out of its window), then IN_FLIGHT loops, each taking the next
 * BATCH texts and awaiting embed() of them, until every text has been sent once.
 */
async function runPlain(job: Job, textsFile: string): Promise<void> {
  const texts = JSON.parse(fs.readFileSync(textsFile, 'utf8')) as string[];
  const embedder = createHttpEmbedder(jobConfig(job));
  try {
    await embedder.init();
    let next = 0;
    const loop = async (): Promise<void> => {
      while (next < texts.length) {
        const batch = texts.slice(next, next + BATCH);
        next += batch.length;
        await embedder.embed(batch);
      }
    };
    const t = await timed(() => Promise.all(Array.from({ length: IN_FLIGHT }, loop)));
    report({ chunks: texts.length, wallMs: t.wallMs, cpuMs: t.cpuMs } satisfies Timing);
  } finally {
    await embedder.close();
  }
}

/**
 * The server in its own process, so its work does not share the measured event loop; a control
 * port beside it answers GET /stats (the window since the last POST /reset).
 */
async function startServer(
  delayMs: number,
): Promise<{ url: string; stats(): Promise<ServerStats>; reset(): Promise<void>; stop(): void }> {
  const s = await serveInChild(
    fileURLToPath(import.meta.url),
    ['--serve', String(delayMs)],
    `the embeddings server (delay ${delayMs} ms)`,
  );
  const [url, control] = s.url.split(' ') as [string, string];
  return {
    url,
    stop: s.stop,
    stats: async () => (await (await fetch(`${control}/stats`)).json()) as ServerStats,
    reset: async () => void (await fetch(`${control}/reset`, { method: 'POST' })),
  };
}

/** The child's side of --serve: the embeddings server, and its control port. */
async function serve(delayMs: number): Promise<never> {
  const srv = await startEmbeddingsServer({ dim: DIM, delayMs, cheapVectors: true });
  const inputsOf = (body: unknown): string[] => {
    const input = (body as { input?: string | string[] } | null)?.input ?? [];
    return typeof input === 'string' ? [input] : input;
  };
  const control = http.createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/reset') srv.requests.length = 0;
    const reqs = srv.requests.filter((r) => {
      const inputs = inputsOf(typeof r.body === 'object' ? r.body : null);
      return r.method === 'POST' && inputs.length > 0 && !(inputs.length === 1 && inputs[0] === PROBE_TEXT);
    });
    const first = Math.min(...reqs.map((r) => r.at));
    const last = Math.max(...reqs.map((r) => r.doneAt ?? Date.now()));
    const stats: ServerStats = {
      requests: reqs.length,
      chunks: reqs.reduce((a, r) => a + inputsOf(r.body).length, 0),
      ms: reqs.length > 0 ? last - first : 0,
      inFlight: reqs.reduce((a, r) => a + (r.doneAt ?? Date.now()) - r.at, 0) / Math.max(1, last - first),
    };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(stats));
  });
  await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
  process.stdout.write(`${srv.url} http://127.0.0.1:${(control.address() as AddressInfo).port}\n`);
  await once(process, 'SIGTERM');
  control.close();
  await srv.close();
  process.exit(0);
}

async function main(): Promise<void> {
  const longNotes = Number(arg('long', '3000'));
  const demo = Number(arg('demo', '0'));
  const delays = [...new Set(arg('delays', '0,20,60').split(',').map(Number))];
  if (delays.some((d) => !Number.isFinite(d) || d < 0))
    throw new Error(`--delays: expected milliseconds like 0,20,60, got "${arg('delays', '')}".`);
  const repeats = Number(arg('repeats', '3'));
  const dists = arg('dists', 'dist').split(',');
  requireBuild();
  for (const d of dists) {
    if (!isBuild(d)) throw new Error(`--dists: ${d}/runs/runs.js is missing; build it first.`);
  }
  const dir = tempDir('http');
  const script = fileURLToPath(import.meta.url);
  const corpora: { name: string; db: string; texts: string }[] = [];
  if (longNotes > 0) {
    fs.mkdirSync(`${dir}/long`);
    const db = makeLongNotes(`${dir}/long`, longNotes);
    corpora.push({ name: `long notes (${longNotes})`, db, texts: `${dir}/long/chunks.json` });
  }
  if (demo > 0) {
    fs.mkdirSync(`${dir}/demo`);
    const db = makeDemo(`${dir}/demo`, demo);
    corpora.push({ name: `demo CRM (${demo} records)`, db, texts: `${dir}/demo/chunks.json` });
  }
  const servers = new Map<number, Awaited<ReturnType<typeof startServer>>>();
  const embedders = ['zero-cost', ...delays.map((d) => `HTTP, ${d} ms a request`)];
  const results = new Map<string, Timing[]>();
  const key = (c: number, dist: string, e: number): string => `${c}\u0000${dist}\u0000${e}`;
  /** The plain client's runs, by corpus and embedder index (e >= 1: an HTTP delay). */
  const plain = new Map<string, Timing[]>();
  const plainKey = (c: number, e: number): string => `${c}\u0000${e}`;
  const serverRun = async (server: Awaited<ReturnType<typeof startServer>>, job: Job): Promise<Timing> => {
    await server.reset();
    const t = await inChild<Job, Timing>(script, job);
    const st = await server.stats();
    return {
      ...t,
      serverMs: st.ms,
      serverChunks: st.chunks,
      serverInFlight: st.inFlight,
      serverRequests: st.requests,
    };
  };
  try {
    for (const d of delays) servers.set(d, await startServer(d));
    // One untimed run per corpus first: the first open of a freshly written CRM (its WAL) and the
    // index file's creation would otherwise fall on whichever build runs first. Its index file
    // holds the corpus's chunk texts, which the plain client sends.
    for (const corpus of corpora) {
      const w = await inChild<Job, Timing>(script, { db: corpus.db, dist: dists[0]!, url: '' });
      const texts = chunkTexts(benchConfig(corpus.db).resolvedIndexPath);
      if (texts.length !== w.chunks)
        throw new Error(
          `${corpus.name}: the index file holds ${texts.length} chunks, the rebuild wrote ${w.chunks}.`,
        );
      fs.writeFileSync(corpus.texts, JSON.stringify(texts));
    }
    // Every round runs every combination, in an order that flips from round to round.
    for (let r = 0; r < repeats; r++) {
      const combos = corpora.flatMap((_, c) => [
        ...dists.flatMap((dist) => embedders.map((_, e) => ({ c, dist, e, plain: false }))),
        ...delays.map((_, i) => ({ c, dist: '', e: i + 1, plain: true })),
      ]);
      if (r % 2 === 1) combos.reverse();
      for (const { c, dist, e, plain: isPlain } of combos) {
        const corpus = corpora[c]!;
        const server = e === 0 ? null : servers.get(delays[e - 1]!)!;
        if (isPlain) {
          const t = await serverRun(server!, {
            db: corpus.db,
            dist: '',
            url: server!.url,
            plain: corpus.texts,
          });
          plain.set(plainKey(c, e), [...(plain.get(plainKey(c, e)) ?? []), t]);
          continue;
        }
        const job: Job = { db: corpus.db, dist, url: server?.url ?? '' };
        const t = server ? await serverRun(server, job) : await inChild<Job, Timing>(script, job);
        results.set(key(c, dist, e), [...(results.get(key(c, dist, e)) ?? []), t]);
      }
    }
  } finally {
    for (const s of servers.values()) s.stop();
  }
  const rate = (t: Timing): number => (t.chunks / t.wallMs) * 1000;
  const med = (c: number, dist: string, e: number): number => median(results.get(key(c, dist, e))!.map(rate));
  const ceiling = (e: number): number | null => {
    const d = e === 0 ? 0 : delays[e - 1]!;
    return d > 0 ? (BATCH * IN_FLIGHT * 1000) / d : null;
  };
  /** Each round's share of the server's ceiling (none for the zero-cost embedder or a 0 ms delay). */
  const sharesOf = (ts: Timing[], e: number): number[] => {
    const ceil = ceiling(e);
    if (ceil === null) return [];
    return ts.map((t) => ((t.serverChunks ?? 0) / Math.max(1, t.serverMs ?? 0)) * 1000).map((r) => r / ceil);
  };
  /** Each round's share over the plain client's share in the same round. */
  const vsPlain = (c: number, ts: Timing[], e: number): number[] => {
    const mine = sharesOf(ts, e);
    const theirs = sharesOf(plain.get(plainKey(c, e)) ?? [], e);
    return mine.length > 0 && theirs.length === mine.length ? mine.map((s, r) => s / theirs[r]!) : [];
  };
  const list = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(' / ') || '-';
  const serverCols = (ts: Timing[], e: number): (string | number)[] => {
    const sh = sharesOf(ts, e);
    return [
      ceiling(e) ?? '-',
      e === 0 ? '-' : median(ts.map((t) => (t.serverMs ?? 0) / 1000)),
      sh.length > 0 ? median(sh) : '-',
      list(sh),
      e === 0 ? '-' : median(ts.map((t) => t.serverInFlight ?? 0)),
      e === 0 ? '-' : median(ts.map((t) => (t.serverChunks ?? 0) / Math.max(1, t.serverRequests ?? 0))),
    ];
  };
  for (const [c, corpus] of corpora.entries()) {
    const pipelineRows = dists.flatMap((dist) =>
      embedders.map((name, e) => {
        const ts = results.get(key(c, dist, e))!;
        const vp = vsPlain(c, ts, e);
        return [
          dist,
          name,
          ts[0]!.chunks,
          med(c, dist, e),
          ts.map((t) => Math.round(rate(t))).join(' / '),
          median(ts.map((t) => t.cpuMs / 1000)),
          med(c, dist, e) / med(c, dist, 0),
          med(c, dist, e) / med(c, dists[0]!, e),
          ...serverCols(ts, e),
          vp.length > 0 ? median(vp) : '-',
          list(vp),
        ];
      }),
    );
    const plainRows = delays.map((d, i) => {
      const ts = plain.get(plainKey(c, i + 1))!;
      return [
        'this tree',
        `plain client, ${d} ms`,
        ts[0]!.chunks,
        median(ts.map(rate)),
        ts.map((t) => Math.round(rate(t))).join(' / '),
        median(ts.map((t) => t.cpuMs / 1000)),
        '-',
        '-',
        ...serverCols(ts, i + 1),
        '-',
        '-',
      ];
    });
    printTable(
      `Rebuild of the ${corpus.name}, embedded store, EMBED_BATCH_SIZE=${BATCH}, EMBED_CONCURRENCY=${IN_FLIGHT}, median of ${repeats} rounds`,
      [
        'build',
        'embedder',
        'chunks',
        'chunks/s (wall)',
        'each round',
        'CPU s (median)',
        'vs zero-cost',
        `vs ${dists[0]}`,
        'ceiling chunks/s',
        'server window s',
        'share of ceiling',
        'each round',
        'in flight (mean)',
        'chunks a request',
        'vs plain client',
        'each round',
      ],
      [...pipelineRows, ...plainRows],
    );
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

const job = childJob<Job>();
if (process.argv.includes('--serve')) await serve(Number(arg('serve', '0')));
else if (job) await runJob(job);
else await main();
