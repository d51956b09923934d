/**
 * The stage stream (stream.ts): a page is prepared a slice at a time while
 * earlier slices embed (the event loop turning between slices, so requests
 * and replies get through), the embed stage keeps EMBED_CONCURRENCY requests
 * in flight, no more than a bounded number of chunks wait in memory, and a
 * failure never leaves a write running behind it. Real CRM file, real
 * embeddings server on 127.0.0.1 (slow, so the overlap is observable), real
 * embedded store.
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
import { openPipeline, type PipelineContext } from '../../runs/context.js';
import { prepareKeys } from '../../pipeline/prepare.js';
import { indexKeys, maxHeldChunks, WRITE_GROUP_CHUNKS, type BatchCounts } from '../../pipeline/stream.js';
import type { ChunkPoint, RecordState } from '../../stores/types.js';
import { startEmbeddingsServer, type EmbeddingsServer } from '../helpers/embeddingsServer.js';
import { worldConfig } from './harness.js';

let dir: string;
let dbPath: string;
let server: EmbeddingsServer;
let longKeys: string[];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-index-stream-'));
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
  const config = worldConfig(dbPath, server.url, { CRM_INDEX_PATH: path.join(dir, `${name}.db`), ...env });
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

/** What preparing `longKeys` whole gives, as the store's states. */
/** After a failed run, a retry indexes every long note, each as preparing it whole gives. */
async function expectRetryCompletes(ctx: PipelineContext): Promise<void> {
  const retry = await indexKeys(ctx.deps, ctx.store, longKeys);
  expect(retry.counts.failed).toBe(0);
  expect(retry.counts.added + retry.counts.unchanged).toBe(120);
  expect(await statesOf(ctx, longKeys)).toEqual(expectedStates(ctx));
}

function expectedStates(ctx: PipelineContext): RecordState[] {
  return prepareKeys(ctx.deps, longKeys, new Map())
    .changed.map((p) => ({ recordKey: p.recordKey, fingerprint: p.fingerprint, chunkCount: p.texts.length }))
    .sort((a, b) => a.recordKey.localeCompare(b.recordKey));
}

/**
 * Index `longKeys` while the embedder fails (`fail`) on its second call and holds its first for 300
 * ms: the run must reject with that failure only once the held request's work is over, start no
 * request after the failure, and a second run must complete the batch.
 */
async function failureCase(name: string, fail: () => Error): Promise<void> {
  const { ctx, upserts } = await open(name, { EMBED_BATCH_SIZE: '64' });
  let n = 0;
  let failing = true;
  const dense = ctx.deps.dense;
  const embed = dense.embed.bind(dense);
  dense.embed = async (texts: string[]) => {
    const call = n++;
    if (failing && call === 0) await new Promise((r) => setTimeout(r, 300));
    if (failing && call === 1) throw fail();
    return embed(texts);
  };
  try {
    const failed = await indexKeys(ctx.deps, ctx.store, longKeys).then(
      () => null,
      (err: unknown) => ({ err, calls: n, running: upserts.running }),
    );
    expect((failed?.err as Error | undefined)?.message).toBe(fail().message);
    // Nothing of the failed run still writes when it rejects, and no request starts afterwards.
    expect(failed!.running).toBe(0);
    const calls = failed!.calls;
    const writes = upserts.finished;
    await new Promise((r) => setTimeout(r, 200));
    expect(n).toBe(calls);
    expect(upserts.finished).toBe(writes);
    failing = false;
    await expectRetryCompletes(ctx);
  } finally {
    await ctx.close();
  }
}

