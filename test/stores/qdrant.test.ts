/**
 * The Qdrant store: the shared contract against a live server (QDRANT_URL, or a
 * testcontainers Qdrant when Docker works), plus wire checks against a local
 * HTTP server speaking Qdrant's REST shapes, which always run.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentError, StoreError, TransientError } from '../../config/errors.js';
import { openQdrantStore, qdrantError, type QdrantStoreOptions } from '../../stores/qdrant.js';
import { makePoint, runStoreContract } from './contract.js';

const cluster = { shards: 1, replication: 1, writeConsistency: 1 };

/** A server on 127.0.0.1 answering GET / with `version`, and every other request with `answer`. */
async function serverWith(
  version: string,
  answer: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ title: 'qdrant - vector search engine', version }));
      }
      answer(req, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function dockerAvailable(): boolean {
  if (process.env.DOCKER_HOST) return true;
  return fs.existsSync('/var/run/docker.sock');
}

let liveUrl = process.env.QDRANT_URL;
let skipReason: string | undefined;
let stopContainer: (() => Promise<unknown>) | undefined;
if (!liveUrl) {
  if (!dockerAvailable()) {
    skipReason =
      'QDRANT_URL is not set and no Docker daemon is reachable (no /var/run/docker.sock or DOCKER_HOST)';
  } else {
    try {
      const { GenericContainer, Wait } = await import('testcontainers');
      const c = await new GenericContainer('qdrant/qdrant')
        .withExposedPorts(6333)
        .withWaitStrategy(Wait.forHttp('/readyz', 6333))
        .start();
      liveUrl = `http://${c.getHost()}:${c.getMappedPort(6333)}`;
      stopContainer = () => c.stop();
    } catch (err) {
      skipReason = `Docker is present but a Qdrant container did not start: ${(err as Error).message}`;
    }
  }
}
afterAll(async () => {
  await stopContainer?.();
});

runStoreContract(
  'qdrant',
  async () => {
    const alias = `crm_test_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
    const opts: QdrantStoreOptions = { url: liveUrl!, alias, cluster, apiKey: process.env.QDRANT_API_KEY };
    const store = openQdrantStore(opts);
    return {
      store,
      openReader: async () => openQdrantStore(opts),
      cleanup: async () => {
        const { QdrantClient } = await import('@qdrant/js-client-rest');
        const client = new QdrantClient({
          url: liveUrl!,
          apiKey: process.env.QDRANT_API_KEY,
          checkCompatibility: false,
        });
        const { collections } = await client.getCollections();
        for (const c of collections) if (c.name.startsWith(alias)) await client.deleteCollection(c.name);
      },
    };
  },
  skipReason ? { skip: skipReason } : {},
);

describe('Qdrant store on the wire (local HTTP server speaking Qdrant REST)', () => {
  const seen: { method: string; url: string; apiKey: string | undefined; body: any }[] = [];
  let server: http.Server;
  let url: string;
  const pt = makePoint({ recordKey: 'deals:1', dense: [1, 0], sparse: { indices: [3], values: [1] } });

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (d) => (raw += d));
      req.on('end', () => {
        seen.push({
          method: req.method!,
          url: req.url!,
          apiKey: req.headers['api-key'] as string | undefined,
          body: raw ? JSON.parse(raw) : undefined,
        });
        const send = (status: number, result: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ result, status: status < 300 ? 'ok' : { error: 'bad' }, time: 0 }));
        };
        if (req.url!.startsWith('/collections/broken')) return send(400, null);
        if (req.url === '/aliases')
          return send(200, { aliases: [{ alias_name: 'crm_chunks', collection_name: 'crm_chunks_g1' }] });
        if (req.url === '/collections/crm_chunks_g1')
          return send(200, {
            status: 'green',
            config: { params: { vectors: { dense: { size: 2, distance: 'Cosine' } } } },
          });
        if (req.url!.includes('/points/query'))
          return send(200, { points: [{ id: pt.id, version: 1, score: 0.9, payload: pt.payload }] });
        if (req.url!.includes('/points/scroll'))
          return send(200, {
            points: [{ id: pt.id, payload: { record_key: 'deals:1', fingerprint: 'f', chunk_count: 1 } }],
            next_page_offset: null,
          });
        return send(200, { operation_id: 1, status: 'completed' });
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('writes go to the alias with wait=true and the api-key header', async () => {
    const s = openQdrantStore({ url, apiKey: 'sekret', alias: 'crm_chunks', cluster });
    seen.length = 0;
    await s.upsert([pt]);
    await s.deleteRecords(['deals:1']);
    await s.deleteChunksFrom([{ recordKey: 'deals:1', fromIndex: 1 }]);
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /', // the server's version, once per store
      'PUT /collections/crm_chunks/points?wait=true',
      'POST /collections/crm_chunks/points/delete?wait=true',
      'POST /collections/crm_chunks/points/delete?wait=true',
    ]);
    expect(seen.every((r) => r.apiKey === 'sekret')).toBe(true);
    expect(seen[1]!.body.points[0].vector).toEqual({ dense: [1, 0], bm25: { indices: [3], values: [1] } });
  });

  it('ensure resolves the alias and reports a dimension mismatch as a StoreError with both sizes', async () => {
    const s = openQdrantStore({ url, alias: 'crm_chunks', cluster });
    await s.ensure({ dim: 2, model: 'm' });
    expect(s.generation).toBe('crm_chunks_g1');
    const err = await s.ensure({ dim: 768, model: 'm' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toMatch(/2-dimensional.*768.*crm-index rebuild/);
  });

  it('search and record states parse the server responses', async () => {
    const s = openQdrantStore({ url, alias: 'crm_chunks', cluster });
    const hits = await s.search({ mode: 'dense', dense: [1, 0], limit: 1 });
    expect(hits).toEqual([{ id: pt.id, score: 0.9, payload: pt.payload }]);
    const states = await s.getRecordStates(['deals:1']);
    expect(states.get('deals:1')).toEqual({ recordKey: 'deals:1', fingerprint: 'f', chunkCount: 1 });
  });

  it('a 400 from the server is a PermanentError naming what was being done', async () => {
    const s = openQdrantStore({ url, alias: 'broken', cluster });
    const err = await s.upsert([pt]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as Error).message).toMatch(/writing 1 points/);
  });
});

describe('Qdrant server checks, deadlines and search errors', () => {
  it('refuses a server older than 1.10 at open, naming its version and the minimum', async () => {
    const srv = await serverWith('1.9.4', (_req, res) => res.end('{}'));
    try {
      const { createStore } = await import('../../stores/factory.js');
      const { loadConfig } = await import('../../config/index.js');
      const config = loadConfig({ env: { QDRANT_URL: srv.url }, envFile: false });
      const err = await createStore(config).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect((err as Error).message).toMatch(/version 1\.9\.4; crm-index needs 1\.10\.0 or newer/);
    } finally {
      await srv.close();
    }
  });

  it('refuses DBSF on a 1.10 server and serves RRF there', async () => {
    const srv = await serverWith('1.10.1', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ result: { points: [] }, status: 'ok', time: 0 }));
    });
    try {
      const s = openQdrantStore({ url: srv.url, alias: 'crm_chunks', cluster: {} });
      const q = { mode: 'hybrid' as const, dense: [1, 0], sparse: { indices: [1], values: [1] }, limit: 1 };
      await expect(s.search({ ...q, fusion: 'rrf' })).resolves.toEqual([]);
      await expect(s.search({ ...q, fusion: 'dbsf' })).rejects.toThrow(/DBSF fusion needs 1\.11\.0/);
    } finally {
      await srv.close();
    }
  });

  // Without the deadline the client would wait 300 s and this test would time out.
  it('abandons a request after timeoutMs as a TransientError, not after the client default 300 s', async () => {
    const srv = await serverWith('1.17.0', () => undefined); // never answers
    try {
      const s = openQdrantStore({ url: srv.url, alias: 'crm_chunks', cluster: {}, timeoutMs: 300 });
      const err = await s.count().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransientError);
      expect((err as Error).message).toMatch(/while counting points/);
    } finally {
      await srv.close();
    }
  });

  it("a rejected search says what to check, without the write path's dead-letter text", async () => {
    const srv = await serverWith('1.17.0', (_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: { error: 'Bad request: bad datetime' }, time: 0 }));
    });
    try {
      const s = openQdrantStore({ url: srv.url, alias: 'crm_chunks', cluster: {} });
      const err = await s.search({ mode: 'dense', dense: [1, 0], limit: 1 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermanentError);
      expect((err as Error).message).toMatch(/while searching \(dense\).*Check the search arguments/);
      expect((err as Error).message).not.toMatch(/dead-lettered/);
      const w = await s
        .upsert([makePoint({ recordKey: 'deals:1', dense: [1, 0], sparse: { indices: [1], values: [1] } })])
        .catch((e: unknown) => e);
      expect((w as Error).message).toMatch(/dead-lettered/);
    } finally {
      await srv.close();
    }
  });
});

describe('Qdrant error classification', () => {
  it('network failures, 5xx and 429 are transient; 401 is a StoreError about the API key; 4xx permanent', () => {
    expect(qdrantError(new TypeError('fetch failed'), 'http://q', 'x')).toBeInstanceOf(TransientError);
    expect(qdrantError(Object.assign(new Error('x'), { status: 503 }), 'http://q', 'x')).toBeInstanceOf(
      TransientError,
    );
    const rl = qdrantError(
      Object.assign(new Error('x'), { retry_after: 2 }),
      'http://q',
      'x',
    ) as TransientError;
    expect(rl.retryAfterMs).toBe(2000);
    expect(qdrantError(Object.assign(new Error('x'), { status: 401 }), 'http://q', 'x').message).toMatch(
      /QDRANT_API_KEY/,
    );
    expect(qdrantError(Object.assign(new Error('x'), { status: 422 }), 'http://q', 'x')).toBeInstanceOf(
      PermanentError,
    );
  });
});
