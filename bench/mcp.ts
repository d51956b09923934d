/**
 * MCP query latency and HTTP throughput on the embedded store.
 *
 *   npx tsx bench/mcp.ts [--chunks 100000] [--queries 200] [--http-seconds 5] [--concurrency 8]
 *
 * Builds an embedded index of N synthetic chunks (dense: hashed bag of words
 * of 100 dims, the local embedder's size; sparse: the real BM25 encoder), then
 * measures per mode: the engine alone (baseline), tools/call through an
 * in-process MCP client, and tools/call throughput over stateless HTTP.
 * The ratio column is MCP latency over the engine baseline from this run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { setLogLevel } from '../config/log.js';
import { REFERENCE_SCHEMA_SQL } from '../crm/schema.js';
import { DEFAULT_SOURCE_MAP } from '../crm/sourceMap.js';
import { Bm25Encoder } from '../encoders/bm25.js';
import type { DenseEmbedder } from '../encoders/types.js';
import { createMcpContext } from '../mcp/context.js';
import { startMcpHttp } from '../mcp/http.js';
import { buildMcpServer } from '../mcp/server.js';
import { createSearchEngine, type SearchMode } from '../search/engine.js';
import { openEmbeddedStore } from '../stores/embedded.js';
import { pointId } from '../stores/ids.js';
import type { ChunkPoint } from '../stores/types.js';
import { hashVector as fixtureVector } from '../test/search/fixtures.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const N = arg('chunks', 100_000);
const Q = arg('queries', 200);
const HTTP_SECONDS = arg('http-seconds', 5);
const CONCURRENCY = arg('concurrency', 8);
const DIM = 100;

setLogLevel('warn');

// The same hashed bag of words the search tests use, at the local embedder's size.
const hashVector = (text: string): Float32Array => fixtureVector(text, DIM);

const dense: DenseEmbedder = {
  modelId: 'bench-hash-100',
  dim: DIM,
  init: async () => undefined,
  embed: async (t) => t.map((x) => hashVector(x)),
  close: async () => undefined,
};

// Deterministic pseudo-random words: a Zipf-ish vocabulary so sparse postings vary in length.
let seed = 42;
const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
const VOCAB = Array.from({ length: 20_000 }, (_, i) => `w${i.toString(36)}${'aeiou'[i % 5]}`);
const word = () => VOCAB[Math.floor(VOCAB.length * rnd() ** 3)]!;
const sentence = (n: number) => Array.from({ length: n }, word).join(' ');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-index-bench-mcp-'));
const crmPath = path.join(dir, 'crm.db');
const crm = new Database(crmPath);
crm.pragma('journal_mode = WAL');
crm.exec(REFERENCE_SCHEMA_SQL);
crm.close();

const store = openEmbeddedStore(path.join(dir, 'index.db'));
await store.ensure({ dim: DIM, model: dense.modelId });
const sparse = new Bm25Encoder();
const tables = ['organizations', 'people', 'deals', 'interactions', 'notes'];
let t0 = performance.now();
const BATCH = 2000;
for (let start = 0; start < N; start += BATCH) {
  const points: ChunkPoint[] = [];
  for (let i = start; i < Math.min(N, start + BATCH); i++) {
    const rec = Math.floor(i / 3);
    const key = `${tables[rec % 5]}:${rec}`;
    const text = sentence(60);
    points.push({
      id: pointId(key, i % 3),
      dense: hashVector(text),
      sparse: sparse.encodeDocument(text),
      payload: {
        record_key: key,
        table: tables[rec % 5]!,
        chunk_index: i % 3,
        chunk_count: 3,
        fingerprint: 'f',
        text,
        title: `record ${rec}`,
        kind: null,
        stage: null,
        organization_id: String(rec % 500),
        date: `2024-01-${String((rec % 28) + 1).padStart(2, '0')}`,
        owner: null,
        entity_ids: [],
      },
    });
  }
  await store.upsert(points);
}
const buildMs = performance.now() - t0;

const engine = createSearchEngine({ store, dense, sparse });
const ctx = createMcpContext({
  dbPath: crmPath,
  sourceMap: DEFAULT_SOURCE_MAP,
  engine: async () => engine,
  readOnly: true,
});
const [ct, st] = InMemoryTransport.createLinkedPair();
await buildMcpServer(ctx).connect(st);
const client = new Client({ name: 'bench', version: '1' });
await client.connect(ct);

const queries = Array.from({ length: Q }, () => sentence(4));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

// Warm up: the embedded store builds its in-memory mirror on the first search.
await engine.search('warm up', { mode: 'hybrid' });

const rows: string[][] = [];
for (const mode of ['sparse', 'dense', 'hybrid'] as SearchMode[]) {
  const base: number[] = [];
  const viaMcp: number[] = [];
  for (const q of queries) {
    t0 = performance.now();
    await engine.search(q, { mode, limit: 10 });
    base.push(performance.now() - t0);
    t0 = performance.now();
    const r = await client.callTool({ name: 'search', arguments: { query: q, mode, limit: 10 } });
    viaMcp.push(performance.now() - t0);
    if (r.isError) throw new Error(`search failed: ${JSON.stringify(r.content)}`);
  }
  rows.push([
    mode,
    pct(base, 50).toFixed(2),
    pct(base, 95).toFixed(2),
    pct(viaMcp, 50).toFixed(2),
    pct(viaMcp, 95).toFixed(2),
    (pct(viaMcp, 50) / pct(base, 50)).toFixed(2),
  ]);
}
await client.close();

// HTTP throughput: CONCURRENCY clients calling tools/call (hybrid search) for HTTP_SECONDS.
const srv = await startMcpHttp({ ctx, host: '127.0.0.1', port: 0 });
const clients = await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    const c = new Client({ name: 'bench-http', version: '1' });
    await c.connect(new StreamableHTTPClientTransport(new URL(srv.url)));
    return c;
  }),
);
let calls = 0;
const deadline = performance.now() + HTTP_SECONDS * 1000;
const httpLat: number[] = [];
await Promise.all(
  clients.map(async (c, k) => {
    let i = k;
    while (performance.now() < deadline) {
      const s = performance.now();
      await c.callTool({
        name: 'search',
        arguments: { query: queries[i++ % queries.length]!, mode: 'hybrid', limit: 10 },
      });
      httpLat.push(performance.now() - s);
      calls++;
    }
  }),
);
await Promise.all(clients.map((c) => c.close()));
await srv.close();
ctx.close();
await store.close();
fs.rmSync(dir, { recursive: true, force: true });

console.log(
  `\nMCP search latency, embedded store, ${N.toLocaleString()} chunks (index built in ${(buildMs / 1000).toFixed(1)} s), ${Q} queries per mode, ms`,
);
console.log('| mode | engine p50 | engine p95 | MCP p50 | MCP p95 | MCP/engine p50 |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
console.log(`\nHTTP tools/call (hybrid search), ${CONCURRENCY} concurrent clients, ${HTTP_SECONDS} s`);
console.log('| calls/s | p50 ms | p95 ms |');
console.log('| --- | --- | --- |');
console.log(
  `| ${(calls / HTTP_SECONDS).toFixed(1)} | ${pct(httpLat, 50).toFixed(2)} | ${pct(httpLat, 95).toFixed(2)} |`,
);
