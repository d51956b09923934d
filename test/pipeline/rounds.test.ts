/**
 * A batch on the main thread is prepared in slices and written in rounds
 * (indexer.ts): long records never sit in memory as a whole batch, a round is
 * embedded while the next is prepared (the event loop turning between slices,
 * so its request and reply get through), two rounds may embed at once, and a
 * failure never leaves a round writing behind it. Real CRM file, real embeddings server on 127.0.0.1 (with
 * a delay, so the overlap is observable), real embedded store.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransientError } from '../../config/errors.js';
import { openCrm } from '../../crm/db.js';
import { createDemoDatabase } from '../../crm/demo/create.js';
import { Rng } from '../../crm/demo/rng.js';
import { bodyParagraphs, subject } from '../../crm/demo/text.js';
import { openPipeline, type PipelineContext } from '../../pipeline/context.js';
import {
  indexRecords,
  prepareBatch,
  prepareKeys,
  ROUNDS_IN_FLIGHT,
  WRITE_ROUND_CHUNKS,
  type BatchResult,
} from '../../pipeline/indexer.js';
import type { ChunkPoint, RecordState } from '../../stores/types.js';
import { startEmbeddingsServer, type EmbeddingsServer } from '../helpers/embeddingsServer.js';
import { worldConfig } from './harness.js';

let dir: string;
let dbPath: string;
let server: EmbeddingsServer;
let longKeys: string[];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-index-rounds-'));
  dbPath = path.join(dir, 'crm.db');
  createDemoDatabase({ dbPath, records: 200, seed: 5 });
  const db = openCrm(dbPath);
  const rng = new Rng(9);
  const ctx = { org: 'Acme Robotics', people: ['Ana Lima', 'Ben Ode'], sector: 'fintech', city: 'Lisbon' };
  const ins = db.prepare(
    "INSERT INTO interactions (kind, occurred_at, subject, body, owner) VALUES ('meeting', '2026-01-01', ?, ?, 'ana') RETURNING id",
  );
  longKeys = db.transaction(() =>
    Array.from(
      { length: 120 },
      () =>
        `interactions:${(ins.get(subject(rng, ctx), bodyParagraphs(rng, ctx, 'long').join('\n\n')) as { id: number }).id}`,
    ),
  )();
  db.close();
  // Each embeddings request waits 60 ms, as a remote server would.
  server = await startEmbeddingsServer({ dim: 16, delayMs: 60 });
});

afterAll(async () => {
  await server?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A pipeline on its own index file; `upserts` records each upsert's size and whether one is running. */
async function open(
  name: string,
  env: Record<string, string> = {},
): Promise<{
  ctx: PipelineContext;
  upserts: { sizes: number[]; running: number; finished: number };
}> {
  const config = worldConfig(dbPath, server.url, {
    CRM_INDEX_WORKERS: '0',
    CRM_INDEX_PATH: path.join(dir, `${name}.db`),
    ...env,
  });
  const ctx = await openPipeline(config);
  const upserts = { sizes: [] as number[], running: 0, finished: 0 };
  const store = ctx.store;
  const real = store.upsert.bind(store);
  store.upsert = async (points: ChunkPoint[]) => {
    upserts.sizes.push(points.length);
    upserts.running++;
    try {
      await real(points);
    } finally {
      upserts.running--;
      upserts.finished++;
    }
  };
  return { ctx, upserts };
}

const statesOf = async (ctx: PipelineContext, keys: string[]): Promise<RecordState[]> =>
  [...(await ctx.store.getRecordStates(keys)).values()].sort((a, b) =>
    a.recordKey.localeCompare(b.recordKey),
  );

/**
 * Index `longKeys` through `run` with an embedder whose every other call waits 300 ms first (so the
 * call after it finishes first); the most calls pending at once must be ROUNDS_IN_FLIGHT, and the
 * store must hold exactly what preparing the batch whole gives.
 */
async function depthCase(
  name: string,
  env: Record<string, string>,
  run: (ctx: PipelineContext, keys: string[]) => Promise<BatchResult>,
): Promise<void> {
  const { ctx } = await open(name, env);
  let pending = 0;
  let maxPending = 0;
  let n = 0;
  const finished: number[] = [];
  const dense = ctx.deps.dense;
  const embed = dense.embed.bind(dense);
  dense.embed = async (texts: string[]) => {
    const call = n++;
    pending++;
    maxPending = Math.max(maxPending, pending);
    try {
      if (call % 2 === 0) await new Promise((r) => setTimeout(r, 300));
      return await embed(texts);
    } finally {
      pending--;
      finished.push(call);
    }
  };
  try {
    const r = await run(ctx, longKeys);
    expect(n).toBeGreaterThanOrEqual(3);
    expect(maxPending).toBe(ROUNDS_IN_FLIGHT);
    // They did finish out of order.
    expect(finished).not.toEqual([...finished].sort((a, b) => a - b));
    expect(r.counts).toMatchObject({ added: 120, failed: 0 });
    const expected = prepareKeys(ctx.deps, longKeys, new Map());
    expect(r.counts.chunks).toBe(expected.changed.reduce((a, p) => a + p.texts.length, 0));
    expect(await statesOf(ctx, longKeys)).toEqual(
      expected.changed
        .map((p) => ({ recordKey: p.recordKey, fingerprint: p.fingerprint, chunkCount: p.texts.length }))
        .sort((a, b) => a.recordKey.localeCompare(b.recordKey)),
    );
    expect(await ctx.store.count()).toBe(r.counts.chunks);
  } finally {
    await ctx.close();
  }
}

