/**
 * Retrieval quality on the demo CRM's planted facts: recall@10 and MRR per
 * search mode, measured through the real pipeline and query engine.
 *
 *   npx tsx bench/retrieval.ts [--records 10000] [--seed 42] [--keep <dir>]
 *
 * Builds a demo CRM (crm/demo), indexes it with `rebuild` on embedded defaults
 * (embedded store, local GloVe-SIF embedder, BM25), then runs every planted
 * fact's query in each mode with limit 10. Numbers are reported on the EVAL
 * split only (and per query style). The dense leg's weight in a weighted RRF
 * is chosen here on the TUNE split alone (best MRR, then recall, then the
 * weight closest to 1) and then reported on the eval split beside the
 * engine's configured default; the eval split never chooses anything.
 * `--keep <dir>` keeps (or reuses) the CRM and index in that directory.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../config/index.js';
import { setLogLevel } from '../config/log.js';
import { createDemoDatabase } from '../crm/demo/create.js';
import { readFacts, type PlantedFact } from '../crm/demo/facts.js';
import { runRebuild } from '../runs/runs.js';
import type { SearchOptions } from '../search/engine.js';
import { defaultDenseWeight, openSearchEngine } from '../search/open.js';

const argOf = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const RECORDS = Number(argOf('records') ?? 20_000);
const SEED = Number(argOf('seed') ?? 42);
const KEEP = argOf('keep');
const LIMIT = 10;

// 'error': the demo's 1-2 MB bodies warn that only their first chunks are indexed, which is by design.
setLogLevel('error');

const dir = KEEP ? path.resolve(KEEP) : fs.mkdtempSync(path.join(os.tmpdir(), 'crm-index-bench-retrieval-'));
fs.mkdirSync(dir, { recursive: true });
const dbPath = path.join(dir, `crm-${RECORDS}-${SEED}.db`);
const config = loadConfig({
  env: { CRM_DB_PATH: dbPath, CRM_INDEX_PATH: `${dbPath}.index`, LOG_LEVEL: 'error' },
  envFile: false,
});
if (config.embedderKind !== 'local' || config.storeKind !== 'embedded') {
  throw new Error('bench/retrieval.ts measures embedded defaults; unset SPARK_CONTROL_URL and QDRANT_URL.');
}

let buildNote = 'reused';
if (!fs.existsSync(dbPath) || !fs.existsSync(config.resolvedIndexPath)) {
  const t0 = performance.now();
  createDemoDatabase({ dbPath, records: RECORDS, seed: SEED, force: true });
  const t1 = performance.now();
  const r = await runRebuild(config, { waitMs: 5000 });
  const t2 = performance.now();
  buildNote = `demo CRM ${((t1 - t0) / 1000).toFixed(1)} s, rebuild ${((t2 - t1) / 1000).toFixed(1)} s (${JSON.stringify(r).slice(0, 160)})`;
}
const facts = readFacts(`${dbPath}.facts.json`).retrieval;

interface Variant {
  name: string;
  opts: SearchOptions;
}
/** Candidate dense-leg weights for the weighted RRF (sparse leg = 1). */
const WEIGHTS = [0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1];
// Explicit weights throughout, so the table does not depend on the engine's default.
const VARIANTS: Variant[] = [
  { name: 'dense', opts: { mode: 'dense' } },
  { name: 'sparse', opts: { mode: 'sparse' } },
  { name: 'hybrid rrf', opts: { mode: 'hybrid', fusion: 'rrf', denseWeight: 1 } },
  { name: 'hybrid dbsf', opts: { mode: 'hybrid', fusion: 'dbsf' } },
];

