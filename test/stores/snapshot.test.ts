/**
 * The embedded store's search-index snapshot: a fresh process loads it (and
 * only the half its search needs) instead of rebuilding from every row, and
 * its answers equal those of an index built from the table, across foreign
 * writes, deletes, a pruned log, a torn file and generation switches.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openEmbeddedStore, type EmbeddedStore } from '../../stores/embedded.js';
import { Snapshot, snapshotPath } from '../../stores/embedded/snapshot.js';
import type { SearchRequest } from '../../stores/types.js';
import { DIM, randomCorpus } from './contract.js';

const dirs: string[] = [];
const stores: EmbeddedStore[] = [];
function tempFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-snapshot-'));
  dirs.push(dir);
  return path.join(dir, 'index.db');
}
function open(file: string, opts: Parameters<typeof openEmbeddedStore>[1] = {}): EmbeddedStore {
  const s = openEmbeddedStore(file, opts);
  stores.push(s);
  return s;
}
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const SPEC = { dim: DIM, model: 'snap' };
const q = { indices: [1003, 1010, 1017, 1021], values: [1, 1, 1, 1] };
const dq = Array.from({ length: DIM }, (_, i) => Math.cos(i + 0.5));
const requests: SearchRequest[] = [
  { mode: 'sparse', sparse: q, limit: 15 },
  { mode: 'dense', dense: dq, limit: 15 },
  { mode: 'hybrid', sparse: q, dense: dq, limit: 10, filter: { tables: ['deals', 'people'] } },
  {
    mode: 'hybrid',
    sparse: q,
    dense: dq,
    limit: 10,
    fusion: 'dbsf',
    filter: { recordKeys: ['deals:2', 'people:1', 'deals:6'] },
  },
];

/** What each request returns on `s`: ids and scores. */
async function answers(s: EmbeddedStore): Promise<[string, number][][]> {
  const out: [string, number][][] = [];
  for (const r of requests) out.push((await s.search(r)).map((h) => [h.id, h.score]));
  return out;
}

/** The answers of an index built from the table, with no snapshot involved. */
async function fromTable(file: string): Promise<[string, number][][]> {
  const ref = open(file, { snapshots: false });
  const a = await answers(ref);
  expect(ref.indexState?.from).toBe('table');
  return a;
}

