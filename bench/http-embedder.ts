/**
 * HTTP embeddings client throughput against the test server running in a
 * child process (so this measures client + protocol overhead, not a GPU).
 * Baseline: encoding_format float with one request in flight; each other row
 * is compared to it as a ratio. Run: npx tsx bench/http-embedder.ts
 */
import { fileURLToPath } from 'node:url';
import { setLogLevel } from '../config/index.js';
import { HttpEmbedder } from '../encoders/http.js';
import { startEmbeddingsServer } from '../test/helpers/embeddingsServer.js';
import { serveInChild, serveUntilTerm } from './lib/child.js';

setLogLevel('warn');
const DIM = 768;
const N = Number(process.env.BENCH_TEXTS ?? 4_000);
const vocab = 'customer order invoice meeting follow up contract renewal pricing support ticket'.split(' ');
const texts = Array.from({ length: N }, (_, i) =>
  Array.from({ length: 60 }, (_, w) => vocab[(i * 7 + w * 13) % vocab.length]).join(' '),
);

if (process.argv[2] === '--serve') await serveUntilTerm(await startEmbeddingsServer({ dim: DIM }));

/** The server in its own process, so its JSON work does not share this event loop. */
function startServerProcess(): Promise<{ url: string; stop(): void }> {
  return serveInChild(fileURLToPath(import.meta.url), ['--serve'], 'the embeddings server');
}

async function run(encodingFormat: 'float' | 'base64', concurrency: number): Promise<number> {
  const srv = await startServerProcess();
  const e = new HttpEmbedder({
    baseUrl: srv.url,
    model: 'bench',
    verifyTls: true,
    batchSize: 64,
    maxTokensPerRequest: 16_384,
    concurrency,
    timeoutMs: 60_000,
    maxRetries: 0,
    backoffBaseMs: 500,
    encodingFormat,
  });
  await e.init();
  await e.embed(texts.slice(0, 256)); // warm up connections and JIT
  const t0 = performance.now();
  await e.embed(texts);
  const secs = (performance.now() - t0) / 1000;
  await e.close();
  srv.stop();
  return N / secs;
}

const rows: { mode: string; rate: number }[] = [];
for (const [fmt, c] of [
  ['float', 1],
  ['base64', 1],
  ['float', 4],
  ['base64', 4],
] as const) {
  rows.push({ mode: `${fmt}, concurrency ${c}`, rate: await run(fmt, c) });
}
const base = rows[0]!.rate;
console.log(`HTTP embedder, ${N} texts of 60 words, dim ${DIM}, batch 64 (server in a child process)`);
console.log('| mode | texts/s | vs float c=1 |');
console.log('| --- | ---: | ---: |');
for (const r of rows) console.log(`| ${r.mode} | ${Math.round(r.rate)} | ${(r.rate / base).toFixed(2)}x |`);