describe('the stage stream', () => {
  it('writes a page of long notes in groups of whole records, storing what preparing it whole gives', async () => {
    const { ctx, upserts } = await open('whole');
    try {
      const expected = expectedStates(ctx);
      const total = expected.reduce((a, s) => a + s.chunkCount, 0);
      expect(total).toBeGreaterThan(3 * WRITE_GROUP_CHUNKS);
      const r = await indexKeys(ctx.deps, ctx.store, longKeys);
      expect(r.counts).toMatchObject({ added: 120, chunks: total, failed: 0 });
      expect(upserts.sizes.length).toBeGreaterThanOrEqual(3);
      expect(upserts.sizes.reduce((a, b) => a + b, 0)).toBe(total);
      // A group closes at the first record that fills it: never more than a record's chunks over.
      for (const n of upserts.sizes)
        expect(n).toBeLessThanOrEqual(WRITE_GROUP_CHUNKS + ctx.config.maxChunksPerRecord);
      expect(await statesOf(ctx, longKeys)).toEqual(expected);
      // Nothing changed since: a second pass finds every record unchanged and writes nothing.
      const again = await indexKeys(ctx.deps, ctx.store, longKeys);
      expect(again.counts).toMatchObject({ unchanged: 120, chunks: 0 });
    } finally {
      await ctx.close();
    }
  });

  it('keeps EMBED_CONCURRENCY requests in flight against a slow embeddings server', async () => {
    // Its own server, 100 ms a request: far longer than preparing a request's chunks.
    const slow = await startEmbeddingsServer({ dim: 16, delayMs: 100 });
    const { ctx } = await open('in-flight', {
      SPARK_CONTROL_URL: slow.url,
      EMBED_BATCH_SIZE: '32',
      EMBED_CONCURRENCY: '4',
    });
    try {
      const r = await indexKeys(ctx.deps, ctx.store, longKeys);
      expect(r.counts).toMatchObject({ added: 120, failed: 0 });
      const reqs = slow.requests.filter((q) => Array.isArray((q.body as { input?: unknown }).input));
      expect(reqs.length).toBeGreaterThan(20);
      for (const q of reqs) expect((q.body as { input: string[] }).input.length).toBeLessThanOrEqual(32);
      // Never more than the limit, and the limit reached.
      expect(slow.maxInFlight).toBe(4);
      // Whenever a request arrived, the server was still working on the others: counted from the
      // server's own arrival and reply times, most requests found all three other slots busy, or two
      // (short dips while a reply crosses the event loop), none starved the server.
      const others = reqs.map(
        (q) => reqs.filter((o) => o !== q && o.at <= q.at && (o.doneAt ?? Infinity) > q.at).length,
      );
      const sorted = [...others].sort((a, b) => a - b);
      expect(sorted[Math.floor(sorted.length / 2)]).toBeGreaterThanOrEqual(2);
      expect(others.filter((k) => k >= 2).length).toBeGreaterThanOrEqual(0.7 * (others.length - 4));
      expect(await statesOf(ctx, longKeys)).toEqual(expectedStates(ctx));
    } finally {
      await ctx.close();
      await slow.close();
    }
  });

  it('holds no more than a bounded number of chunks between prepare and write', async () => {
    const { ctx, upserts } = await open('bounded', { EMBED_BATCH_SIZE: '16', EMBED_CONCURRENCY: '2' });
    const sparse = ctx.deps.sparse;
    const encode = sparse.encodeDocument.bind(sparse);
    let prepared = 0;
    let most = 0;
    sparse.encodeDocument = (text: string) => {
      prepared++;
      const written = upserts.sizes.reduce((a, b) => a + b, 0);
      most = Math.max(most, prepared - written);
      return encode(text);
    };
    try {
      const r = await indexKeys(ctx.deps, ctx.store, longKeys);
      expect(r.counts).toMatchObject({ added: 120, failed: 0 });
      const bound = maxHeldChunks(ctx.deps);
      expect(r.counts.chunks).toBeGreaterThan(bound + 500);
      // The bound, plus at most the slice that started below it.
      expect(most).toBeLessThanOrEqual(bound + 64 + ctx.config.maxChunksPerRecord);
    } finally {
      await ctx.close();
    }
  });

  /** Renders counted, and an embedder answering after three turns of the event loop, with or without a queue. */
  async function overlapCase(
    name: string,
    queues: boolean,
  ): Promise<{ calls: { atCall: number; atReply: number }[]; counts: BatchCounts }> {
    const { ctx } = await open(name);
    const renderer = ctx.deps.renderer;
    let rendered = 0;
    const render = renderer.render.bind(renderer);
    renderer.render = (key: string) => {
      rendered++;
      return render(key);
    };
    const calls: { atCall: number; atReply: number }[] = [];
    const dense = ctx.deps.dense;
    Object.defineProperty(dense, 'queues', { value: queues });
    dense.embed = async (texts: string[]) => {
      const c = { atCall: rendered, atReply: -1 };
      calls.push(c);
      // An HTTP request needs a few turns of the event loop to go out and come back (about four):
      // this embedder answers after three, so only the stream's scheduling is measured.
      for (let t = 0; t < 3; t++) await new Promise((r) => setImmediate(r));
      c.atReply = rendered;
      return texts.map(() => new Float32Array(dense.dim).fill(0.25));
    };
    try {
      return { calls, counts: (await indexKeys(ctx.deps, ctx.store, longKeys)).counts };
    } finally {
      await ctx.close();
    }
  }

  it('prepares the next slices while a request is out, and takes its reply in within a few slices', async () => {
    const { calls, counts } = await overlapCase('overlap', false);
    expect(counts).toMatchObject({ added: 120, failed: 0 });
    expect(calls.length).toBeGreaterThanOrEqual(10);
    // Records were rendered while the first request was out, and its reply was taken in within a
    // few slices: the event loop turned between them.
    expect(calls[0]!.atReply).toBeGreaterThan(calls[0]!.atCall);
    expect(calls[0]!.atReply - calls[0]!.atCall).toBeLessThanOrEqual(12);
    expect(calls.at(-1)!.atCall).toBeGreaterThan(calls[0]!.atReply + 10);
  });

  it('prepares larger slices for an embedder that queues: its next request does not wait for this thread', async () => {
    const { calls, counts } = await overlapCase('overlap-queued', true);
    expect(counts).toMatchObject({ added: 120, failed: 0 });
    // More records rendered while the first request was out than the small slices would allow.
    expect(calls[0]!.atReply - calls[0]!.atCall).toBeGreaterThan(12);
  });

  it('when a request fails while an older one is still embedding, rejects once that one is over and starts nothing after', async () => {
    await failureCase('request-failure', () => new TransientError('embeddings server answered 503'));
  });

  it('on a read failure while requests are embedding, rejects only once they are over, and a retry completes the batch', async () => {
    const { ctx, upserts } = await open('failure');
    const renderer = ctx.deps.renderer;
    const render = renderer.render.bind(renderer);
    let rendered = 0;
    let busy = true;
    renderer.render = (key: string) => {
      // The CRM database is locked while a later slice is prepared.
      if (busy && ++rendered === 40)
        throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
      return render(key);
    };
    try {
      const failed = await indexKeys(ctx.deps, ctx.store, longKeys).then(
        () => null,
        (err: unknown) => ({ err, running: upserts.running, finished: upserts.finished }),
      );
      expect(failed?.err).toBeInstanceOf(TransientError);
      expect(failed!.running).toBe(0);
      await new Promise((r) => setTimeout(r, 300));
      expect(upserts.sizes.length).toBe(failed!.finished);
      busy = false;
      await expectRetryCompletes(ctx);
    } finally {
      await ctx.close();
    }
  });

  it('indexes a record larger than the bound on held chunks, with more keys after it on the page', async () => {
    // One record of more chunks than maxHeldChunks shuts the gate by itself; the part-filled request
    // holding its last chunks must still go out, or nothing is ever written and the stream waits forever.
    const db = openCrm(dbPath);
    const rng = new Rng(77);
    const ctxText = { org: 'Acme Robotics', people: ['Ana Lima'], sector: 'fintech', city: 'Lisbon' };
    const body = Array.from({ length: 100 }, () => bodyParagraphs(rng, ctxText, 'long').join('\n\n')).join(
      '\n\n',
    );
    const id = (
      db
        .prepare(
          "INSERT INTO interactions (kind, occurred_at, subject, body, owner) VALUES ('meeting', '2026-01-02', 'A transcript', ?, 'ana') RETURNING id",
        )
        .get(body) as { id: number }
    ).id;
    db.close();
    const { ctx } = await open('huge', { MAX_CHUNKS_PER_RECORD: '4096' });
    try {
      const keys = [...longKeys.slice(0, 30), `interactions:${id}`, ...longKeys.slice(30, 60)];
      const r = await indexKeys(ctx.deps, ctx.store, keys);
      expect(r.counts).toMatchObject({ added: 61, failed: 0 });
      const huge = (await ctx.store.getRecordStates([`interactions:${id}`])).get(`interactions:${id}`)!;
      expect(huge.chunkCount).toBeGreaterThan(maxHeldChunks(ctx.deps));
    } finally {
      await ctx.close();
    }
  }, 60_000);

  it('indexes a key given twice in one page once', async () => {
    const { ctx, upserts } = await open('duplicates');
    try {
      const keys = [...longKeys.slice(0, 40), ...longKeys.slice(0, 40)];
      const r = await indexKeys(ctx.deps, ctx.store, keys);
      expect(r.counts).toMatchObject({ added: 40, failed: 0 });
      expect(upserts.sizes.reduce((a, b) => a + b, 0)).toBe(r.counts.chunks);
      expect(await ctx.store.count()).toBe(r.counts.chunks);
    } finally {
      await ctx.close();
    }
  });
});
