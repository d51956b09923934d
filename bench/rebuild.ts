/**
 * Rebuild at scale: records/s and peak RSS of `crm-index rebuild`, run as a
 * real child process (its own RSS, nothing of this script's). Target: peak
 * RSS at most 300 MB at 100k records.
 *
 *   npx tsx bench/rebuild.ts [--records 100000] [--embedders zero,local] [--resolve false]
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { arg, makeDemo, printTable, tempDir } from './lib/pipeline.js';

const records = Number(arg('records', '100000'));
const embedders = arg('embedders', 'zero,local').split(',');
const resolve = arg('resolve', 'true') !== 'false';

const CHILD = `
import { loadConfig } from '${path.resolve('config/index.ts')}';
import { runRebuild } from '${path.resolve('pipeline/runs.ts')}';
import { ZeroCostEmbedder } from '${path.resolve('bench/lib/pipeline.ts')}';
const config = loadConfig({ envFile: false });
const t = performance.now();
const r = await runRebuild(config, { waitMs: 5000, resolve: process.env.BENCH_RESOLVE !== 'false', overrides: process.env.BENCH_EMBEDDER === 'zero' ? { dense: new ZeroCostEmbedder(100) } : {} });
const ms = performance.now() - t;
console.log(JSON.stringify({ records: r.records, chunks: r.counts.chunks, ms, maxRssMb: process.resourceUsage().maxRSS / 1024 }));
`;

function main(): void {
  const dir = tempDir('rebuild');
  const dbPath = makeDemo(dir, records);
  const script = path.join(dir, 'child.mts');
  fs.writeFileSync(script, CHILD);
  const rows: (string | number)[][] = [];
  for (const e of embedders) {
    fs.rmSync(path.join(dir, 'index.db'), { force: true });
    const out = execFileSync(
      process.execPath,
      [
        ...(process.env.BENCH_NODE_FLAGS ? process.env.BENCH_NODE_FLAGS.split(' ') : []),
        '--import',
        'tsx',
        script,
      ],
      {
        env: {
          ...process.env,
          CRM_DB_PATH: dbPath,
          LOG_LEVEL: 'silent',
          BENCH_EMBEDDER: e,
          BENCH_RESOLVE: String(resolve),
        },
        encoding: 'utf8',
        maxBuffer: 1 << 24,
      },
    );
    const r = JSON.parse(out.trim().split('\n').pop()!) as {
      records: number;
      chunks: number;
      ms: number;
      maxRssMb: number;
    };
    rows.push([
      e === 'zero' ? 'zero-cost' : 'local GloVe-SIF',
      r.records,
      r.chunks,
      r.ms / 1000,
      (r.records / r.ms) * 1000,
      (r.chunks / r.ms) * 1000,
      r.maxRssMb,
      r.maxRssMb / 300,
    ]);
  }
  printTable(
    `crm-index rebuild of a ${records}-record demo CRM (embedded store; entity resolution ${resolve ? 'included' : 'skipped'}), one child process each`,
    [
      'embedder',
      'records',
      'chunks',
      'seconds',
      'records/s',
      'chunks/s',
      'peak RSS MB',
      'RSS / 300 MB target',
    ],
    rows,
  );
  fs.rmSync(dir, { recursive: true, force: true });
}

main();