/**
 * Index `longKeys` through `run` while the first embed call is held 300 ms and the second fails at
 * once (the embeddings server answering 503 to it): the batch must reject with that failure only
 * after the held round has written, start no round after the failure, and a retry must complete it.
 */
async function roundFailureCase(
  name: string,
  env: Record<string, string>,
  run: (ctx: PipelineContext, keys: string[]) => Promise<BatchResult>,
): Promise<void> {
  const { ctx, upserts } = await open(name, env);
  let n = 0;
  let failing = true;
  const dense = ctx.deps.dense;
  const embed = dense.embed.bind(dense);
  dense.embed = async (texts: string[]) => {
    const call = n++;
    if (failing && call === 0) await new Promise((r) => setTimeout(r, 300));
    if (failing && call === 1) throw new TransientError('embeddings server answered 503');
    return embed(texts);
  };
  try {
    const failed = await run(ctx, longKeys).then(
      () => null,
      (err: unknown) => ({ err, calls: n, running: upserts.running, finished: upserts.finished }),
    );
    expect((failed?.err as Error | undefined)?.message).toBe('embeddings server answered 503');
    // The held round wrote before the batch rejected, and no round started after the failure.
    expect(failed!.calls).toBe(2);
    expect(failed!.running).toBe(0);
    expect(failed!.finished).toBe(1);
    await new Promise((r) => setTimeout(r, 200));
    expect(n).toBe(2);
    expect(upserts.finished).toBe(1);
    failing = false;
    const retry = await run(ctx, longKeys);
    expect(retry.counts.failed).toBe(0);
    expect(retry.counts.added + retry.counts.unchanged).toBe(120);
    expect(retry.counts.unchanged).toBeGreaterThan(0);
    const expected = prepareKeys(ctx.deps, longKeys, new Map());
    expect((await statesOf(ctx, longKeys)).map((st) => st.fingerprint)).toEqual(
      expected.changed.sort((a, b) => a.recordKey.localeCompare(b.recordKey)).map((p) => p.fingerprint),
    );
  } finally {
    await ctx.close();
  }
}

const pooled = async (ctx: PipelineContext, keys: string[]): Promise<BatchResult> => {
  expect(ctx.deps.preparer).toBeDefined();
  // A tally that says "long records": the batch goes to the worker (startPrepare).
  const prepared = await prepareBatch(ctx.deps, ctx.store, keys, { records: 1, chunks: 100 });
  return indexRecords(ctx.deps, ctx.store, keys, prepared);
};

