import { afterEach, describe, expect, it } from 'vitest';
import { TransientError } from '../../config/index.js';
import { startEmbedServer, type EmbedServer } from '../../encoders/embedServer.js';
import { HttpEmbedder, type HttpEmbedderOverrides } from '../../encoders/http.js';
import { decodeBase64Float32 } from '../../encoders/httpRequests.js';
import type { DenseEmbedder } from '../../encoders/types.js';
import { expectedVector } from '../helpers/embeddingsServer.js';

/** A tiny deterministic embedder standing in for the local model (which needs a slow one-time cache build). */
class FakeEmbedder implements DenseEmbedder {
  readonly modelId = 'fake-hash-8d';
  readonly dim = 8;
  calls: string[][] = [];
  failNext = 0;
  async init(): Promise<void> {}
  async embed(texts: string[]): Promise<Float32Array[]> {
    this.calls.push(texts);
    if (this.failNext > 0) {
      this.failNext--;
      throw new TransientError('model is warming up');
    }
    return texts.map((t) => expectedVector(t, this.dim));
  }
  async close(): Promise<void> {}
}

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

async function serve(apiKey?: string): Promise<{ srv: EmbedServer; fake: FakeEmbedder }> {
  const fake = new FakeEmbedder();
  const srv = await startEmbedServer({ embedder: fake, host: '127.0.0.1', port: 0, apiKey });
  open.push(srv);
  return { srv, fake };
}

function client(url: string, o: HttpEmbedderOverrides = {}): HttpEmbedder {
  const e = new HttpEmbedder({
    baseUrl: url,
    model: 'fake-hash-8d',
    verifyTls: true,
    batchSize: 3,
    maxTokensPerRequest: 10_000,
    concurrency: 2,
    timeoutMs: 5_000,
    maxRetries: 3,
    backoffBaseMs: 5,
    ...o,
  });
  open.push(e);
  return e;
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/v1/embeddings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

const texts = ['the quick brown fox', 'jumps over', 'the lazy dog', 'again and again', 'fifth'];

describe('embed server', () => {
  it.each(['base64', 'float'] as const)(
    'round-trips with the HTTP embedder client (%s)',
    async (encodingFormat) => {
      const { srv, fake } = await serve();
      const e = client(srv.url, { encodingFormat });
      const got = await e.embed(texts);
      expect(e.dim).toBe(8);
      got.forEach((v, i) => {
        const want = expectedVector(texts[i]!, 8);
        for (let d = 0; d < 8; d++) expect(v[d]).toBeCloseTo(want[d]!, 6);
      });
      expect(e.encoding).toBe(encodingFormat);
      // the client's probe, then 2 batches of at most 3 (in either order: 2 run at once)
      expect(fake.calls[0]).toHaveLength(1);
      expect(fake.calls.map((c) => c.length).sort()).toEqual([1, 2, 3]);
    },
  );

  it('accepts a single string input, echoes the model and counts usage', async () => {
    const { srv } = await serve();
    const res = await post(srv.url, { model: 'any-name', input: 'abcdefgh' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      data: { index: number; embedding: number[] }[];
      model: string;
      usage: { prompt_tokens: number };
    };
    expect(body.model).toBe('any-name');
    expect(body.data).toHaveLength(1);
    expect(body.data[0]!.index).toBe(0);
    expect(body.data[0]!.embedding).toHaveLength(8);
    expect(body.usage.prompt_tokens).toBe(2);
  });

  it('encodes base64 as little-endian float32', async () => {
    const { srv } = await serve();
    const res = await post(srv.url, { input: ['hello world'], encoding_format: 'base64' });
    const body = (await res.json()) as { data: { embedding: string }[]; model: string };
    expect(body.model).toBe('fake-hash-8d');
    const v = decodeBase64Float32(body.data[0]!.embedding)!;
    expect(Array.from(v)).toEqual(Array.from(expectedVector('hello world', 8)));
  });

  it.each([
    ['bad JSON', '{"input": [', /not valid JSON/],
    ['a missing input', { model: 'm' }, /'input' is a required property/],
    ['token id arrays', { input: [[1, 2, 3]] }, /array of strings/],
    ['an unknown encoding_format', { input: ['a'], encoding_format: 'int8' }, /encoding_format/],
  ])('answers 400 with an OpenAI-style error for %s', async (_name, body, message) => {
    const { srv } = await serve();
    const res = await post(srv.url, body);
    expect(res.status).toBe(400);
    const json = (await res.json()) as { error: { message: string; type: string } };
    expect(json.error.type).toBe('invalid_request_error');
    expect(json.error.message).toMatch(message);
  });

  it('requires the API key when one is set, and serves with it', async () => {
    const { srv } = await serve('k3y');
    expect((await post(srv.url, { input: ['a'] })).status).toBe(401);
    expect((await post(srv.url, { input: ['a'] }, { authorization: 'Bearer nope' })).status).toBe(401);
    expect((await post(srv.url, { input: ['a'] }, { authorization: 'Bearer k3y' })).status).toBe(200);
    const e = client(srv.url, { apiKey: 'k3y' });
    expect(await e.embed(['x'])).toHaveLength(1);
  });

  it('lists the model and answers health checks', async () => {
    const { srv } = await serve();
    const models = (await (await fetch(`${srv.url}/v1/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual(['fake-hash-8d']);
    const health = (await (await fetch(`${srv.url}/healthz`)).json()) as { status: string; dim: number };
    expect(health).toMatchObject({ status: 'ok', dim: 8 });
    expect((await fetch(`${srv.url}/nope`)).status).toBe(404);
  });

  it('answers 503 when the embedder fails transiently, which the client retries', async () => {
    const { srv, fake } = await serve();
    const e = client(srv.url);
    await e.init();
    fake.failNext = 1;
    expect(await e.embed(['retry me'])).toHaveLength(1);
    expect(e.stats.retries).toBe(1);
  });
});
