/**
 * The prepare workers: a pooled batch gives exactly what the inline one gives
 * (renders, fingerprints, chunks, BM25 vectors, point ids, deletes, the
 * unchanged count); a worker that cannot start costs only time (the batch is
 * prepared inline); a rebuild with workers stores what one without stores.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../config/errors.js';
import { loadConfig, type Config } from '../../config/index.js';
import { logger } from '../../config/log.js';
import { openCrm, type Db } from '../../crm/db.js';
import { createDemoDatabase } from '../../crm/demo/create.js';
import { Rng } from '../../crm/demo/rng.js';
import { bodyParagraphs, subject } from '../../crm/demo/text.js';
import { DEFAULT_SOURCE_MAP, recordTables } from '../../crm/sourceMap.js';
import { Bm25Encoder } from '../../encoders/bm25.js';
import { resolveFull } from '../../entities/resolve.js';
import { entityIdsFor } from '../../entities/lookup.js';
import {
  fingerprintKeys,
  POOL_MIN_KEYS,
  prepareKeys,
  startPrepare,
  type IndexDeps,
  type Tally,
  type PrepareDeps,
} from '../../pipeline/indexer.js';
import { poolStats, PreparePool, workerCountFor, type WorkerInit } from '../../pipeline/preparePool.js';
import { Renderer } from '../../pipeline/render.js';
import { runRebuild, runRefresh } from '../../pipeline/runs.js';
import { createStore } from '../../stores/factory.js';
import type { RecordState } from '../../stores/types.js';
import { startEmbeddingsServer, type EmbeddingsServer } from '../helpers/embeddingsServer.js';
import { driftPoint, worldConfig } from './harness.js';

const log = logger('test');
log.level = 'silent';
const chunk = { maxTokens: 128, overlapTokens: 16, maxChunks: 40 };
let dir: string;
let dbPath: string;
let db: Db;
let deps: PrepareDeps;
let keys: string[];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-index-pool-'));
  dbPath = path.join(dir, 'crm.db');
  createDemoDatabase({ dbPath, records: 400, seed: 11 });
  db = openCrm(dbPath);
  // Long meeting notes (many chunks each): the rebuild hands such pages to the workers.
  const rng = new Rng(3);
  const ctx = { org: 'Acme Robotics', people: ['Ana Lima', 'Ben Ode'], sector: 'fintech', city: 'Lisbon' };
  const ins = db.prepare(
    "INSERT INTO interactions (kind, occurred_at, subject, body, owner) VALUES ('meeting', '2026-01-01', ?, ?, 'ana')",
  );
  db.transaction(() => {
    for (let i = 0; i < 300; i++) ins.run(subject(rng, ctx), bodyParagraphs(rng, ctx, 'long').join('\n\n'));
  })();
  resolveFull(db);
  const renderer = new Renderer(db, DEFAULT_SOURCE_MAP);
  deps = {
    db,
    renderer,
    sparse: new Bm25Encoder(),
    chunk,
    log,
    dense: { modelId: 'model-x' },
    entityIds: (ks) => entityIdsFor(db, ks, { map: DEFAULT_SOURCE_MAP }),
  };
  keys = [];
  for (const t of recordTables(DEFAULT_SOURCE_MAP))
    for (const page of renderer.scanKeys(t.table, 1000)) keys.push(...page);
  // Keys whose rows do not exist: deletes.
  keys.push('people:999999', 'organizations:888888');
});

afterAll(() => {
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const init = (over: Partial<WorkerInit> = {}): WorkerInit => ({
  dbPath,
  busyTimeoutMs: 5000,
  sourceMapPath: undefined,
  chunk,
  modelId: 'model-x',
  logLevel: 'silent',
  ...over,
});

describe('PreparePool', () => {
  it('gives exactly the inline result: renders, entity ids, chunks, BM25, ids, deletes and unchanged', async () => {
    const inlineFirst = prepareKeys(deps, keys, new Map());
    expect(inlineFirst.changed.length).toBeGreaterThan(300);
    expect(inlineFirst.gone).toEqual(['people:999999', 'organizations:888888']);
    expect(inlineFirst.changed.some((r) => r.texts.length > 1)).toBe(true);
    expect(inlineFirst.changed.some((r) => (r.payload.entity_ids as string[]).length > 0)).toBe(true);
    // Every third record is already stored with its current fingerprint: unchanged, not prepared.
    const fps = new Map(
      inlineFirst.changed.filter((_, i) => i % 3 === 0).map((r) => [r.recordKey, r.fingerprint]),
    );
    const inline = prepareKeys(deps, keys, fps);
    const pool = new PreparePool(init(), 2, log);
    try {
      const pooled = await pool.prepare(keys, fps, true);
      expect(pooled).toEqual(inline);
      expect(inline.unchanged).toBe(fps.size);
    } finally {
      await pool.close();
    }
  });

  it('with a tally: short records stay inline, and once the records so far average 3 chunks the rest of the batch goes to the workers', async () => {
    const pool = new PreparePool(init(), 2, log);
    const full = { ...deps, preparer: pool } as unknown as IndexDeps;
    const interactions = keys.filter((k) => k.startsWith('interactions:'));
    const short = keys.filter((k) => k.startsWith('people:')).slice(0, 3 * POOL_MIN_KEYS);
    // Short records first, then the 300 long notes: the page where one gives way to the other.
    const mixed = [...short, ...interactions];
    try {
      let before = poolStats.batches;
      const tally: Tally = { records: 0, chunks: 0 };
      expect(await startPrepare(full, short, new Map(), tally)).toEqual(prepareKeys(deps, short, new Map()));
      expect(poolStats.batches).toBe(before);
      expect(tally.records).toBe(short.length);
      before = poolStats.batches;
      const fresh: Tally = { records: 0, chunks: 0 };
      const m = await startPrepare(full, mixed, new Map(), fresh);
      expect(m).toEqual(prepareKeys(deps, mixed, new Map()));
      expect(poolStats.batches).toBeGreaterThan(before);
      // Every record is counted once, inline slices and the pooled rest alike.
      expect(fresh).toEqual({
        records: mixed.length,
        chunks: m.changed.reduce((a, c) => a + c.texts.length, 0),
      });
      // A table that averaged long text sends the whole next batch.
      before = poolStats.batches;
      expect(await startPrepare(full, short, new Map(), fresh)).toEqual(prepareKeys(deps, short, new Map()));
      expect(poolStats.batches).toBeGreaterThan(before);
    } finally {
      await pool.close();
    }
  });

  it('fingerprints a sweep page exactly as the main thread does, rows gone included', async () => {
    const pool = new PreparePool(init(), 1, log);
    try {
      const inline = fingerprintKeys(deps, keys);
      expect(inline.gone).toEqual(['people:999999', 'organizations:888888']);
      expect(inline.keys.length).toBe(keys.length - 2);
      const before = poolStats.fingerprintPages;
      expect(await pool.fingerprints(keys, true)).toEqual(inline);
      expect(poolStats.fingerprintPages).toBe(before + 1);
      // The fingerprint is the one prepareKeys compares against.
      const prepared = prepareKeys(deps, keys.slice(0, 50), new Map());
      expect(prepared.changed.map((r) => r.fingerprint)).toEqual(inline.fingerprints.slice(0, 50));
    } finally {
      await pool.close();
    }
  });

  it('prepares a batch inline when its worker cannot start, and pauses the pool after repeated deaths', async () => {
    const pool = new PreparePool(init({ dbPath: path.join(dir, 'missing.db') }), 1, log);
    const full: IndexDeps = {
      ...deps,
      dense: {
        modelId: 'model-x',
        dim: 4,
        init: async () => {},
        embed: async () => [],
        close: async () => {},
      },
      preparer: pool,
    };
    const batch = keys.slice(0, POOL_MIN_KEYS + 10);
    const states = new Map<string, RecordState>();
    try {
      expect(await startPrepare(full, batch, states, { records: 1, chunks: 10 })).toEqual(
        prepareKeys(deps, batch, new Map()),
      );
      for (let i = 0; i < 8; i++) {
        const p = pool.prepare(batch, new Map(), true);
        if (p === null) break;
        await expect(p).rejects.toThrow(/missing\.db does not exist/);
      }
      expect(pool.prepare(batch, new Map(), true)).toBeNull();
    } finally {
      await pool.close();
    }
  });

  it('starts its workers on the first batch, stops them when idle, and starts them again', async () => {
    const pool = new PreparePool(init(), 2, log, 300);
    const batch = keys.slice(0, 200);
    try {
      expect(pool.running).toBe(0);
      const first = await pool.prepare(batch, new Map(), true);
      expect(pool.running).toBe(2);
      await new Promise((r) => setTimeout(r, 1_000));
      expect(pool.running).toBe(0);
      expect(await pool.prepare(batch, new Map(), true)).toEqual(first);
      expect(pool.running).toBe(2);
    } finally {
      await pool.close();
    }
    expect(pool.running).toBe(0);
  });

  it('answers a process that waits on nothing else, and does not keep it alive afterwards', () => {
    const script = fileURLToPath(new URL('./fixtures/pool-only.ts', import.meta.url));
    const out = execFileSync(process.execPath, ['--import', 'tsx', script, dbPath, ...keys.slice(0, 100)], {
      encoding: 'utf8',
      // Well under IDLE_STOP_MS: a worker left referenced would hold the process until its idle stop.
      timeout: 20_000,
    });
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual({ changed: 100 });
  });

  it('reads CRM_INDEX_WORKERS as auto or 0-16, and names the variable when it is neither', () => {
    const load = (v: string) => loadConfig({ env: { CRM_INDEX_WORKERS: v }, envFile: false }).prepareWorkers;
    expect(load('auto')).toBe('auto');
    expect(load(' 3 ')).toBe(3);
    expect(load('0')).toBe(0);
    for (const bad of ['-1', '17', 'two', '1.5']) {
      expect(() => load(bad)).toThrow(ConfigError);
      expect(() => load(bad)).toThrow(/CRM_INDEX_WORKERS=.*expected auto, or a whole number from 0 to 16/);
    }
    expect(workerCountFor(0)).toBe(0);
    expect(workerCountFor(3)).toBe(3);
    expect(workerCountFor('auto')).toBe(
      os.availableParallelism() <= 2 ? 0 : Math.min(os.availableParallelism() - 1, 4),
    );
  });
});

/** Every record state the store of `config` holds, by record key. */
async function storedStates(config: Config): Promise<RecordState[]> {
  const store = await createStore(config);
  const out: RecordState[] = [];
  try {
    for await (const page of store.scrollRecordStates(500)) out.push(...page);
  } finally {
    await store.close();
  }
  return out.sort((a, b) => a.recordKey.localeCompare(b.recordKey));
}

