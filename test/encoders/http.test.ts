import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  ConfigError,
  EmbedderFaultError,
  PermanentError,
  TransientError,
  loadConfig,
} from '../../config/index.js';
import { HttpEmbedder, createHttpEmbedder, type HttpEmbedderOverrides } from '../../encoders/http.js';
import { ThreadedHttpEmbedder } from '../../encoders/httpThread.js';
import {
  BACKOFF_CAP_MS,
  decodeBase64Float32,
  embeddingsUrl,
  encodeBase64Float32,
  parseEmbeddingsReply,
  parseRetryAfter,
  planBatches,
  retryDelayMs,
  truncateToTokens,
} from '../../encoders/httpRequests.js';
import { expectedVector, startEmbeddingsServer, type EmbeddingsServer } from '../helpers/embeddingsServer.js';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  onThread = false;
  while (open.length) await open.pop()!.close();
});

async function server(opts: Parameters<typeof startEmbeddingsServer>[0] = {}): Promise<EmbeddingsServer> {
  const s = await startEmbeddingsServer(opts);
  open.push(s);
  return s;
}

/** Whether client() runs the HTTP client on a thread of its own (what the runs use) or in this one. */
let onThread = false;

function client(srv: EmbeddingsServer, o: HttpEmbedderOverrides = {}): HttpEmbedder | ThreadedHttpEmbedder {
  const settings = {
    baseUrl: srv.url,
    model: 'test-model',
    verifyTls: true,
    batchSize: 4,
    maxTokensPerRequest: 10_000,
    concurrency: 2,
    timeoutMs: 5_000,
    maxRetries: 3,
    backoffBaseMs: 5,
    ...o,
  };
  const e = onThread ? new ThreadedHttpEmbedder(settings) : new HttpEmbedder(settings);
  open.push(e);
  return e;
}

/** Embeddings requests after the init probe. */
function batchInputs(srv: EmbeddingsServer): string[][] {
  return srv.inputs().slice(1);
}