describe('embedded search-index snapshot', () => {
  it('is written by the process that built the index, and a fresh process loads it instead of the rows', async () => {
    const file = tempFile();
    const w = open(file);
    await w.ensure(SPEC);
    await w.upsert(randomCorpus(1, 200));
    await w.warm();
    expect(w.indexState?.from).toBe('table');
    expect(fs.existsSync(snapshotPath(file, w.generation))).toBe(true);
    const fresh = open(file);
    const got = await answers(fresh);
    expect(fresh.indexState?.from).toBe('snapshot');
    expect(got).toEqual(await fromTable(file));
    expect(got[0]!.length).toBeGreaterThan(5);
  });

  it('loads only the half a search needs, and the other when a later search needs it, after foreign writes', async () => {
    const file = tempFile();
    const w = open(file);
    await w.ensure(SPEC);
    const corpus = randomCorpus(2, 240);
    await w.upsert(corpus.slice(0, 200));
    await w.warm();
    const fresh = open(file);
    await fresh.search(requests[0]!);
    expect(fresh.indexState).toMatchObject({ from: 'snapshot', sparse: true, dense: false });
    // Another connection writes: new points, overwritten points, deleted records.
    await w.upsert(corpus.slice(200));
    await w.upsert(corpus.slice(0, 30).map((p) => ({ ...p, dense: p.dense.map((x) => -x) })));
    await w.deleteRecords(corpus.slice(40, 60).map((p) => p.payload.record_key));
    await fresh.search(requests[0]!);
    expect(fresh.indexState?.dense).toBe(false);
    const got = await answers(fresh);
    expect(fresh.indexState).toMatchObject({ from: 'snapshot', sparse: true, dense: true });
    expect(got).toEqual(await fromTable(file));
  });

  it('a dense-first process completes its sparse half with exact IDF after deletes', async () => {
    const file = tempFile();
    const w = open(file);
    await w.ensure(SPEC);
    const corpus = randomCorpus(3, 150);
    await w.upsert(corpus);
    await w.warm();
    const fresh = open(file);
    await fresh.search(requests[1]!);
    expect(fresh.indexState).toMatchObject({ sparse: false, dense: true });
    await w.deleteRecords(corpus.slice(0, 50).map((p) => p.payload.record_key));
    await w.upsert(
      corpus
        .slice(60, 80)
        .map((p, i) => ({ ...p, sparse: { indices: [1003, 1010], values: [2 + i / 64, 0.5] } })),
    );
    expect(await answers(fresh)).toEqual(await fromTable(file));
  });

  it('is refreshed by a process that has replayed many changes, so the next one replays few', async () => {
    const file = tempFile();
    const w = open(file, { snapshotRefresh: 50 });
    await w.ensure(SPEC);
    const corpus = randomCorpus(4, 200);
    await w.upsert(corpus.slice(0, 100));
    await w.warm();
    const before = fs.statSync(snapshotPath(file, w.generation)).mtimeMs;
    await w.upsert(corpus.slice(100));
    await new Promise((r) => setTimeout(r, 20));
    await w.search(requests[2]!);
    const snap = Snapshot.open(snapshotPath(file, w.generation))!;
    expect(snap.header.live).toBe(200);
    snap.close();
    expect(fs.statSync(snapshotPath(file, w.generation)).mtimeMs).toBeGreaterThanOrEqual(before);
    const fresh = open(file);
    expect(await answers(fresh)).toEqual(await fromTable(file));
  });

  it('is not used when the change log no longer holds what came after it, nor when torn', async () => {
    const file = tempFile();
    const w = open(file, { logKeep: 10, pruneEvery: 10 });
    await w.ensure(SPEC);
    const corpus = randomCorpus(5, 200);
    await w.upsert(corpus.slice(0, 100));
    await w.warm();
    for (let i = 100; i < 200; i += 10) await w.upsert(corpus.slice(i, i + 10));
    const stale = open(file);
    expect(await answers(stale)).toEqual(await fromTable(file));
    expect(stale.indexState?.from).toBe('table');
    // The stale reader wrote a fresh snapshot; tear it.
    const snap = snapshotPath(file, w.generation);
    fs.truncateSync(snap, fs.statSync(snap).size - 100);
    const torn = open(file);
    expect(await answers(torn)).toEqual(await fromTable(file));
    expect(torn.indexState?.from).toBe('table');
  });

  it("goes with its generation: activation removes the old one's, and an open removes strays", async () => {
    const file = tempFile();
    const w = open(file);
    await w.ensure(SPEC);
    await w.upsert(randomCorpus(6, 50));
    await w.warm();
    const old = w.generation;
    expect(fs.existsSync(snapshotPath(file, old))).toBe(true);
    const next = await w.beginGeneration(SPEC);
    await next.upsert(randomCorpus(7, 50));
    await w.activateGeneration(next);
    expect(fs.existsSync(snapshotPath(file, old))).toBe(false);
    await w.warm();
    const stray = snapshotPath(file, 'gdeadbeef_0000');
    fs.writeFileSync(stray, 'left by a failed rebuild');
    fs.writeFileSync(`${snapshotPath(file, w.generation)}.tmp999`, 'a torn write');
    open(file);
    expect(fs.existsSync(stray)).toBe(false);
    expect(fs.existsSync(`${snapshotPath(file, w.generation)}.tmp999`)).toBe(false);
    expect(fs.existsSync(snapshotPath(file, w.generation))).toBe(true);
  });

  it('compacts by building from the table (renumbering slots), not by reloading a snapshot of dead slots', async () => {
    const file = tempFile();
    const w = open(file);
    await w.ensure(SPEC);
    const corpus = randomCorpus(9, 1100);
    await w.upsert(corpus);
    await w.warm();
    const reader = open(file);
    await reader.warm();
    expect(reader.indexState?.from).toBe('snapshot');
    // Each round the reader catches up: every point overwritten leaves a dead slot.
    for (let round = 0; round < 2; round++) {
      await w.upsert(corpus.map((p) => ({ ...p, dense: p.dense.map((x) => x * (round + 2)) })));
      await reader.search(requests[1]!);
      expect(reader.indexState?.from).toBe('snapshot');
    }
    const got = await answers(reader);
    expect(reader.indexState).toMatchObject({ from: 'table', points: 1100 });
    const snap = Snapshot.open(snapshotPath(file, w.generation))!;
    expect(snap.header.dead).toBe(0);
    snap.close();
    expect(got).toEqual(await fromTable(file));
  });

  it('reports the bytes its halves hold a point', async () => {
    const file = tempFile();
    const w = open(file);
    await w.ensure(SPEC);
    await w.upsert(randomCorpus(8, 100));
    await w.warm();
    const st = w.indexState!;
    expect(st.points).toBe(100);
    expect(st.bytes.dense).toBeGreaterThan(0);
    expect(st.bytes.sparse).toBeGreaterThan(0);
  });
});