describe('rebuild with prepare workers', () => {
  let server: EmbeddingsServer;
  beforeAll(async () => {
    server = await startEmbeddingsServer({ dim: 16 });
  });
  afterAll(async () => {
    await server.close();
  });

  it('stores the same records, fingerprints and chunk counts as a rebuild without them', async () => {
    const states = async (workers: string): Promise<RecordState[]> => {
      const config = worldConfig(dbPath, server.url, {
        CRM_INDEX_WORKERS: workers,
        BATCH_MAX_RECORDS: '128',
      });
      const r = await runRebuild(config, { waitMs: 5000 });
      expect(r.counts.failed).toBe(0);
      return storedStates(config);
    };
    const inline = await states('0');
    const before = poolStats.batches;
    const pooled = await states('2');
    // Pages of long notes went to the workers; short-record pages stayed on the main thread.
    expect(poolStats.batches).toBeGreaterThan(before);
    expect(inline.length).toBeGreaterThan(600);
    expect(inline.some((s) => s.chunkCount > 5)).toBe(true);
    expect(pooled).toEqual(inline);
  });

  it('sweeps with the workers: finds what is missing, stale or orphaned, repairs it, and then finds nothing', async () => {
    const config = worldConfig(dbPath, server.url, { CRM_INDEX_WORKERS: '2' });
    await runRebuild(config, { waitMs: 5000 });
    const truth = await storedStates(config);
    const store = await createStore(config);
    try {
      const interactions = truth.filter((s) => s.recordKey.startsWith('interactions:'));
      // Missing: five records' points gone. Orphans: two records that do not exist. Stale: three with another fingerprint.
      await store.deleteRecords(interactions.slice(0, 5).map((s) => s.recordKey));
      for (const k of ['people:777777', 'notes:666666']) await store.upsert([driftPoint(k, 'orphan')]);
      for (const s of interactions.slice(10, 13)) await store.upsert([driftPoint(s.recordKey, 'stale')]);
    } finally {
      await store.close();
    }
    const before = poolStats.fingerprintPages;
    const first = await runRefresh(config, { waitMs: 5000 });
    expect(poolStats.fingerprintPages).toBeGreaterThan(before);
    expect(first.sweep).toMatchObject({ checked: truth.length, missing: 5, stale: 3, orphans: 2, failed: 0 });
    const second = await runRefresh(config, { waitMs: 5000 });
    expect(second.sweep).toMatchObject({ checked: truth.length, missing: 0, stale: 0, orphans: 0 });
    expect(await storedStates(config)).toEqual(truth);
  });
});
