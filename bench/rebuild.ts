/**
 * Rebuild at scale: records/s and peak RSS of `crm-index rebuild`, run as the
 * product runs it: the compiled CLI (`dist/`, so `npm run build` first) in its
 * own child process, launched with the same Node flags as the image's
 * `crm-index` wrapper and the StartOS actions (NODE_HEAP_FLAG). The peak is
 * the child's own (the `peakRssMb` of `rebuild --json`), nothing of this
 * script's. Target: peak RSS at most 300 MB at 100k records.
 *
 * Embedders:
 * - `http`: an OpenAI-compatible embeddings server in this process that
 *   answers with zero-cost vectors (dim 100), so the child runs the production
 *   path (the HTTP client) and only the pipeline's own work is measured;
 * - `local`: the GloVe-SIF embedder inside the child (the demo default).
 * A last row repeats `http` without the heap flag (Node's default heap
 * sizing). `--dists` runs each row for each compiled tree given (`dist`, or
 * another commit's, built the same way), to compare builds in one run.
 *
 *   npm run build && npx tsx bench/rebuild.ts [--records 100000] [--embedders http,local] [--resolve false] [--dists dist]
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { startEmbedServer } from '../encoders/embedServer.js';
import { NODE_HEAP_FLAG } from '../startos/env.js';
import { arg, makeDemo, printTable, tempDir, ZeroCostEmbedder } from './lib/pipeline.js';

const records = Number(arg('records', '100000'));
const embedders = arg('embedders', 'http,local').split(',');
const resolve = arg('resolve', 'true') !== 'false';
const dists = arg('dists', 'dist').split(',');
const cliOf = (dist: string): string => path.resolve(`${dist}/cli/main.js`);

interface RebuildJson {
  records: number;
  counts: { chunks: number };
  ms: number;
  peakRssMb: number;
}

async function main(): Promise<void> {
  for (const d of dists)
    if (!fs.existsSync(cliOf(d))) throw new Error(`${cliOf(d)} is missing: run \`npm run build\` first.`);
  const dir = tempDir('rebuild');
  const dbPath = makeDemo(dir, records);
  // Read the CRM once so the first run does not pay for a cold page cache alone.
  fs.readFileSync(dbPath);
  const server = await startEmbedServer({ embedder: new ZeroCostEmbedder(100), host: '127.0.0.1', port: 0 });
  const kinds: { label: string; embedder: string; flags: string[] }[] = [
    ...embedders.map((e) => ({
      label: `${e === 'http' ? 'embeddings server (zero-cost, HTTP)' : 'local GloVe-SIF'}, ${NODE_HEAP_FLAG}`,
      embedder: e,
      flags: [NODE_HEAP_FLAG],
    })),
    { label: 'embeddings server (zero-cost, HTTP), no heap flag', embedder: 'http', flags: [] },
  ];
  const runs = kinds.flatMap((k) =>
    dists.map((dist) => ({ ...k, dist, label: dists.length > 1 ? `${dist}: ${k.label}` : k.label })),
  );
  const rows: (string | number)[][] = [];
  try {
    for (const run of runs) {
      fs.rmSync(path.join(dir, 'index.db'), { force: true });
      const env: NodeJS.ProcessEnv = { ...process.env, CRM_DB_PATH: dbPath, LOG_LEVEL: 'silent' };
      delete env.NODE_OPTIONS;
      if (run.embedder === 'http') {
        Object.assign(env, {
          SPARK_CONTROL_URL: server.url,
          EMBEDDING_MODEL: 'zero-cost-bench',
          EMBEDDING_DIM: '100',
        });
      } else delete env.SPARK_CONTROL_URL;
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [...run.flags, cliOf(run.dist), 'rebuild', '--json', ...(resolve ? [] : ['--no-resolve'])],
        { env, maxBuffer: 1 << 24 },
      );
      const r = JSON.parse(stdout.trim().split('\n').pop()!) as RebuildJson;
      rows.push([
        run.label,
        r.records,
        r.counts.chunks,
        r.ms / 1000,
        (r.records / r.ms) * 1000,
        (r.counts.chunks / r.ms) * 1000,
        r.peakRssMb,
        r.peakRssMb / 300,
      ]);
    }
  } finally {
    await server.close();
  }
  printTable(
    `crm-index rebuild of a ${records}-record demo CRM (compiled CLI, embedded store; entity resolution ${resolve ? 'included' : 'skipped'}), one child process each`,
    ['run', 'records', 'chunks', 'seconds', 'records/s', 'chunks/s', 'peak RSS MB', 'RSS / 300 MB target'],
    rows,
  );
  fs.rmSync(dir, { recursive: true, force: true });
}

await main();
