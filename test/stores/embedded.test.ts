import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { PermanentError, StoreError, TransientError } from '../../config/errors.js';
import { openEmbeddedStore, storeError, type EmbeddedStore } from '../../stores/embedded.js';
import type { ChunkPoint } from '../../stores/types.js';
import { createStore } from '../../stores/factory.js';
import { loadConfig } from '../../config/index.js';
import { Mirror, type MirrorRow } from '../../stores/embedded/mirror.js';
import {
  DIM,
  makePoint,
  randomCorpus,
  referenceDense,
  referenceSparse,
  runStoreContract,
} from './contract.js';

/** How often the WAL of `file` started over: its header's checkpoint sequence number (bytes 12-15, big-endian). */
function walRestarts(file: string): number {
  const header = Buffer.alloc(32);
  const fd = fs.openSync(`${file}-wal`, 'r');
  try {
    fs.readSync(fd, header, 0, 32, 0);
  } finally {
    fs.closeSync(fd);
  }
  return header.readUInt32BE(12);
}

/** The project root (the child process below runs the compiled store: `npm run build`). */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Upserts of 20 points with ~4 KB of text each (~80 KB a commit), `gapMs` apart, for `ms`, as a
 * rebuild streams them; returns the points written.
 */
async function streamCommits(s: EmbeddedStore, ms: number, gapMs: number): Promise<number> {
  const text = 'lorem ipsum dolor sit amet '.repeat(150);
  let written = 0;
  const until = Date.now() + ms;
  for (let round = 0; Date.now() < until; round++) {
    const points = randomCorpus(round, 20).map((p, i) => ({
      ...p,
      payload: { ...p.payload, record_key: `notes:${round}-${i}`, text: `${text}${round}-${i}` },
    }));
    await s.upsert(points);
    written += points.length;
    await new Promise((r) => setTimeout(r, gapMs));
  }
  return written;
}

/** Another, read-only handle on `file` sees `points` points (what was written survived the close). */
async function expectStoredPoints(file: string, points: number): Promise<void> {
  const again = openEmbeddedStore(file, { readonly: true });
  try {
    expect(await again.count()).toBe(points);
  } finally {
    await again.close();
  }
}

const dirs: string[] = [];
function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-index-store-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) {
    try {
      fs.chmodSync(d, 0o755);
    } catch {
      /* already gone */
    }
    fs.rmSync(d, { recursive: true, force: true });
  }
});

runStoreContract('embedded', async () => {
  const file = path.join(tempDir(), 'data', 'index.db');
  const store = openEmbeddedStore(file);
  return {
    store,
    openReader: async () => openEmbeddedStore(file),
    cleanup: () => store.close(),
  };
});

