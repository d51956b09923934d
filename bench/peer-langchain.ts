/**
 * Peer benchmark: crm-index (trigger change capture, changelog drain) beside
 * LangChain.js's indexing API (`index()` with a record manager and cleanup
 * 'incremental'), on the same demo CRM, the same rendered and chunked
 * documents, the same embedder and comparable SQLite stores (bench/peer/).
 *
 * Per size: the initial full index; a sync after 10, 100 and 1,000 changed
 * records (demo updates: one interaction or note body rewritten per commit);
 * crm-index's refresh with its reconciliation sweep, separately; then deletes.
 * The peer's sync is what a user runs: load every record from the CRM, render
 * and chunk it, and call index() (hash, diff against the record manager,
 * embed and write what changed, clean up). crm-index's is `runRefresh`, the
 * whole command (opening the pipeline included).
 *
 * Correctness after the deletes is checked against a fresh full load: points
 * per tool, points of records that no longer exist (orphans), missing and
 * stale points. LangChain's incremental cleanup only touches sources seen in
 * this run, so a deleted record's points stay.
 *
 * Target (issue 8): crm-index >= 50x faster than the peer for a 10-change
 * sync at 100k records; no orphans where the peer leaves some.
 *
 * Run: npx tsx bench/peer-langchain.ts [--sizes 10000,100000] [--changes 10,100,1000]
 *        [--deletes 100] [--embedder bow|glove] [--peer-batch 100] [--seed 42] [--dir <folder>]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { index } from '@langchain/core/indexing';
import { loadConfig, type Config } from '../config/index.js';
import { openCrm, type Db } from '../crm/db.js';
import { createDemoDatabase } from '../crm/demo/create.js';
import { demoWrite } from '../crm/demo/write.js';
import { DEFAULT_SOURCE_MAP } from '../crm/sourceMap.js';
import { LocalGloveEmbedder } from '../encoders/local.js';
import type { DenseEmbedder } from '../encoders/types.js';
import { chunkSettings } from '../runs/context.js';
import { runRebuild, runRefresh } from '../runs/runs.js';
import { openEmbeddedStore } from '../stores/embedded.js';
import { installCapture } from '../triggers/install.js';
import { BowEmbedder, CountingEmbedder, LangChainEmbeddings } from './peer/embedder.js';
import { SqliteRecordManager, SqliteVectorStore } from './peer/langchainStore.js';
import { freshTruth, loadCrmDocuments } from './peer/loader.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
};
const list = (s: string): number[] => s.split(',').filter(Boolean).map(Number);
const SIZES = list(arg('sizes', '10000,100000'));
const CHANGES = list(arg('changes', '10,100,1000'));
const DELETES = Number(arg('deletes', '100'));
const SEED = Number(arg('seed', '42'));
const EMBEDDER = arg('embedder', 'bow');
/** index()'s batchSize (LangChain's default 100). */
const PEER_BATCH = Number(arg('peer-batch', '100'));
if (EMBEDDER !== 'bow' && EMBEDDER !== 'glove')
  throw new Error(`--embedder ${EMBEDDER}: expected bow or glove.`);
const baseDir = fs.mkdtempSync(path.join(arg('dir', os.tmpdir()), 'crm-index-peer-'));

interface Row {
  records: number;
  sync: string;
  'crm-index ms': number;
  'peer ms': number;
  'peer load ms': number;
  ratio: string;
  'crm-index cpu ms': number;
  'peer cpu ms': number;
  'cpu ratio': string;
  'crm-index embeds': number;
  'peer embeds': number;
  peer: string;
}

interface Check {
  records: number;
  tool: string;
  points: number;
  expected: number;
  'orphan points': number;
  /** Records whose stored chunks differ from a fresh render (crm-index: by fingerprint, via the sweep). */
  'stale records': number;
  'missing points': number;
}

const rows: Row[] = [];
const checks: Check[] = [];
const log = (s: string): void => void process.stderr.write(`${s}\n`);

