/**
 * Incremental cost versus size: `refresh` after 10 changed records at 10k and
 * 100k records. Change capture means the work depends on what changed, not on
 * how big the CRM is. Target: the 100k time is at most 1.2x the 10k time,
 * sweep excluded. The sweep (which does scale with size) is timed separately,
 * on the main thread alone; bench/sweep.ts compares it with the sweep's workers.
 *
 *   npx tsx bench/incremental.ts [--sizes 10000,100000] [--changes 10] [--repeats 5]
 */
import fs from 'node:fs';
import { openCrm } from '../crm/db.js';
import { runRebuild, runRefresh } from '../runs/runs.js';
import {
  arg,
  benchConfig,
  makeDemo,
  percentile,
  printTable,
  tempDir,
  ZeroCostEmbedder,
} from './lib/pipeline.js';

const sizes = arg('sizes', '10000,100000').split(',').map(Number);
const changes = Number(arg('changes', '10'));
const repeats = Number(arg('repeats', '5'));

async function main(): Promise<void> {
  const rows: (string | number)[][] = [];
  let base = NaN;
  for (const size of sizes) {
    const dir = tempDir(`inc${size}`);
    const dbPath = makeDemo(dir, size);
    const config = benchConfig(dbPath);
    const dense = new ZeroCostEmbedder(100);
    await runRebuild(config, { waitMs: 5000, overrides: { dense } });
    const db = openCrm(dbPath);
    const ids = db.prepare('SELECT id FROM notes ORDER BY id').pluck().all() as number[];
    const upd = db.prepare("UPDATE notes SET body = body || ' (edited)' WHERE id = ?");
    const times: number[] = [];
    let counts = '';
    for (let r = 0; r < repeats; r++) {
      db.transaction(() => {
        for (let i = 0; i < changes; i++) upd.run(ids[((r * changes + i) * 7) % ids.length]!);
      })();
      const t = performance.now();
      const res = await runRefresh(config, { waitMs: 5000, sweep: false, overrides: { dense } });
      times.push(performance.now() - t);
      counts = `${res.counts.updated} updated, ${res.counts.unchanged} unchanged`;
    }
    times.sort((a, b) => a - b);
    const t = performance.now();
    // On the main thread: in this process (tsx) a sweep worker would first compile the sources.
    const sw = await runRefresh(benchConfig(dbPath), {
      waitMs: 5000,
      overrides: { dense },
    });
    const sweepMs = performance.now() - t;
    db.close();
    const median = percentile(times, 50);
    if (Number.isNaN(base)) base = median;
    rows.push([size, changes, counts, median, median / base, sweepMs / 1000, sw.sweep?.checked ?? 0]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  printTable(
    `refresh after ${changes} changed records (zero-cost embedder, embedded store; median of ${repeats}; whole command incl. opening)`,
    [
      'records',
      'changed',
      'last run',
      'refresh ms (no sweep)',
      `ratio to ${sizes[0]}`,
      'sweep s (main thread)',
      'sweep checked',
    ],
    rows,
  );
}

await main();