describe('embedded store specifics', () => {
  const spec = { dim: DIM, model: 'm' };
  const q = { indices: [1003, 1010, 1017], values: [1, 1, 1] };

  it('creates its folder, uses WAL, and keeps points across a reopen', async () => {
    const file = path.join(tempDir(), 'nested', 'deeper', 'index.db');
    const s = openEmbeddedStore(file);
    await s.ensure(spec);
    await s.upsert(randomCorpus(1, 12));
    await s.close();
    const db = new Database(file, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    const again = openEmbeddedStore(file);
    await again.ensure(spec);
    expect(await again.count()).toBe(12);
    await again.close();
  });

  it('warm() loads the search index of the served generation before any search, and is harmless without one', async () => {
    const file = path.join(tempDir(), 'index.db');
    const empty = openEmbeddedStore(file);
    await empty.warm();
    expect(empty.indexLoaded).toBe(false);
    await empty.ensure(spec);
    await empty.upsert(randomCorpus(2, 20));
    await empty.close();
    const s = openEmbeddedStore(file);
    expect(s.indexLoaded).toBe(false);
    await s.warm();
    expect(s.indexLoaded).toBe(true);
    expect((await s.search({ mode: 'sparse', sparse: q, limit: 3 })).length).toBeGreaterThan(0);
    await s.close();
    await expect(s.warm()).rejects.toThrow(StoreError);
  });

  it('a read-only folder is a StoreError naming the path and CRM_INDEX_PATH', (t) => {
    const dir = tempDir();
    fs.chmodSync(dir, 0o555);
    const file = path.join(dir, 'index.db');
    let err: { name: string; message: string } | undefined;
    if (process.getuid?.() !== 0) {
      try {
        openEmbeddedStore(file);
      } catch (e) {
        err = { name: (e as Error).constructor.name, message: (e as Error).message };
      }
    } else {
      // Root ignores the folder's mode: open the store from a child running as nobody (the compiled
      // store, as the product runs; `npm test` builds first).
      const script = `
        import { openEmbeddedStore } from ${JSON.stringify(pathToFileURL(path.join(root, 'dist/stores/embedded.js')).href)};
        try { openEmbeddedStore(process.argv[1]); console.log(JSON.stringify({ opened: true })); }
        catch (e) { console.log(JSON.stringify({ name: e.constructor.name, message: e.message, code: e.code })); }`;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, file], {
        uid: 65534,
        gid: 65534,
        encoding: 'utf8',
      });
      const out = JSON.parse(r.stdout.trim().split('\n').pop() || '{}') as {
        name?: string;
        message?: string;
        code?: string;
        opened?: boolean;
      };
      if (out.name === undefined && !out.opened) {
        // The child could not load the project (a parent folder closed to other users).
        console.warn(`skipped: a child running as nobody could not load dist/ (${r.stderr.split('\n')[0]})`);
        t.skip();
      }
      err = out.opened ? undefined : { name: out.name!, message: out.message! };
    }
    expect(err?.name).toBe('StoreError');
    expect(err?.message).toContain(file);
    expect(err?.message).toContain('CRM_INDEX_PATH');
  });

  it('a path below a regular file is a StoreError naming the path (works even as root)', () => {
    const blocker = path.join(tempDir(), 'not-a-folder');
    fs.writeFileSync(blocker, 'x');
    const file = path.join(blocker, 'index.db');
    expect(() => openEmbeddedStore(file)).toThrow(StoreError);
    expect(() => openEmbeddedStore(file)).toThrow(file);
  });

  it('maps disk-full, read-only and busy SQLite errors to errors that say what to do', () => {
    const full = storeError(
      Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }),
      '/x/i.db',
      'writing points',
    );
    expect(full).toBeInstanceOf(StoreError);
    expect(full.message).toMatch(/full.*free space/);
    const ro = storeError(
      Object.assign(new Error('attempt to write a readonly database'), { code: 'SQLITE_READONLY' }),
      '/x/i.db',
      'writing points',
    );
    expect(ro).toBeInstanceOf(StoreError);
    expect(ro.message).toContain('/x/i.db');
    const busy = storeError(
      Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' }),
      '/x/i.db',
      'writing',
    );
    expect(busy).toBeInstanceOf(TransientError);
  });

  it('opening read-only where no index exists is a StoreError that says to rebuild', () => {
    const file = path.join(tempDir(), 'missing.db');
    expect(() => openEmbeddedStore(file, { readonly: true })).toThrow(/crm-index rebuild/);
  });

  it('a file that is not SQLite is a StoreError saying to move it aside', () => {
    const file = path.join(tempDir(), 'index.db');
    fs.writeFileSync(file, 'this is not a database, just text long enough to be a header....'.repeat(20));
    expect(() => openEmbeddedStore(file)).toThrow(StoreError);
  });

  it('a point with the wrong dimension is a PermanentError and writes nothing', async () => {
    const s = openEmbeddedStore(path.join(tempDir(), 'i.db'));
    await s.ensure(spec);
    const good = randomCorpus(2, 3);
    const bad = makePoint({ recordKey: 'deals:bad', dense: [1, 2, 3], sparse: q });
    await expect(s.upsert([...good, bad])).rejects.toBeInstanceOf(PermanentError);
    expect(await s.count()).toBe(0);
    await s.close();
  });

  it('a search-only handle opened read-only follows a writer through many changes', async () => {
    const file = path.join(tempDir(), 'i.db');
    const w = openEmbeddedStore(file);
    await w.ensure(spec);
    const r = openEmbeddedStore(file, { readonly: true });
    const corpus = randomCorpus(3, 60);
    for (let i = 0; i < corpus.length; i += 10) {
      await w.upsert(corpus.slice(i, i + 10));
      const got = await r.search({ mode: 'sparse', sparse: q, limit: 100 });
      expect(got.map((x) => x.id)).toEqual(referenceSparse(corpus.slice(0, i + 10), q).map((x) => x.id));
    }
    await r.close();
    await w.close();
  });

  it('a reader whose catch-up log was pruned reloads in full and still ranks exactly', async () => {
    const file = path.join(tempDir(), 'i.db');
    const w = openEmbeddedStore(file, { logKeep: 5, pruneEvery: 5 });
    await w.ensure(spec);
    const r = openEmbeddedStore(file);
    const corpus = randomCorpus(4, 50);
    await w.upsert(corpus.slice(0, 10));
    expect((await r.search({ mode: 'sparse', sparse: q, limit: 100 })).length).toBeGreaterThan(0);
    for (let i = 10; i < corpus.length; i += 5) await w.upsert(corpus.slice(i, i + 5));
    await w.deleteRecords([corpus[0]!.payload.record_key]);
    const db = new Database(file, { readonly: true });
    const pruned = Number(
      db.prepare("SELECT value FROM _store_meta WHERE key = 'log_pruned_through'").pluck().get() ?? 0,
    );
    db.close();
    // Seqs count write batches: the reader last saw batch 1, so the log is pruned past it.
    expect(pruned).toBeGreaterThan(1);
    const got = await r.search({ mode: 'sparse', sparse: q, limit: 100 });
    expect(got.map((x) => x.id)).toEqual(referenceSparse(corpus.slice(1), q).map((x) => x.id));
    await r.close();
    await w.close();
  });

  it('overwriting the same points many times keeps sparse IDF exact (dead slots are compacted)', async () => {
    const s = openEmbeddedStore(path.join(tempDir(), 'i.db'));
    await s.ensure(spec);
    const corpus = randomCorpus(5, 40);
    await s.upsert(corpus);
    await s.search({ mode: 'sparse', sparse: q, limit: 1 });
    for (let round = 0; round < 60; round++) {
      await s.upsert(randomCorpus(100 + round, 40));
      if (round % 10 === 0) await s.search({ mode: 'sparse', sparse: q, limit: 1 });
    }
    const last = randomCorpus(159, 40);
    const got = await s.search({ mode: 'sparse', sparse: q, limit: 100 });
    const want = referenceSparse(last, q);
    expect(got.map((x) => x.id)).toEqual(want.map((x) => x.id));
    got.forEach((g, i) => expect(g.score).toBeCloseTo(want[i]!.score, 4));
    await s.close();
  });

  it('activating a generation begun on a different index file is refused', async () => {
    const a = openEmbeddedStore(path.join(tempDir(), 'a.db'));
    const b = openEmbeddedStore(path.join(tempDir(), 'b.db'));
    await a.ensure(spec);
    await b.ensure(spec);
    const nb = await b.beginGeneration(spec);
    await expect(a.activateGeneration(nb)).rejects.toThrow(/same store/);
    await a.close();
    await b.close();
  });

  it('search on an index that has no collection yet returns nothing rather than failing', async () => {
    const s = openEmbeddedStore(path.join(tempDir(), 'i.db'));
    expect(await s.search({ mode: 'sparse', sparse: q, limit: 5 })).toEqual([]);
    expect(await s.count()).toBe(0);
    await expect(s.upsert(randomCorpus(1, 1))).rejects.toThrow(/ensure/);
    await s.close();
  });

  it('getChunks returns the payloads asked for, in that order, leaving out missing ones', async () => {
    const s = openEmbeddedStore(path.join(tempDir(), 'i.db'));
    await s.ensure(spec);
    const corpus = randomCorpus(6, 8);
    await s.upsert(corpus);
    const want = [corpus[5]!, corpus[2]!];
    const got = await s.getChunks([
      { recordKey: want[0]!.payload.record_key, chunkIndex: 0 },
      { recordKey: 'deals:nope', chunkIndex: 0 },
      { recordKey: want[1]!.payload.record_key, chunkIndex: 0 },
      { recordKey: want[1]!.payload.record_key, chunkIndex: 1 },
    ]);
    expect(got).toEqual(want.map((p) => p.payload));
    expect(await s.getChunks([])).toEqual([]);
    await s.close();
  });

  it('checkpoints the WAL from a worker thread, and closes and reopens with every point', async () => {
    const file = path.join(tempDir(), 'i.db');
    const s = openEmbeddedStore(file, { checkpointWorkerAfter: 0 });
    await s.ensure(spec);
    const sizeBefore = fs.statSync(file).size;
    await s.upsert(randomCorpus(7, 200));
    expect(s.backgroundCheckpoints).toBe(true);
    // The writer's automatic checkpoints are off: only the worker moves pages into the main file.
    const deadline = Date.now() + 15_000;
    while (fs.statSync(file).size <= sizeBefore && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(fs.statSync(file).size).toBeGreaterThan(sizeBefore);
    await s.close();
    await expectStoredPoints(file, 200);
  });

  it('rewrites stored chunks in place (same rid), inserts the new ones, and keeps the last of a chunk given twice', async () => {
    const file = path.join(tempDir(), 'i.db');
    const s = openEmbeddedStore(file);
    await s.ensure(spec);
    const unit = Array.from({ length: DIM }, (_, i) => (i === 0 ? 1 : 0));
    const chunk = (i: number, text: string, count: number): ChunkPoint =>
      makePoint({
        recordKey: 'notes:7',
        chunkIndex: i,
        chunkCount: count,
        dense: unit,
        sparse: { indices: [1001], values: [1] },
        payload: { text },
      });
    await s.upsert([chunk(0, 'zero v1', 2), chunk(1, 'one v1', 2)]);
    const rows = (): { rid: number; chunk_index: number; text: string; chunk_count: number }[] => {
      const db = new Database(file, { readonly: true });
      try {
        const gen = db.prepare("SELECT value FROM _store_meta WHERE key = 'active'").pluck().get() as string;
        return db
          .prepare(`SELECT rid, chunk_index, text, chunk_count FROM pts_${gen} ORDER BY chunk_index`)
          .all() as { rid: number; chunk_index: number; text: string; chunk_count: number }[];
      } finally {
        db.close();
      }
    };
    const before = rows();
    // The record grows by a chunk; chunk 1 comes twice in one call (the later one wins, as with a upsert).
    await s.upsert([
      chunk(0, 'zero v2', 3),
      chunk(1, 'one v2', 3),
      chunk(2, 'two v2', 3),
      chunk(1, 'one v3', 3),
    ]);
    const after = rows();
    expect(after.map((r) => [r.chunk_index, r.text, r.chunk_count])).toEqual([
      [0, 'zero v2', 3],
      [1, 'one v3', 3],
      [2, 'two v2', 3],
    ]);
    expect(after.slice(0, 2).map((r) => r.rid)).toEqual(before.map((r) => r.rid));
    expect(await s.count()).toBe(3);
    const hits = await s.getChunks([{ recordKey: 'notes:7', chunkIndex: 1 }]);
    expect(hits.map((h) => h.text)).toEqual(['one v3']);
    // Another handle follows the rewrite through the change log.
    const other = openEmbeddedStore(file, { readonly: true });
    const found = await other.search({ mode: 'dense', dense: unit, limit: 10 });
    expect(found.map((h) => h.payload.text).sort()).toEqual(['one v3', 'two v2', 'zero v2']);
    await other.close();
    await s.close();
  });

  it('keeps starting the WAL over under a steady stream of commits, so its file stays small', async () => {
    const file = path.join(tempDir(), 'i.db');
    const s = openEmbeddedStore(file, { checkpointWorkerAfter: 0, walRestartFrames: 256 });
    await s.ensure(spec);
    // Commits keep arriving, as in a rebuild: ~80 KB of text every 10 ms or so for 3 s, across a
    // dozen of the worker's checkpoint intervals.
    const points = await streamCommits(s, 3000, 10);
    const wal = fs.statSync(`${file}-wal`).size;
    const restarts = walRestarts(file);
    const db = fs.statSync(file).size;
    await s.close();
    expect(db).toBeGreaterThan(8_000_000);
    // Before: the WAL never started over (no restart in 3 s) and held every page ever written, about
    // twice the database.
    expect(restarts).toBeGreaterThanOrEqual(3);
    expect(wal).toBeLessThan(db);
    await expectStoredPoints(file, points);
  });

  it('when commits never pause, the writer checkpoints the last frames itself, so the WAL still starts over', async () => {
    const file = path.join(tempDir(), 'i.db');
    const s = openEmbeddedStore(file, { checkpointWorkerAfter: 0, walRestartFrames: 64 });
    await s.ensure(spec);
    // Close together (a millisecond apart): the catch-up passes rarely fall between two.
    const points = await streamCommits(s, 2000, 1);
    const restarts = walRestarts(file);
    // The worker is still running: a failed checkpoint would have stopped it.
    expect(s.backgroundCheckpoints).toBe(true);
    await s.close();
    expect(restarts).toBeGreaterThanOrEqual(2);
    await expectStoredPoints(file, points);
  });

  it('opened long-running (the follow daemon), checkpoints from a worker from the first commit', async () => {
    const dir = tempDir();
    const config = loadConfig({
      env: { CRM_DB_PATH: path.join(dir, 'crm.db'), CRM_INDEX_PATH: path.join(dir, 'i.db') },
      envFile: false,
    });
    const one = randomCorpus(3, 1);
    const daemon = (await createStore(config, { longRunning: true })) as EmbeddedStore;
    await daemon.ensure(spec);
    await daemon.upsert(one);
    expect(daemon.backgroundCheckpoints).toBe(true);
    await daemon.close();
    // A one-shot run keeps SQLite's own checkpoints for its first 4,096 points.
    const run = (await createStore(config)) as EmbeddedStore;
    await run.upsert(one);
    expect(run.backgroundCheckpoints).toBe(false);
    await run.close();
  });

  it('a process that writes enough to start the checkpoint worker and never closes the store still exits', async () => {
    const file = path.join(tempDir(), 'i.db');
    const store = pathToFileURL(path.join(root, 'dist/stores/embedded.js')).href;
    const script = `
      const { openEmbeddedStore } = await import(${JSON.stringify(store)});
      const s = openEmbeddedStore(${JSON.stringify(file)}, { checkpointWorkerAfter: 0 });
      await s.ensure({ dim: 4, model: 'm' });
      const payload = (i) => ({ record_key: 'notes:' + i, table: 'notes', chunk_index: 0, chunk_count: 1,
        fingerprint: 'f', text: 't', title: 't', kind: null, stage: null, organization_id: null, date: null,
        owner: null, entity_ids: [] });
      await s.upsert(Array.from({ length: 50 }, (_, i) => ({ id: String(i), dense: [1, 0, 0, 0],
        sparse: { indices: [1], values: [1] }, payload: payload(i) })));
      console.log(s.backgroundCheckpoints ? 'worker running' : 'no worker');
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | string>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve('still running after 10 s');
      }, 10_000);
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c ?? 'killed');
      });
    });
    expect(out.trim()).toBe('worker running');
    expect(code).toBe(0);
  });

  it('upgrades a generation written by the first layout (uuid index, per-point log) in place', async () => {
    const file = path.join(tempDir(), 'i.db');
    const db = new Database(file);
    db.exec(`
      CREATE TABLE _store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE _store_generations (name TEXT PRIMARY KEY, dim INTEGER NOT NULL, model TEXT NOT NULL, created_at TEXT NOT NULL);
      CREATE TABLE _store_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, gen TEXT NOT NULL, rid INTEGER NOT NULL);
      CREATE TABLE pts_gold (rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, record_key TEXT NOT NULL,
        chunk_index INTEGER NOT NULL, chunk_count INTEGER NOT NULL, fingerprint TEXT NOT NULL, tbl TEXT NOT NULL,
        kind TEXT, stage TEXT, organization_id TEXT, date TEXT, owner TEXT, entity_ids TEXT NOT NULL,
        payload TEXT NOT NULL, dense BLOB NOT NULL, sparse BLOB NOT NULL);
      CREATE INDEX pts_gold_rk ON pts_gold(record_key, chunk_index);
      INSERT INTO _store_generations VALUES ('gold', ${DIM}, 'm', '2024-01-01');
      INSERT INTO _store_meta VALUES ('active', 'gold');`);
    db.close();
    const s = openEmbeddedStore(file);
    await s.ensure(spec);
    const corpus = randomCorpus(8, 30);
    await s.upsert(corpus);
    await s.upsert(corpus.slice(0, 10));
    expect(await s.count()).toBe(30);
    const got = await s.search({ mode: 'sparse', sparse: q, limit: 100 });
    expect(got.map((x) => x.id)).toEqual(referenceSparse(corpus, q).map((x) => x.id));
    // That table has no text column: the whole payload, text included, stays in its JSON.
    const byId = new Map(corpus.map((p) => [p.id, p.payload]));
    for (const hit of got) expect(hit.payload).toEqual(byId.get(hit.id));
    const first = corpus[0]!.payload;
    expect(await s.getChunks([{ recordKey: first.record_key, chunkIndex: first.chunk_index }])).toEqual([
      first,
    ]);
    await s.close();
    const raw = new Database(file, { readonly: true });
    expect(
      raw.prepare("SELECT count(*) FROM pragma_table_info('pts_gold') WHERE name = 'text'").pluck().get(),
    ).toBe(0);
    raw.close();
  });

  it('keeps chunk texts in their own column, and writes a record whose later chunks exist without its chunk 0', async () => {
    const file = path.join(tempDir(), 'i.db');
    const s = openEmbeddedStore(file);
    await s.ensure(spec);
    const one = (i: number, text: string) =>
      makePoint({
        recordKey: 'notes:7',
        chunkIndex: i,
        chunkCount: 3,
        dense: Array.from({ length: DIM }, (_, j) => (j === i ? 1 : 0.1)),
        sparse: { indices: [1003 + i], values: [1] },
        payload: { text },
      });
    // Chunk 1 alone first (no chunk 0): the next write of the record must update it, not fail.
    await s.upsert([one(1, 'old middle "quoted"\n')]);
    const pts = [one(0, 'first'), one(1, 'new middle'), one(2, 'ünï 🎉')];
    await s.upsert(pts);
    expect(await s.count()).toBe(3);
    const got = await s.getChunks(
      pts.map((p) => ({ recordKey: 'notes:7', chunkIndex: p.payload.chunk_index })),
    );
    expect(got).toEqual(pts.map((p) => p.payload));
    await s.close();
    const raw = new Database(file, { readonly: true });
    const gen = raw.prepare("SELECT value FROM _store_meta WHERE key = 'active'").pluck().get() as string;
    const rows = raw.prepare(`SELECT text, payload FROM pts_${gen} ORDER BY chunk_index`).raw().all() as [
      string,
      string,
    ][];
    expect(rows.map((r) => r[0])).toEqual(['first', 'new middle', 'ünï 🎉']);
    for (const [, json] of rows) expect(json).not.toContain('"text"');
    raw.close();
  });
});

describe('embedded mirror', () => {
  const q = { indices: [1003, 1010, 1017], values: [1, 1, 1] };
  const rowsOf = (points: ReturnType<typeof randomCorpus>): MirrorRow[] =>
    points.map((p, i) => ({
      rid: i + 1,
      fields: {
        tables: p.payload.table,
        kinds: p.payload.kind,
        stages: p.payload.stage,
        organizationIds: p.payload.organization_id,
        entityIds: p.payload.entity_ids,
      },
      date: p.payload.date,
      dense: (() => {
        const v = Float32Array.from(p.dense);
        const n = Math.hypot(...v);
        return v.map((x) => x / n);
      })(),
      sparseIdx: Uint32Array.from(p.sparse.indices),
      sparseVal: Float32Array.from(p.sparse.values),
    }));

  it('ranks the same with the WASM dense scan and the JS one, and as the reference', () => {
    const corpus = randomCorpus(9, 300);
    const rows = rowsOf(corpus);
    const wasm = Mirror.build(DIM, rows.length, rows, true);
    const js = Mirror.build(DIM, rows.length, rows, false);
    expect(js.wasm).toBe(false);
    if (!wasm.wasm) console.warn('no WebAssembly SIMD in this runtime: only the JS scan is checked');
    const query = Array.from({ length: DIM }, (_, i) => Math.sin(i + 1));
    const a = wasm.searchDense(Float32Array.from(query), 20);
    const b = js.searchDense(Float32Array.from(query), 20);
    expect(a.map((h) => h.slot)).toEqual(b.map((h) => h.slot));
    a.forEach((h, i) => expect(h.score).toBeCloseTo(b[i]!.score, 12));
    const want = referenceDense(corpus, query).slice(0, 20);
    expect(a.map((h) => corpus[js.rids[h.slot]! - 1]!.id)).toEqual(want.map((w) => w.id));
  });

  it('points added after the build (delta postings) and removed ones keep sparse scores exact', () => {
    const corpus = randomCorpus(10, 120);
    const rows = rowsOf(corpus);
    const m = Mirror.build(DIM, 60, rows.slice(0, 60));
    for (const r of rows.slice(60)) m.upsert(r);
    for (const r of rows.slice(0, 30)) m.remove(r.rid);
    const hits = m.searchSparse(q.indices, q.values, 200);
    const want = referenceSparse(corpus.slice(30), q);
    expect(hits.map((h) => corpus[m.rids[h.slot]! - 1]!.id)).toEqual(want.map((w) => w.id));
    hits.forEach((h, i) => expect(h.score).toBeCloseTo(want[i]!.score, 4));
  });

  it('filters by table, date range and entity through the coded columns', () => {
    const corpus = randomCorpus(11, 80);
    const m = Mirror.build(DIM, 80, rowsOf(corpus));
    const mask = m.mask({
      tables: ['deals'],
      entityIds: ['ent-3'],
      dateFrom: '2024-01-05',
      dateTo: '2024-01-20',
    })!;
    const want = corpus
      .filter(
        (p) =>
          p.payload.table === 'deals' &&
          p.payload.entity_ids.includes('ent-3') &&
          p.payload.date! >= '2024-01-05' &&
          p.payload.date! <= '2024-01-20T23:59:59.999Z',
      )
      .map((p) => p.id);
    const got = [...mask].flatMap((v, s) => (v ? [corpus[m.rids[s]! - 1]!.id] : []));
    expect(got).toEqual(want);
    expect(want.length).toBeGreaterThan(0);
  });
});
