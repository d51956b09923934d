/**
 * Entity resolution benchmark: full resolve over demo CRMs of 100k and 1M
 * records (seconds, peak RSS), and incremental latency for one change.
 * Run: npx tsx bench/entities.ts [records...]   (default: 100000 1000000)
 * Each size runs in a child process so peak RSS is that size's own.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);

async function child(records: number): Promise<void> {
  const { openCrm } = await import('../crm/db.js');
  const { REFERENCE_SCHEMA_SQL } = await import('../crm/schema.js');
  const { generateDemo } = await import('../crm/demo/generate.js');
  const { DEFAULT_SOURCE_MAP } = await import('../crm/sourceMap.js');
  const { installCapture } = await import('../triggers/install.js');
  const { resolveFull, resolveIncremental } = await import('../entities/index.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-entities-'));
  const db = openCrm(path.join(dir, 'crm.db'), { create: true });
  db.exec(REFERENCE_SCHEMA_SQL);
  generateDemo(db, { records, seed: 1 });
  const people = db.prepare('SELECT count(*) FROM people').pluck().get() as number;
  const orgs = db.prepare('SELECT count(*) FROM organizations').pluck().get() as number;
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  const s = resolveFull(db);
  const fullS = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const again = resolveFull(db);
  const againS = (performance.now() - t1) / 1000;
  installCapture(db, DEFAULT_SOURCE_MAP);
  resolveIncremental(db); // first run resolves everything and places the cursor
  const lat: number[] = [];
  for (let i = 0; i < 50; i++) {
    const id = 1 + ((i * 7919) % people);
    db.prepare('UPDATE people SET email = ? WHERE id = ?').run(`bench${i}@acme.com`, id);
    const t = performance.now();
    resolveIncremental(db);
    lat.push(performance.now() - t);
  }
  lat.sort((a, b) => a - b);
  const out = {
    records,
    resolved: orgs + people,
    entities: s.organizations.entities + s.people.entities,
    merged: s.organizations.merged + s.people.merged,
    fullS,
    rerunS: againS,
    rerunWrites: again.writes,
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    rssBeforeMb: Math.round(rssBefore / 1048576),
    incP50Ms: lat[Math.floor(lat.length / 2)]!,
    incP95Ms: lat[Math.floor(lat.length * 0.95)]!,
  };
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
  process.stdout.write(JSON.stringify(out) + '\n');
}

if (process.argv[2] === '--child') {
  await child(Number(process.argv[3]));
} else {
  const sizes = process.argv.slice(2).map(Number);
  const rows: Record<string, unknown>[] = [];
  for (const n of sizes.length > 0 ? sizes : [100_000, 1_000_000]) {
    const r = spawnSync(process.execPath, [...process.execArgv, here, '--child', String(n)], {
      encoding: 'utf8',
    });
    if (r.status !== 0) {
      process.stderr.write(r.stderr);
      process.exit(1);
    }
    rows.push(JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>);
  }
  console.table(
    rows.map((r) => ({
      'demo records': r.records,
      'people+orgs': r.resolved,
      entities: r.entities,
      merged: r.merged,
      'full (s)': Number(r.fullS).toFixed(2),
      'rerun (s)': Number(r.rerunS).toFixed(2),
      'rerun writes': r.rerunWrites,
      'peak RSS (MB)': r.peakRssMb,
      'incr p50 (ms)': Number(r.incP50Ms).toFixed(2),
      'incr p95 (ms)': Number(r.incP95Ms).toFixed(2),
    })),
  );
}
