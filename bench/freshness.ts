/**
 * Freshness: time from a CRM commit (in another process) to the change being
 * written to the index and searchable, over single-row commits at a steady
 * rate and in bursts. Local GloVe embedder + embedded store (the defaults).
 * Target: p95 <= 100 ms.
 *
 *   npx tsx bench/freshness.ts [--records 2000] [--steady 1000] [--interval-ms 25] [--bursts 10] [--burst-size 100]
 */
import { fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { openPipeline } from '../runs/context.js';
import { startFollow } from '../runs/follow.js';
import { runRebuild } from '../runs/runs.js';
import { arg, benchConfig, makeDemo, percentile, printTable, tempDir } from './lib/pipeline.js';

const records = Number(arg('records', '2000'));
const steady = Number(arg('steady', '1000'));
const intervalMs = Number(arg('interval-ms', '25'));
const bursts = Number(arg('bursts', '10'));
const burstSize = Number(arg('burst-size', '100'));

const WRITER = `
const Database = require(process.env.BSQ);
const db = new Database(process.env.DB);
db.pragma('busy_timeout = 5000');
const ins = db.prepare("INSERT INTO notes (subject_table, subject_id, author, body) VALUES ('organizations', 1, 'bench', ?)");
const seqOf = db.prepare('SELECT max(seq) FROM _cdc_changelog').pluck();
const now = () => performance.timeOrigin + performance.now();
const out = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
process.on('message', async (m) => {
  for (let b = 0; b < m.groups; b++) {
    for (let i = 0; i < m.size; i++) {
      ins.run('freshness probe ' + m.phase + ' ' + b + ' ' + i);
      out.push([seqOf.get(), now()]);
      if (m.gapMs) await sleep(m.gapMs);
    }
    if (m.pauseMs) await sleep(m.pauseMs);
  }
  process.send(out.splice(0));
});
`;

async function main(): Promise<void> {
  const dir = tempDir('fresh');
  const dbPath = makeDemo(dir, records);
  const config = benchConfig(dbPath, { BATCH_LINGER_MS: '2', POLL_INTERVAL_MS: '100' });
  await runRebuild(config, { waitMs: 5000 });
  // As the follow daemon opens it (runs/daemon.ts).
  const ctx = await openPipeline(config, { longRunning: true });
  const follow = await startFollow(ctx, { waitForLeaseMs: 5000 });
  const indexedAt: [number, number][] = []; // [seq, epoch ms]
  ctx.events.on('batch:written', (e) => indexedAt.push([e.seq, performance.timeOrigin + performance.now()]));

  const writerFile = path.join(dir, 'writer.cjs');
  fs.writeFileSync(writerFile, WRITER);
  const child = fork(writerFile, [], {
    env: { ...process.env, DB: dbPath, BSQ: path.resolve('node_modules/better-sqlite3') },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const phase = (msg: object) =>
    new Promise<[number, number][]>((resolve) => {
      child.once('message', (m) => resolve(m as [number, number][]));
      child.send(msg);
    });
  const latencies = async (commits: [number, number][]): Promise<number[]> => {
    const last = commits[commits.length - 1]![0];
    while (!indexedAt.some(([s]) => s >= last)) await new Promise((r) => setTimeout(r, 10));
    return commits
      .map(([seq, t]) => {
        const hit = indexedAt.find(([s]) => s >= seq)!;
        return hit[1] - t;
      })
      .sort((a, b) => a - b);
  };
  await new Promise((r) => setTimeout(r, 500));
  const steadyLat = await latencies(
    await phase({ phase: 'steady', groups: 1, size: steady, gapMs: intervalMs }),
  );
  const burstLat = await latencies(
    await phase({ phase: 'burst', groups: bursts, size: burstSize, gapMs: 0, pauseMs: 500 }),
  );
  child.kill();
  await follow.stop();
  await ctx.close();
  const rows = [
    [
      `steady (1 commit / ${intervalMs} ms)`,
      steadyLat.length,
      percentile(steadyLat, 50),
      percentile(steadyLat, 95),
      percentile(steadyLat, 99),
      percentile(steadyLat, 95) / 100,
    ],
    [
      `bursts (${bursts} x ${burstSize}, back to back)`,
      burstLat.length,
      percentile(burstLat, 50),
      percentile(burstLat, 95),
      percentile(burstLat, 99),
      percentile(burstLat, 95) / 100,
    ],
  ];
  printTable(
    `Freshness: commit in another process -> indexed (local GloVe embedder, embedded store, ${records}-record demo CRM)`,
    ['load', 'commits', 'p50 ms', 'p95 ms', 'p99 ms', 'p95 / 100 ms target'],
    rows,
  );
  fs.rmSync(dir, { recursive: true, force: true });
}

await main();