/** This process's CPU time (user+system) since `from`: other processes on a shared machine disturb it less than wall time. */
function cpuMs(from: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(from);
  return (u.user + u.system) / 1000;
}

/** A GitHub-style table, ready to paste into docs/benchmarks.md. */
function markdown(objs: object[]): string {
  const first = objs[0];
  if (!first) return '(no rows)';
  const cols = Object.keys(first);
  const cell = (v: unknown): string => String(v).replace(/\|/g, '\\|');
  const lines = [`| ${cols.join(' | ')} |`, `|${cols.map(() => ' --- ').join('|')}|`];
  for (const o of objs)
    lines.push(`| ${cols.map((c) => cell((o as Record<string, unknown>)[c])).join(' | ')} |`);
  return lines.join('\n');
}

function makeEmbedder(): DenseEmbedder {
  return EMBEDDER === 'glove' ? new LocalGloveEmbedder() : new BowEmbedder();
}

async function runSize(n: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(baseDir, `n${n}-`));
  const dbPath = path.join(dir, 'crm.db');
  log(`[${n}] generating the demo CRM`);
  createDemoDatabase({ dbPath, records: n, seed: SEED });
  const crm: Db = openCrm(dbPath, {});
  installCapture(crm, DEFAULT_SOURCE_MAP);
  const config: Config = loadConfig({ env: { CRM_DB_PATH: dbPath, LOG_LEVEL: 'silent' }, envFile: false });
  const chunk = chunkSettings(config);

  const inner = makeEmbedder();
  await inner.init(); // load weights before any timing
  const crmDense = new CountingEmbedder(inner);
  const peerDense = new CountingEmbedder(inner);
  const peerPath = path.join(dir, 'langchain.db');
  const vectorStore = new SqliteVectorStore(new LangChainEmbeddings(peerDense), peerPath);
  const recordManager = new SqliteRecordManager(peerPath);
  await recordManager.createSchema();

  const peerSync = async (): Promise<{
    ms: number;
    cpu: number;
    loadMs: number;
    summary: string;
    embeds: number;
  }> => {
    const before = peerDense.calls;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const loaded = loadCrmDocuments(crm, DEFAULT_SOURCE_MAP, chunk);
    const loadMs = performance.now() - t0;
    const r = await index({
      docsSource: loaded.docs,
      recordManager,
      vectorStore,
      options: { cleanup: 'incremental', sourceIdKey: 'source', batchSize: PEER_BATCH },
    });
    const ms = performance.now() - t0;
    const summary = `+${r.numAdded} -${r.numDeleted} =${r.numSkipped}`;
    return { ms, cpu: cpuMs(cpu0), loadMs, summary, embeds: peerDense.calls - before };
  };

  const crmRun = async (
    kind: 'rebuild' | 'refresh' | 'refresh+sweep',
  ): Promise<{ ms: number; cpu: number; embeds: number }> => {
    const before = crmDense.calls;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const overrides = { dense: crmDense };
    // As `crm-index rebuild` does: entity resolution first, then the full index.
    if (kind === 'rebuild') await runRebuild(config, { waitMs: 5000, overrides });
    else await runRefresh(config, { waitMs: 5000, sweep: kind === 'refresh+sweep', overrides });
    return { ms: performance.now() - t0, cpu: cpuMs(cpu0), embeds: crmDense.calls - before };
  };

  const record = async (sync: string, kind: 'rebuild' | 'refresh' | 'refresh+sweep'): Promise<void> => {
    log(`[${n}] ${sync}: crm-index`);
    const c = await crmRun(kind);
    log(`[${n}] ${sync}: peer`);
    const p = await peerSync();
    rows.push({
      records: n,
      sync,
      'crm-index ms': Math.round(c.ms),
      'peer ms': Math.round(p.ms),
      'peer load ms': Math.round(p.loadMs),
      ratio: `${(p.ms / c.ms).toFixed(1)}x`,
      'crm-index cpu ms': Math.round(c.cpu),
      'peer cpu ms': Math.round(p.cpu),
      'cpu ratio': `${(p.cpu / c.cpu).toFixed(1)}x`,
      'crm-index embeds': c.embeds,
      'peer embeds': p.embeds,
      peer: p.summary,
    });
    log(`[${n}] ${sync}: crm-index ${Math.round(c.ms)} ms, peer ${Math.round(p.ms)} ms`);
  };

  try {
    await record('initial full index', 'rebuild');
    let seed = SEED;
    for (const c of CHANGES) {
      demoWrite(crm, { kind: 'update', count: c, seed: ++seed });
      await record(`${c} changed`, 'refresh');
    }
    const c0 = CHANGES[0] ?? 10;
    demoWrite(crm, { kind: 'update', count: c0, seed: ++seed });
    await record(`${c0} changed, crm-index refresh + sweep`, 'refresh+sweep');
    demoWrite(crm, { kind: 'delete', count: DELETES, seed: ++seed });
    await record(`${DELETES} deleted`, 'refresh');

    // Truth: what a fresh full index of the CRM as it is now would hold.
    const truth = freshTruth(loadCrmDocuments(crm, DEFAULT_SOURCE_MAP, chunk));
    const expectedPoints = [...truth.chunksPerRecord.values()].reduce((a, b) => a + b, 0);

    const peerPoints = vectorStore.points();
    const peerIds = new Set(peerPoints.map((p) => p.id));
    let peerOrphans = 0;
    const peerStale = new Set<string>();
    for (const p of peerPoints) {
      if (!truth.chunksPerRecord.has(p.source)) peerOrphans++;
      else if (!truth.uids.has(p.id)) peerStale.add(p.source);
    }
    let peerMissing = 0;
    for (const id of truth.uids) if (!peerIds.has(id)) peerMissing++;
    checks.push({
      records: n,
      tool: 'LangChain index() incremental',
      points: peerIds.size,
      expected: truth.uids.size,
      'orphan points': peerOrphans,
      'stale records': peerStale.size,
      'missing points': peerMissing,
    });

    const store = openEmbeddedStore(config.resolvedIndexPath, { readonly: true });
    const crmPoints = await store.count();
    let crmOrphans = 0;
    const seen = new Set<string>();
    for await (const page of store.scrollRecordStates()) {
      for (const s of page) {
        seen.add(s.recordKey);
        const want = truth.chunksPerRecord.get(s.recordKey);
        if (want === undefined) crmOrphans += s.chunkCount;
      }
    }
    await store.close();
    let crmMissing = 0;
    for (const [k, cnt] of truth.chunksPerRecord) if (!seen.has(k)) crmMissing += cnt;
    // The sweep compares fingerprints (text, payload, model) with the source: stale content shows here.
    const verify = await runRefresh(config, { waitMs: 5000, sweep: true, overrides: { dense: crmDense } });
    checks.push({
      records: n,
      tool: 'crm-index refresh',
      points: crmPoints,
      expected: expectedPoints,
      'orphan points': crmOrphans,
      'stale records': verify.sweep?.stale ?? 0,
      'missing points': crmMissing,
    });
  } finally {
    vectorStore.close();
    recordManager.close();
    crm.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

try {
  for (const n of SIZES) await runSize(n);
} finally {
  fs.rmSync(baseDir, { recursive: true, force: true });
}

console.log(
  `Node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), sizes ${SIZES.join(', ')}`,
);
console.log(
  `\nSync times (embedder: ${EMBEDDER}; ratio = peer ms / crm-index ms; peer: +added -deleted =skipped)`,
);
console.log(markdown(rows));
console.log('\nAfter the deletes, compared with a fresh full index of the same CRM');
console.log(markdown(checks));
const target = rows.find((r) => r.records === Math.max(...SIZES) && r.sync === `${CHANGES[0]} changed`);
if (target) {
  const ratio = target['peer ms'] / target['crm-index ms'];
  console.log(
    `\nTarget: ${CHANGES[0]}-change sync at ${target.records} records >= 50x faster than the peer: ${ratio.toFixed(1)}x ${ratio >= 50 ? 'MET' : 'NOT MET'}`,
  );
}
