/**
 * Pipeline overhead throughput: chunks/s through the whole pipeline (render,
 * chunk, fingerprint, BM25, store write, ack) with a zero-cost embedder, so
 * only our own work is measured. Two shapes: a full rebuild, and draining a
 * backlog of changelog rows. Target: >= 10,000 chunks/s on 2 cores.
 *
 *   npx tsx bench/pipeline-throughput.ts [--records 20000] [--updates 20000]
 */
import { openCrm } from '../crm/db.js';
import { runRebuild, runRefresh } from '../pipeline/runs.js';
import { arg, benchConfig, makeDemo, printTable, tempDir, ZeroCostEmbedder } from './lib/pipeline.js';
import fs from 'node:fs';

const records = Number(arg('records', '20000'));
const updates = Number(arg('updates', '20000'));

async function main(): Promise<void> {
  const dir = tempDir('tput');
  const dbPath = makeDemo(dir, records);
  const config = benchConfig(dbPath);
  const dense = new ZeroCostEmbedder(100);

  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const rb = await runRebuild(config, { waitMs: 5000, overrides: { dense } });
  const rbMs = performance.now() - t0;
  const rbCpu = process.cpuUsage(cpu0);

  // A backlog: many updated records waiting in the changelog.
  const db = openCrm(dbPath);
  const ids = db.prepare('SELECT id FROM interactions ORDER BY id LIMIT ?').pluck().all(updates) as number[];
  const upd = db.prepare("UPDATE interactions SET subject = subject || ' (rev)' WHERE id = ?");
  db.transaction(() => ids.forEach((id) => upd.run(id)))();
  db.close();
  const cpu1 = process.cpuUsage();
  const t1 = performance.now();
  const rf = await runRefresh(config, { waitMs: 5000, sweep: false, overrides: { dense } });
  const rfMs = performance.now() - t1;
  const rfCpu = process.cpuUsage(cpu1);

  const row = (name: string, chunks: number, recs: number, ms: number, cpu: NodeJS.CpuUsage) => [
    name,
    recs,
    chunks,
    ms / 1000,
    (chunks / ms) * 1000,
    (chunks / ((cpu.user + cpu.system) / 1000)) * 1000,
    ((chunks / ms) * 1000) / 10_000,
  ];
  printTable(
    `Pipeline throughput with a zero-cost embedder (${records}-record demo CRM, embedded store)`,
    ['run', 'records', 'chunks written', 'seconds', 'chunks/s (wall)', 'chunks/s (CPU)', 'wall / 10k target'],
    [
      row('rebuild (full scan)', rb.counts.chunks, rb.records, rbMs, rbCpu),
      row(`drain a backlog of ${ids.length} updates`, rf.counts.chunks, ids.length, rfMs, rfCpu),
    ],
  );
  fs.rmSync(dir, { recursive: true, force: true });
}

await main();