/** Per fact: the share of its answers in the top 10, and 1/rank of the first answer (0 if none). */
interface Score {
  fact: PlantedFact;
  recall: number;
  rr: number;
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const isEval = (f: PlantedFact) => f.split === 'eval';
const isTune = (f: PlantedFact) => f.split === 'tune';

const opened = await openSearchEngine(config);
const scores = new Map<string, Score[]>();
let chosen = 1;
const tuning: string[] = [];
try {
  const run = async (opts: SearchOptions, which: PlantedFact[]): Promise<Score[]> => {
    const out: Score[] = [];
    for (const f of which) {
      const hits = await opened.engine.search(f.query, { ...opts, limit: LIMIT });
      const keys = hits.map((h) => h.key);
      const answers = new Set(f.answers);
      const found = keys.filter((k) => answers.has(k)).length;
      const first = keys.findIndex((k) => answers.has(k));
      out.push({ fact: f, recall: found / answers.size, rr: first < 0 ? 0 : 1 / (first + 1) });
    }
    return out;
  };
  for (const v of VARIANTS) scores.set(v.name, await run(v.opts, facts));

  // Tuning sees only the tune split.
  const tune = facts.filter(isTune);
  let best = { mrr: -1, recall: -1, w: 1 };
  for (const w of WEIGHTS) {
    const s = await run({ mode: 'hybrid', fusion: 'rrf', denseWeight: w }, tune);
    const mrr = mean(s.map((x) => x.rr));
    const recall = mean(s.map((x) => x.recall));
    tuning.push(`${w}: ${recall.toFixed(3)} / ${mrr.toFixed(3)}`);
    const better =
      mrr > best.mrr + 1e-9 ||
      (Math.abs(mrr - best.mrr) <= 1e-9 &&
        (recall > best.recall + 1e-9 ||
          (Math.abs(recall - best.recall) <= 1e-9 && Math.abs(w - 1) < Math.abs(best.w - 1))));
    if (better) best = { mrr, recall, w };
  }
  chosen = best.w;
  scores.set(
    `hybrid rrf, dense weight ${chosen} (tuned on tune split)`,
    await run({ mode: 'hybrid', fusion: 'rrf', denseWeight: chosen }, facts),
  );
  // The engine's configured default (search/open.ts defaultDenseWeight), as `crm-index mcp` searches.
  scores.set(
    `hybrid (engine default, dense weight ${defaultDenseWeight(config)})`,
    await run({ mode: 'hybrid' }, facts),
  );
} finally {
  await opened.close();
  if (!KEEP) fs.rmSync(dir, { recursive: true, force: true });
}

function cell(s: Score[], pick: (f: PlantedFact) => boolean): string {
  const sel = s.filter((x) => pick(x.fact));
  return `${mean(sel.map((x) => x.recall)).toFixed(3)} / ${mean(sel.map((x) => x.rr)).toFixed(3)}`;
}
const count = (pick: (f: PlantedFact) => boolean) => facts.filter(pick).length;
const cols: [string, (f: PlantedFact) => boolean][] = [
  [`eval, all (${count(isEval)})`, isEval],
  [
    `eval, lexical (${count((f) => isEval(f) && f.style === 'lexical')})`,
    (f) => isEval(f) && f.style === 'lexical',
  ],
  [
    `eval, paraphrase (${count((f) => isEval(f) && f.style === 'paraphrase')})`,
    (f) => isEval(f) && f.style === 'paraphrase',
  ],
  [`tune, all (${count(isTune)})`, isTune],
];

console.log(
  `\nRetrieval quality: ${RECORDS.toLocaleString()} demo records (seed ${SEED}), ${facts.length} planted facts, limit ${LIMIT}; ${buildNote}`,
);
console.log('Each cell: recall@10 / MRR@10.\n');
console.log(`| mode | ${cols.map((c) => c[0]).join(' | ')} |`);
console.log(`| --- | ${cols.map(() => '---').join(' | ')} |`);
for (const [name, s] of scores) console.log(`| ${name} | ${cols.map((c) => cell(s, c[1])).join(' | ')} |`);
console.log(
  `\nTune split, hybrid rrf by dense weight (recall@10 / MRR): ${tuning.join('; ')}; chosen ${chosen}.`,
);
