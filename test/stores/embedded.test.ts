import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { PermanentError, StoreError, TransientError } from '../../config/errors.js';
import { openEmbeddedStore, storeError } from '../../stores/embedded.js';
import { DIM, makePoint, randomCorpus, referenceSparse, runStoreContract } from './contract.js';

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

  it('a read-only folder is a StoreError naming the path and CRM_INDEX_PATH', () => {
    if (process.getuid?.() === 0) {
      console.warn('running as root: permissions are not enforced, read-only folder case not checked');
      return;
    }
    const dir = tempDir();
    fs.chmodSync(dir, 0o555);
    const file = path.join(dir, 'index.db');
    let err: unknown;
    try {
      openEmbeddedStore(file);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toContain(file);
    expect((err as Error).message).toContain('CRM_INDEX_PATH');
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
});
