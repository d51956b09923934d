/**
 * How fast the demo generator fills a CRM: rows per second and file size per
 * size. Target: 1,000,000 records well under a minute. Wall time suffers on a
 * shared machine, so CPU seconds are printed beside it.
 * Usage: npx tsx bench/demo-data.ts [records ...]   (default: 10000 100000 1000000)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { REFERENCE_SCHEMA_SQL } from '../crm/schema.js';
import { generateDemo } from '../crm/demo/generate.js';

const sizes = process.argv.slice(2).map(Number);
if (sizes.length === 0) sizes.push(10_000, 100_000, 1_000_000);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-demo-bench-'));
const rows: Record<string, string | number>[] = [];
try {
  for (const n of sizes) {
    const file = path.join(dir, `crm-${n}.db`);
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.exec(REFERENCE_SCHEMA_SQL);
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const facts = generateDemo(db, { records: n, seed: 42 });
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    rows.push({
      records: n,
      seconds: +(ms / 1000).toFixed(2),
      'cpu s': +((cpu.user + cpu.system) / 1e6).toFixed(2),
      'rows/s': Math.round(n / (ms / 1000)),
      links: facts.counts.interaction_people ?? 0,
      facts: facts.retrieval.length,
      'db MB': +(fs.statSync(file).size / 1e6).toFixed(1),
    });
    fs.rmSync(file, { force: true });
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
console.table(rows);