describe('indexRecords in rounds', () => {
  it('writes a batch of long notes in rounds of whole records, storing what preparing it whole gives', async () => {
    const { ctx, upserts } = await open('whole');
    try {
      const expected = prepareKeys(ctx.deps, longKeys, new Map());
      const chunks = expected.changed.map((r) => r.texts.length);
      const total = chunks.reduce((a, b) => a + b, 0);
      expect(total).toBeGreaterThan(3 * WRITE_ROUND_CHUNKS);
      const r = await indexRecords(ctx.deps, ctx.store, longKeys);
      expect(r.counts).toMatchObject({ added: 120, chunks: total, failed: 0 });
      expect(upserts.sizes.length).toBeGreaterThanOrEqual(3);
      expect(upserts.sizes.reduce((a, b) => a + b, 0)).toBe(total);
      // A round closes at the first slice that reaches WRITE_ROUND_CHUNKS: never more than a slice over.
      for (const n of upserts.sizes) expect(n).toBeLessThanOrEqual(2 * WRITE_ROUND_CHUNKS);
      expect(await statesOf(ctx, longKeys)).toEqual(
        expected.changed
          .map((p) => ({ recordKey: p.recordKey, fingerprint: p.fingerprint, chunkCount: p.texts.length }))
          .sort((a, b) => a.recordKey.localeCompare(b.recordKey)),
      );
      // Nothing changed since: a second pass finds every record unchanged and writes nothing.
      const again = await indexRecords(ctx.deps, ctx.store, longKeys);
      expect(again.counts).toMatchObject({ unchanged: 120, chunks: 0 });
    } finally {
      await ctx.close();
    }
  });

  it('prepares the next round while the embedder works on this one, and takes in its reply meanwhile', async () => {
    const { ctx } = await open('overlap');
    const renderer = ctx.deps.renderer;
    let rendered = 0;
    const render = renderer.render.bind(renderer);
    renderer.render = (key: string) => {
      rendered++;
      return render(key);
    };
    const calls: { atCall: number; atReply: number }[] = [];
    const dense = ctx.deps.dense;
    dense.embed = async (texts: string[]) => {
      const c = { atCall: rendered, atReply: -1 };
      calls.push(c);
      // An HTTP request needs a few turns of the event loop to go out and come back (about four):
      // this embedder answers after three, so only the indexer's scheduling is measured.
      for (let t = 0; t < 3; t++) await new Promise((r) => setImmediate(r));
      c.atReply = rendered;
      return texts.map(() => new Float32Array(dense.dim).fill(0.25));
    };
    try {
      const r = await indexRecords(ctx.deps, ctx.store, longKeys);
      expect(r.counts).toMatchObject({ added: 120, failed: 0 });
      expect(calls.length).toBeGreaterThanOrEqual(3);
      // Records were rendered for the next round while the first round's request was out, and its
      // reply was taken in within a few slices of one record: the event loop turned between them.
      // With a turn only at the end of each round, the reply waited for the whole next round.
      expect(calls[0]!.atReply).toBeGreaterThan(calls[0]!.atCall);
      expect(calls[0]!.atReply - calls[0]!.atCall).toBeLessThanOrEqual(6);
      expect(calls.at(-1)!.atCall).toBeGreaterThan(calls[0]!.atReply + 10);
    } finally {
      await ctx.close();
    }
  });

  it(`keeps ${ROUNDS_IN_FLIGHT} rounds embedding at once, and stores the same when they finish out of order`, async () => {
    await depthCase('depth', {}, (ctx, keys) => indexRecords(ctx.deps, ctx.store, keys));
  });

  it(`does the same for a batch prepared on a worker thread (the rebuild with workers)`, async () => {
    await depthCase('depth-pool', { CRM_INDEX_WORKERS: '1' }, pooled);
  });

  it('when a round fails while an older one is still embedding, starts no more rounds and rejects once that one has written', async () => {
    await roundFailureCase('round-failure', {}, (ctx, keys) => indexRecords(ctx.deps, ctx.store, keys));
  });

  it('does the same for a batch prepared on a worker thread', async () => {
    await roundFailureCase('round-failure-pool', { CRM_INDEX_WORKERS: '1' }, pooled);
  });

  it('indexes a key given twice in one batch once', async () => {
    const { ctx, upserts } = await open('duplicates');
    try {
      const keys = [...longKeys.slice(0, 40), ...longKeys.slice(0, 40)];
      const r = await indexRecords(ctx.deps, ctx.store, keys);
      expect(r.counts).toMatchObject({ added: 40, failed: 0 });
      expect(upserts.sizes.reduce((a, b) => a + b, 0)).toBe(r.counts.chunks);
      expect(await ctx.store.count()).toBe(r.counts.chunks);
    } finally {
      await ctx.close();
    }
  });

  it('on a failure while a round is writing, rejects only once that round is done, and a retry completes the batch', async () => {
    const { ctx, upserts } = await open('failure');
    const renderer = ctx.deps.renderer;
    const render = renderer.render.bind(renderer);
    let rendered = 0;
    let busy = true;
    renderer.render = (key: string) => {
      // The CRM database is locked while the second round is prepared (the first slice is 64 records).
      if (busy && ++rendered === 70)
        throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
      return render(key);
    };
    try {
      const failed = await indexRecords(ctx.deps, ctx.store, longKeys).then(
        () => null,
        (err: unknown) => ({ err, running: upserts.running, finished: upserts.finished }),
      );
      expect(failed?.err).toBeInstanceOf(TransientError);
      // A round was embedding when the read failed: it finished writing before the batch rejected, and
      // nothing writes afterwards (a retry racing it could otherwise be overwritten by older data).
      expect(failed!.running).toBe(0);
      expect(failed!.finished).toBeGreaterThanOrEqual(1);
      await new Promise((r) => setTimeout(r, 300));
      expect(upserts.sizes.length).toBe(failed!.finished);
      busy = false;
      const retry = await indexRecords(ctx.deps, ctx.store, longKeys);
      expect(retry.counts.failed).toBe(0);
      expect(retry.counts.unchanged).toBeGreaterThan(0);
      expect(retry.counts.added + retry.counts.unchanged).toBe(120);
      const expected = prepareKeys(ctx.deps, longKeys, new Map());
      expect((await statesOf(ctx, longKeys)).map((s) => s.fingerprint)).toEqual(
        expected.changed.sort((a, b) => a.recordKey.localeCompare(b.recordKey)).map((p) => p.fingerprint),
      );
    } finally {
      await ctx.close();
    }
  });
});