function expectVectorsMatch(got: Float32Array[], texts: string[], dim: number): void {
  expect(got).toHaveLength(texts.length);
  got.forEach((v, i) => {
    const want = expectedVector(texts[i]!, dim);
    expect(v).toHaveLength(dim);
    for (let d = 0; d < dim; d++) expect(v[d]).toBeCloseTo(want[d]!, 5);
  });
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

const words = (n: number): string[] =>
  Array.from({ length: n }, (_, i) => `text number ${i} about topic ${i % 7}`);

describe('request helpers (pure)', () => {
  it('appends /v1/embeddings to a base URL with or without a trailing /v1', () => {
    expect(embeddingsUrl('https://spark:8443')).toBe('https://spark:8443/v1/embeddings');
    expect(embeddingsUrl('https://spark:8443/v1/')).toBe('https://spark:8443/v1/embeddings');
    expect(embeddingsUrl('http://h/proxy/')).toBe('http://h/proxy/v1/embeddings');
  });

  it('splits batches by item count and by estimated tokens, keeping input order', () => {
    const byCount = planBatches(['a', 'b', 'c', 'd', 'e'], 2, 1000);
    expect(byCount.map((b) => b.texts)).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    expect(byCount.map((b) => b.start)).toEqual([0, 2, 4]);
    const t10 = 'x'.repeat(40); // 10 tokens
    const byTokens = planBatches([t10, t10, t10, t10, t10], 100, 25);
    expect(byTokens.map((b) => b.texts.length)).toEqual([2, 2, 1]);
  });

  it('truncates a single text over the token budget and sends it alone', () => {
    const big = 'y'.repeat(500);
    const batches = planBatches(['small', big, 'tail'], 10, 50);
    expect(batches.map((b) => b.texts.map((t) => t.length))).toEqual([[5], [200], [4]]);
    expect(batches[1]!.truncated).toEqual([1]);
  });

  it('does not cut a surrogate pair in half when truncating', () => {
    const s = 'abc' + '😀'.repeat(10);
    const cut = truncateToTokens(s, 1); // 4 chars: 'abc' + a high surrogate would be invalid
    expect(cut).toBe('abc');
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('2', now)).toBe(2000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('uses full jitter below an exponentially growing ceiling, and the server hint when given', () => {
    expect(retryDelayMs(3, undefined, 100, () => 0.999)).toBe(799);
    expect(retryDelayMs(3, undefined, 100, () => 0)).toBe(0);
    expect(retryDelayMs(30, undefined, 100, () => 0.5)).toBe(BACKOFF_CAP_MS / 2);
    expect(retryDelayMs(0, 1234, 100, () => 0.5)).toBe(1234);
  });

  it('round-trips float32 little-endian base64', () => {
    const v = new Float32Array([1.5, -0.25, 3.0e-7, 42]);
    expect(Array.from(decodeBase64Float32(encodeBase64Float32(v))!)).toEqual(Array.from(v));
    expect(decodeBase64Float32('AAA=')).toBeUndefined(); // 2 bytes: not a float32 multiple
  });

  it('sorts reply items by index and normalises them to unit length', () => {
    const body = JSON.stringify({
      data: [
        { index: 1, embedding: [0, 2] },
        { index: 0, embedding: [3, 4] },
      ],
    });
    const r = parseEmbeddingsReply(body, { base: 'http://x', expectedCount: 2, expectedDim: 2 });
    expect(Array.from(r.vectors[0]!)).toEqual([expect.closeTo(0.6, 6), expect.closeTo(0.8, 6)]);
    expect(Array.from(r.vectors[1]!)).toEqual([0, 1]);
  });
});

describe.each([
  ['in this thread', false],
  ['on a thread of its own', true],
])('HttpEmbedder %s, against a real server', (_where, threaded) => {
  beforeEach(() => {
    onThread = threaded;
  });

  it('returns vectors in input order across batches and concurrent requests', async () => {
    const srv = await server({ dim: 8, always: { kind: 'shuffle' }, delayMs: 30 });
    const e = client(srv, { batchSize: 3, concurrency: 3 });
    const texts = words(25);
    const got = await e.embed(texts);
    expectVectorsMatch(got, texts, 8);
    expect(batchInputs(srv).flat()).toEqual(expect.arrayContaining(texts));
    expect(srv.maxInFlight).toBeGreaterThan(1);
    expect(srv.maxInFlight).toBeLessThanOrEqual(3);
  });

  it('sends at most EMBED_BATCH_SIZE texts per request', async () => {
    const srv = await server();
    const e = client(srv, { batchSize: 4 });
    await e.embed(words(10));
    expect(batchInputs(srv).map((b) => b.length)).toEqual([4, 4, 2]);
  });

  it('keeps each request within the token budget', async () => {
    const srv = await server();
    const e = client(srv, { batchSize: 100, maxTokensPerRequest: 64, concurrency: 1 });
    const texts = Array.from({ length: 7 }, (_, i) => `${i} `.padEnd(100, 'z')); // 25 tokens each
    const got = await e.embed(texts);
    expect(got).toHaveLength(7);
    const sizes = batchInputs(srv).map((b) => b.reduce((a, t) => a + Math.ceil(t.length / 4), 0));
    expect(sizes.every((s) => s <= 64)).toBe(true);
    expect(batchInputs(srv).map((b) => b.length)).toEqual([2, 2, 2, 1]);
  });

  it('truncates a text over the token budget instead of failing its batch', async () => {
    const srv = await server();
    const e = client(srv, { maxTokensPerRequest: 64, concurrency: 1 });
    const got = await e.embed(['short', 'w '.repeat(1000)]);
    expect(got).toHaveLength(2);
    expect(batchInputs(srv).map((b) => b.map((t) => t.length))).toEqual([[5], [256]]);
    expect(e.stats.truncated).toBe(1);
  });

  it('sends model, input array and encoding_format base64 by default, and decodes base64', async () => {
    const srv = await server({ dim: 16 });
    const e = client(srv);
    const got = await e.embed(['alpha beta', 'gamma']);
    expectVectorsMatch(got, ['alpha beta', 'gamma'], 16);
    const last = srv.requests.at(-1)!.body as Record<string, unknown>;
    expect(last).toEqual({ model: 'test-model', input: ['alpha beta', 'gamma'], encoding_format: 'base64' });
    expect(e.encoding).toBe('base64');
  });

  it('falls back to float when the server rejects base64, and remembers it', async () => {
    const srv = await server({ base64: 'reject' });
    const e = client(srv);
    const got = await e.embed(['one', 'two']);
    expectVectorsMatch(got, ['one', 'two'], 8);
    expect(e.encoding).toBe('float');
    await e.embed(['three']);
    const formats = srv.requests.map((r) => (r.body as { encoding_format?: string }).encoding_format);
    expect(formats).toEqual(['base64', 'float', 'float', 'float']);
  });

  it('switches to float when the server answers base64 requests with float arrays', async () => {
    const srv = await server({ base64: 'ignore' });
    const e = client(srv);
    await e.init();
    expect(e.encoding).toBe('float');
    expectVectorsMatch(await e.embed(['x y']), ['x y'], 8);
  });

  it('learns the dimension from a one-text probe in init()', async () => {
    const srv = await server({ dim: 12 });
    const e = client(srv);
    expect(e.dim).toBe(0);
    await e.init();
    await e.init(); // idempotent
    expect(e.dim).toBe(12);
    expect(srv.count).toBe(1);
    expect(srv.inputs()[0]).toHaveLength(1);
  });

  it('fails init() when EMBEDDING_DIM does not match the server, naming both sizes', async () => {
    const srv = await server({ dim: 12 });
    const e = client(srv, { dim: 768 });
    const err = await rejection(e.init());
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toMatch(/EMBEDDING_DIM=768/);
    expect(err.message).toMatch(/12-dimensional/);
  });

  it('retries a request that times out, and then succeeds', async () => {
    const srv = await server();
    const e = client(srv, { timeoutMs: 300 });
    await e.init();
    srv.enqueue({ kind: 'delay', ms: 3_000 });
    const got = await e.embed(['slow one']);
    expectVectorsMatch(got, ['slow one'], 8);
    expect(e.stats.retries).toBe(1);
    expect(srv.count).toBe(3);
  });

  it('waits for Retry-After seconds on 429 before retrying', async () => {
    const srv = await server();
    const e = client(srv);
    await e.init();
    srv.enqueue({ kind: 'status', status: 429, retryAfter: '1' });
    const got = await e.embed(['busy']);
    expectVectorsMatch(got, ['busy'], 8);
    const [first, second] = srv.requests.slice(-2);
    // Correctness, not timing precision: backoff alone would be at most 5 ms here.
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(900);
  });

  it('retries 503 and then succeeds', async () => {
    const srv = await server();
    const e = client(srv);
    await e.init();
    srv.enqueue({ kind: 'status', status: 503 }, { kind: 'status', status: 502 });
    expectVectorsMatch(await e.embed(['a', 'b']), ['a', 'b'], 8);
    expect(e.stats.retries).toBe(2);
  });

  it('retries a connection dropped mid-reply and one reset before any reply', async () => {
    const srv = await server();
    const e = client(srv);
    await e.init();
    srv.enqueue({ kind: 'drop' }, { kind: 'reset' });
    expectVectorsMatch(await e.embed(['dropped']), ['dropped'], 8);
    expect(e.stats.retries).toBe(2);
  });

  it('gives up with a TransientError naming the attempts when the server stays down', async () => {
    const srv = await server();
    const e = client(srv, { maxRetries: 2 });
    await e.init();
    srv.setAlways({ kind: 'status', status: 503 });
    const err = await rejection(e.embed(['x']));
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toMatch(/HTTP 503/);
    expect(err.message).toMatch(/3 attempt/);
    expect(srv.count).toBe(4);
  });

  it('reports an unreachable server as transient and names SPARK_CONTROL_URL', async () => {
    const srv = await server();
    const url = srv.url;
    await srv.close();
    open.pop();
    const e = client(srv, { baseUrl: url, maxRetries: 1 });
    const err = await rejection(e.init());
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toMatch(/SPARK_CONTROL_URL/);
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it('retries garbage JSON on 200, then succeeds', async () => {
    const srv = await server();
    const e = client(srv);
    await e.init();
    srv.enqueue({ kind: 'garbage' });
    expectVectorsMatch(await e.embed(['g']), ['g'], 8);
  });

  it('turns garbage JSON that persists into a PermanentError quoting the body', async () => {
    const srv = await server();
    const e = client(srv, { maxRetries: 2 });
    await e.init();
    srv.setAlways({ kind: 'garbage', body: 'upstream exploded <oops>' });
    const err = await rejection(e.embed(['g']));
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toMatch(/upstream exploded <oops>/);
    expect(srv.count).toBe(4);
  });

  it('rejects vectors of the wrong dimension with a PermanentError naming both sizes', async () => {
    const srv = await server({ dim: 8 });
    const e = client(srv);
    await e.init();
    srv.enqueue({ kind: 'wrongDim', dim: 5 });
    const err = await rejection(e.embed(['w']));
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toMatch(/5-dimensional/);
    expect(err.message).toMatch(/8 dimensions/);
    expect(srv.count).toBe(2);
  });

  it.each([
    ['base64 float32 NaN', 'base64' as const, false],
    ['null in a float array', 'float' as const, false],
    ['a Python NaN literal', 'float' as const, true],
  ])('rejects NaN (%s) with a PermanentError', async (_name, encodingFormat, python) => {
    const srv = await server();
    const e = client(srv, { encodingFormat });
    await e.init();
    srv.enqueue({ kind: 'nan', python });
    const err = await rejection(e.embed(['n']));
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toMatch(/NaN|null/);
    expect(srv.count).toBe(2);
  });

  it('rejects a reply with fewer vectors than inputs, without retrying', async () => {
    const srv = await server();
    const e = client(srv);
    await e.init();
    srv.enqueue({ kind: 'fewer' });
    const err = await rejection(e.embed(['a', 'b', 'c']));
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toMatch(/2 embedding\(s\) for 3 input/);
    expect(srv.count).toBe(2);
  });

  it('rejects items without an index', async () => {
    const srv = await server();
    const e = client(srv);
    await e.init();
    srv.enqueue({ kind: 'noIndex' });
    const err = await rejection(e.embed(['a']));
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toMatch(/index undefined/);
  });

  it('fails a 400 at once with a PermanentError quoting the body and naming SPARK_CONTROL_URL', async () => {
    const srv = await server();
    const e = client(srv);
    await e.init();
    srv.enqueue({ kind: 'status', status: 400, body: '{"error":{"message":"model not loaded: foo"}}' });
    const err = await rejection(e.embed(['a']));
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toMatch(/HTTP 400/);
    expect(err.message).toMatch(/model not loaded: foo/);
    expect(err.message).toMatch(/SPARK_CONTROL_URL=http:\/\/127\.0\.0\.1/);
    expect(srv.count).toBe(2);
  });

  it('sends the API key as a bearer token, and a wrong key fails pointing at SPARK_CONTROL_API_KEY', async () => {
    const srv = await server({ apiKey: 's3cret' });
    const good = client(srv, { apiKey: 's3cret' });
    await good.embed(['k']);
    expect(srv.requests.at(-1)!.headers.authorization).toBe('Bearer s3cret');
    const bad = client(srv, { apiKey: 'wrong' });
    const err = await rejection(bad.init());
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toMatch(/HTTP 401/);
    expect(err.message).toMatch(/SPARK_CONTROL_API_KEY/);
    expect(err.message).not.toMatch(/wrong/);
  });

  it('stops at once when the caller aborts, with the caller reason', async () => {
    const srv = await server({ delayMs: 2_000 });
    const e = client(srv, { dim: 8 });
    const ac = new AbortController();
    const p = e.embed(['a', 'b'], { signal: ac.signal });
    setTimeout(() => ac.abort(new Error('shutting down')), 50);
    const err = await rejection(p);
    expect(err.message).toBe('shutting down');
  });

  it('returns [] for no texts without a request', async () => {
    const srv = await server();
    const e = client(srv);
    expect(await e.embed([])).toEqual([]);
    expect(srv.count).toBe(0);
  });
});

describe('TLS', () => {
  it('refuses a self-signed certificate by default, with a ConfigError naming SPARK_CONTROL_VERIFY_TLS', async () => {
    const srv = await server({ tls: true });
    const e = client(srv);
    const err = await rejection(e.init());
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/SPARK_CONTROL_VERIFY_TLS=false/);
    expect(srv.count).toBe(0);
  });

  it('accepts it with SPARK_CONTROL_VERIFY_TLS=false, for this endpoint only', async () => {
    const srv = await server({ tls: true, dim: 6 });
    const config = loadConfig({
      env: { SPARK_CONTROL_URL: srv.url, SPARK_CONTROL_VERIFY_TLS: 'false', EMBEDDING_MODEL: 'm' },
      envFile: false,
    });
    const e = createHttpEmbedder(config, { backoffBaseMs: 5 });
    open.push(e);
    expectVectorsMatch(await e.embed(['secure text']), ['secure text'], 6);
    // The global dispatcher still verifies: a plain fetch to the same server fails.
    const err = await rejection(fetch(`${srv.url}/healthz`));
    expect(String((err as { cause?: { code?: string } }).cause?.code)).toMatch(/SELF_SIGNED|CERT/);
  });
});

describe('ThreadedHttpEmbedder', () => {
  it('fails the requests of a thread that dies as transient, and the next call starts a new one', async () => {
    const srv = await server({ dim: 8, delayMs: 400 });
    onThread = true;
    const e = client(srv) as ThreadedHttpEmbedder;
    await e.init();
    const pending = e.embed(['alpha', 'beta']);
    await new Promise((r) => setTimeout(r, 100));
    await (e as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    const err = await rejection(pending);
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toMatch(/thread stopped .*retried on a new one/);
    expectVectorsMatch(await e.embed(['alpha', 'beta']), ['alpha', 'beta'], 8);
  });

  it("rebuilds the embedder's own fault on this side: a refused key is an EmbedderFaultError", async () => {
    const srv = await server({ dim: 8, apiKey: 'right' });
    onThread = true;
    const err = await rejection(client(srv, { apiKey: 'wrong' }).embed(['alpha']));
    expect(err).toBeInstanceOf(EmbedderFaultError);
    expect(err.message).toMatch(/SPARK_CONTROL_API_KEY/);
  });

  it('keeps the process alive while a request is out, and lets it exit once none is', async () => {
    const srv = await server({ dim: 8, delayMs: 500 });
    const script = [
      `import { ThreadedHttpEmbedder } from ${JSON.stringify(new URL('../../encoders/httpThread.ts', import.meta.url).href)};`,
      `const e = new ThreadedHttpEmbedder({ baseUrl: ${JSON.stringify(srv.url)}, model: 'm', verifyTls: true,`,
      `  batchSize: 4, maxTokensPerRequest: 10000, concurrency: 2, timeoutMs: 5000, maxRetries: 0, backoffBaseMs: 5 });`,
      `const v = await e.embed(['alpha', 'beta']);`,
      `console.log(v.length, v[0].length);`,
      // Never closed: the process must still end on its own.
    ].join('\n');
    const started = Date.now();
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        timeout: 20_000,
      },
    );
    expect(stdout.trim()).toBe('2 8');
    // The reply took 2 x 500 ms (the probe, then the batch): the process waited for it.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });
});

describe('createHttpEmbedder', () => {
  it('maps the config: model, key, batch size, dimension', async () => {
    const srv = await server({ dim: 8, apiKey: 'k1' });
    const config = loadConfig({
      env: {
        SPARK_CONTROL_URL: `${srv.url}/v1`,
        SPARK_CONTROL_API_KEY: 'k1',
        EMBEDDING_MODEL: 'BAAI/bge-small-en-v1.5',
        EMBEDDING_DIM: '8',
        EMBED_BATCH_SIZE: '2',
      },
      envFile: false,
    });
    const e = createHttpEmbedder(config);
    open.push(e);
    expect(e.modelId).toBe('BAAI/bge-small-en-v1.5');
    expect(e.dim).toBe(8);
    await e.embed(['a', 'b', 'c']);
    expect(batchInputs(srv).map((b) => b.length)).toEqual([2, 1]);
    expect(srv.requests.every((r) => r.url === '/v1/embeddings')).toBe(true);
  });

  it('throws a ConfigError when SPARK_CONTROL_URL is unset', () => {
    const config = loadConfig({ env: {}, envFile: false });
    expect(() => createHttpEmbedder(config)).toThrow(/SPARK_CONTROL_URL is not set/);
  });
});
