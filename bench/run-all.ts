/**
 * `npm run bench`: every benchmark in turn, each printing its own table.
 * These are not tests: nothing here fails on a slow machine. Pass names to run
 * a subset (`npm run bench -- freshness store`). Sizes are each script's
 * defaults; see docs/benchmarks.md for the commands behind the published figures.
 */
import { spawnSync } from 'node:child_process';

const ALL = [
  'trigger-overhead',
  'bm25',
  'local-embedder',
  'store',
  'freshness',
  'pipeline-throughput',
  'pipeline-http',
  'incremental',
  'sweep',
  'rebuild',
  'entities',
  'retrieval',
  'mcp',
  'peer-langchain',
  'crash-torture',
  'demo-data',
];

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const run = wanted.length ? ALL.filter((n) => wanted.includes(n)) : ALL;
let failed = 0;
for (const name of run) {
  console.log(`\n=== bench/${name}.ts`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', `bench/${name}.ts`], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.log(`bench/${name}.ts exited with ${r.status ?? r.signal}`);
  }
}
process.exitCode = failed ? 1 : 0;
