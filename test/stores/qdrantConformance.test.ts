/**
 * Conformance of every request the Qdrant store sends, without a Qdrant server.
 *
 * The compiled store drives the real `@qdrant/js-client-rest` against a
 * recording server on 127.0.0.1 that answers like Qdrant. Every recorded body
 * is then checked two ways:
 * 1. against the types the client ships (generated from Qdrant's OpenAPI
 *    spec): the bodies are written out as object literals typed with the
 *    endpoint's `Schemas[...]` type and compiled with the TypeScript compiler,
 *    so a missing field, a wrong type or an unknown key fails;
 * 2. against the server's constraints the types cannot express, listed in
 *    FACTS below, each with where in Qdrant's source it comes from.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bm25Encoder } from '../../encoders/bm25.js';
import { openQdrantStore } from '../../stores/qdrant.js';
import { MIN_SERVER, parseVersion, versionAtLeast } from '../../stores/qdrantRequests.js';
import { FILTER_FIELDS, FILTER_FIELD_NAMES } from '../../stores/filterFields.js';
import { makePoint } from './contract.js';

interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  body: any;
}

/** The client type of each endpoint's body (`Schemas[name]`), keyed by method and path shape. */
const BODY_TYPES: [method: string, path: RegExp, schema: string][] = [
  ['PUT', /^\/collections\/[^/]+$/, 'CreateCollection'],
  ['PUT', /^\/collections\/[^/]+\/index$/, 'CreateFieldIndex'],
  ['PUT', /^\/collections\/[^/]+\/points$/, 'PointInsertOperations'],
  ['POST', /^\/collections\/[^/]+\/points\/query$/, 'QueryRequest'],
  ['POST', /^\/collections\/[^/]+\/points\/scroll$/, 'ScrollRequest'],
  ['POST', /^\/collections\/[^/]+\/points\/delete$/, 'PointsSelector'],
  ['POST', /^\/collections\/[^/]+\/points\/count$/, 'CountRequest'],
  ['POST', /^\/collections\/aliases$/, 'ChangeAliasesOperation'],
];

/** RFC 3339 date-time (section 5.6), the form every server version's datetime parser takes first. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Every object in a JSON value, depth first. */
function* objects(v: unknown): Generator<Record<string, unknown>> {
  if (Array.isArray(v)) for (const x of v) yield* objects(x);
  else if (v && typeof v === 'object') {
    yield v as Record<string, unknown>;
    for (const x of Object.values(v)) yield* objects(x);
  }
}

function sparseVectorsOf(r: Recorded): { indices: unknown; values: unknown }[] {
  const out: { indices: unknown; values: unknown }[] = [];
  for (const o of objects(r.body)) if ('indices' in o && 'values' in o) out.push(o as never);
  return out;
}

/**
 * What the server enforces beyond the OpenAPI types. Each returns the problems
 * found in one request (empty: conforms).
 */
const FACTS: { fact: string; source: string; check: (r: Recorded, all: Recorded[]) => string[] }[] = [
  {
    fact: 'datetime range bounds are RFC 3339 (with seconds and a zone): older servers reject `T10:00Z`, `+02:00` without seconds, `T10`, and `T10:00` before 1.18',
    source:
      'qdrant lib/segment/src/types.rs, `impl FromStr for DateTimePayloadType` (parse_from_rfc3339, then a few naive forms)',
    check: (r) => {
      const bad: string[] = [];
      for (const o of objects(r.body)) {
        if (o.key !== 'date' || !o.range) continue;
        for (const [k, v] of Object.entries(o.range as object)) {
          if (typeof v !== 'string' || !RFC3339.test(v)) bad.push(`date range ${k}=${JSON.stringify(v)}`);
        }
      }
      return bad;
    },
  },
  {
    fact: 'sparse indices are unsigned 32-bit integers',
    source: 'qdrant lib/sparse/src/common/types.rs, `pub type DimId = u32`',
    check: (r) =>
      sparseVectorsOf(r).flatMap((v) =>
        (v.indices as unknown[])
          .filter((i) => !Number.isInteger(i) || (i as number) < 0 || (i as number) > 0xffffffff)
          .map((i) => `sparse index ${String(i)}`),
      ),
  },
  {
    fact: 'sparse indices are unique and as many as the values',
    source: 'qdrant lib/sparse/src/common/sparse_vector.rs, `validate_sparse_vector_impl`',
    check: (r) =>
      sparseVectorsOf(r).flatMap((v) => {
        const idx = v.indices as number[];
        const out: string[] = [];
        if (new Set(idx).size !== idx.length) out.push(`duplicate sparse indices ${JSON.stringify(idx)}`);
        if (idx.length !== (v.values as number[]).length) out.push('indices and values differ in length');
        return out;
      }),
  },
  {
    fact: 'point ids are a UUID string or an unsigned integer',
    source: 'qdrant lib/segment/src/types.rs, `enum ExtendedPointId { NumId(u64), Uuid(Uuid) }`',
    check: (r) => {
      const ids: unknown[] = [];
      if (Array.isArray(r.body?.points)) for (const p of r.body.points) ids.push(p.id);
      if (r.body?.offset !== undefined) ids.push(r.body.offset);
      return ids
        .filter(
          (id) =>
            !(typeof id === 'string' && UUID.test(id)) &&
            !(typeof id === 'number' && Number.isSafeInteger(id) && id >= 0),
        )
        .map((id) => `point id ${JSON.stringify(id)}`);
    },
  },
  {
    fact: 'a point names only the vectors its collection declares, the dense one at the declared size',
    source:
      'qdrant.tech/documentation/concepts/vectors (named vectors): a point may only carry the vectors its collection declares',
    check: (r, all) => {
      const create = all.find((x) => x.method === 'PUT' && /^\/collections\/[^/]+$/.test(x.path));
      if (!Array.isArray(r.body?.points) || !create) return [];
      const dense = Object.keys(create.body.vectors ?? {});
      const sparse = Object.keys(create.body.sparse_vectors ?? {});
      const size = create.body.vectors?.dense?.size;
      const bad: string[] = [];
      for (const p of r.body.points) {
        for (const name of Object.keys(p.vector ?? {})) {
          if (!dense.includes(name) && !sparse.includes(name)) bad.push(`undeclared vector ${name}`);
        }
        if (p.vector?.dense?.length !== size)
          bad.push(`dense of ${p.vector?.dense?.length} values, not ${size}`);
      }
      return bad;
    },
  },
  {
    fact: 'a query uses only declared vectors, and a prefetch does not repeat the top-level filter (merged into every prefetch since 1.10)',
    source: 'qdrant lib/collection/src/operations/universal_query/planned_query.rs',
    check: (r) => {
      if (!r.path.endsWith('/points/query')) return [];
      const bad: string[] = [];
      for (const p of [r.body, ...(r.body.prefetch ?? [])]) {
        if (p.using !== undefined && !['dense', 'bm25'].includes(p.using)) bad.push(`using ${p.using}`);
      }
      for (const p of r.body.prefetch ?? []) if (p.filter) bad.push('prefetch carries a filter');
      return bad;
    },
  },
  {
    fact: 'write consistency is at most the replication factor; cluster settings appear only when set',
    source:
      'qdrant.tech/documentation/scaling/consistency-guarantees: write_consistency_factor replicas must acknowledge each write, so more than a shard has can never succeed',
    check: (r) => {
      if (!(r.method === 'PUT' && /^\/collections\/[^/]+$/.test(r.path))) return [];
      const wc = r.body.write_consistency_factor ?? 1;
      const rf = r.body.replication_factor ?? 1;
      return wc > rf ? [`write_consistency_factor ${wc} > replication_factor ${rf}`] : [];
    },
  },
  {
    fact: `DBSF fusion only on a server of ${MIN_SERVER.dbsf.join('.')} or newer`,
    source: 'qdrant release notes 1.11 (Fusion::Dbsf); lib/segment/src/common/score_fusion.rs',
    check: (r) =>
      JSON.stringify(r.body ?? null).includes('"dbsf"') &&
      !versionAtLeast(parseVersion(SERVER_VERSION)!, MIN_SERVER.dbsf)
        ? ['dbsf sent to an older server']
        : [],
  },
];

const SERVER_VERSION = '1.17.0';

/** The client's installed folder (its package.json is not exported, so walk up from its entry). */
function clientDir(): string {
  let dir = path.dirname(createRequire(import.meta.url).resolve('@qdrant/js-client-rest'));
  const named = (d: string) =>
    fs.existsSync(path.join(d, 'package.json')) &&
    JSON.parse(fs.readFileSync(path.join(d, 'package.json'), 'utf8')).name === '@qdrant/js-client-rest';
  while (!named(dir) && dir !== path.dirname(dir)) dir = path.dirname(dir);
  return dir;
}

/** TypeScript's diagnostics for `source`, compiled strictly against the client's own type definitions. */
async function typeErrors(source: string): Promise<string[]> {
  const ts = (await import('typescript')).default;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qdrant-conformance-'));
  const file = path.join(dir, 'bodies.ts');
  const types = path.join(clientDir(), 'dist/types/index');
  fs.writeFileSync(file, source.replace("'@qdrant/js-client-rest'", JSON.stringify(types)));
  try {
    const program = ts.createProgram([file], {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      target: ts.ScriptTarget.ES2022,
    });
    return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Just enough of Qdrant's REST behaviour for the store to run its whole life once. */
function fakeQdrant(seen: Recorded[]): http.Server {
  const collections = new Map<string, { size: number; points: Map<string, any> }>();
  const aliases = new Map<string, string>();
  const resolve = (name: string) => aliases.get(name) ?? name;
  return http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      const u = new URL(req.url!, 'http://x');
      const body = raw ? JSON.parse(raw) : undefined;
      seen.push({ method: req.method!, path: u.pathname, query: u.searchParams, body });
      const send = (result: unknown, status = 200) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ result, status: status < 300 ? 'ok' : { error: 'not found' }, time: 0 }));
      };
      const m = /^\/collections\/([^/]+)(\/.*)?$/.exec(u.pathname);
      if (u.pathname === '/') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ title: 'qdrant - vector search engine', version: SERVER_VERSION }));
      }
      if (u.pathname === '/aliases') {
        return send({
          aliases: [...aliases].map(([alias_name, collection_name]) => ({ alias_name, collection_name })),
        });
      }
      if (u.pathname === '/collections/aliases') {
        for (const a of body.actions) {
          if (a.delete_alias) aliases.delete(a.delete_alias.alias_name);
          if (a.create_alias) aliases.set(a.create_alias.alias_name, a.create_alias.collection_name);
        }
        return send(true);
      }
      if (!m) return send(null, 404);
      const [, name, rest = ''] = m;
      const c = collections.get(resolve(decodeURIComponent(name!)));
      if (rest === '/exists') return send({ exists: c !== undefined });
      if (req.method === 'PUT' && rest === '') {
        collections.set(name!, { size: body.vectors.dense.size, points: new Map() });
        return send(true);
      }
      if (req.method === 'DELETE' && rest === '') return send(collections.delete(name!));
      if (!c) return send(null, 404);
      if (req.method === 'GET' && rest === '') {
        return send({
          status: 'green',
          config: { params: { vectors: { dense: { size: c.size, distance: 'Cosine' } } } },
        });
      }
      if (rest === '/index') return send({ operation_id: 1, status: 'completed' });
      if (rest === '/points' && req.method === 'PUT') {
        for (const p of body.points) c.points.set(p.id, p);
        return send({ operation_id: 1, status: 'completed' });
      }
      const pts = [...c.points.values()];
      if (rest === '/points/query') {
        return send({
          points: pts
            .slice(0, body.limit)
            .map((p) => ({ id: p.id, version: 1, score: 0.5, payload: p.payload })),
        });
      }
      if (rest === '/points/scroll') {
        const page = pts.filter((p) => p.payload.chunk_index === 0).slice(0, body.limit);
        return send({ points: page.map((p) => ({ id: p.id, payload: p.payload })), next_page_offset: null });
      }
      if (rest === '/points/count') return send({ count: c.points.size });
      if (rest === '/points/delete') return send({ operation_id: 2, status: 'completed' });
      return send(null, 404);
    });
  });
}

describe('Qdrant conformance: every request body the store builds, checked against the client types and the server', () => {
  const seen: Recorded[] = [];
  let server: http.Server;

  beforeAll(async () => {
    server = fakeQdrant(seen);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const bm25 = new Bm25Encoder();
    const texts = [
      'Acme Robotics raised a Series B led by Northwind; the partners met in Oslo.',
      'Follow-up call about churn at Acme: the CFO worried about gearbox supply.',
      'Term sheet for Globex signed; diligence on the custody stack is done.',
    ];
    const dim = 4;
    const point = (i: number, date: string | null) =>
      makePoint({
        recordKey: `interactions:${i}`,
        dense: [0.1 * (i + 1), 0.2, -0.3, 0.4],
        sparse: bm25.encodeDocument(texts[i % texts.length]!),
        payload: {
          table: 'interactions',
          kind: 'meeting',
          organization_id: String(i),
          entity_ids: ['org:1', 'person:2'],
          date,
        },
      });
    const store = openQdrantStore({
      url,
      alias: 'crm_chunks',
      cluster: { replication: 2, writeConsistency: 2 },
    });
    await store.ensure({ dim, model: 'm' });
    await store.upsert([point(0, '2024-03-31T10:00:00Z'), point(1, '2024-04-01 09:30'), point(2, null)]);
    const q = 'Acme gearbox churn';
    const sparse = bm25.encodeQuery(q);
    const dense = [0.3, 0.1, 0.2, 0.1];
    // Every filter field with its values, and date bounds in the forms the server rejects as they are.
    const filter = {
      ...Object.fromEntries(FILTER_FIELD_NAMES.map((k) => [k, [`x-${FILTER_FIELDS[k].payload}`]])),
      dateFrom: '2024-03-31T10:00+02:00',
      dateTo: '2024-04-30',
    };
    await store.search({ mode: 'dense', dense, limit: 5, filter });
    await store.search({ mode: 'sparse', sparse, limit: 5, filter: { dateFrom: '2024-03-31 10:00Z' } });
    await store.search({ mode: 'hybrid', dense, sparse, limit: 5, filter, prefetchLimit: 20 });
    await store.search({
      mode: 'hybrid',
      dense,
      sparse,
      limit: 5,
      fusion: 'dbsf',
      filter: { dateTo: '2024-04-01T10:00' },
    });
    await store.getRecordStates(['interactions:0', 'interactions:1']);
    for await (const page of store.scrollRecordStates(2)) expect(page.length).toBeGreaterThan(0);
    await store.deleteChunksFrom([{ recordKey: 'interactions:0', fromIndex: 1 }]);
    await store.deleteRecords(['interactions:2']);
    await store.count();
    const next = await store.beginGeneration({ dim, model: 'm' });
    await next.upsert([point(3, '2024-05-01T00:00:00.5+01:00')]);
    await store.activateGeneration(next);
    const spare = await store.beginGeneration({ dim, model: 'm' });
    await store.dropGeneration(spare);
  }, 60_000);

  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('the store exercised every endpoint it uses, and asked the server version first', () => {
    expect(seen[0]).toMatchObject({ method: 'GET', path: '/' });
    for (const [method, shape, schema] of BODY_TYPES) {
      expect(
        seen.some((r) => r.method === method && shape.test(r.path)),
        `no ${method} request for ${schema}`,
      ).toBe(true);
    }
  });

  it('every body compiles as the Schemas type the client ships for its endpoint', async () => {
    const lines = ["import type { Schemas } from '@qdrant/js-client-rest';"];
    let typed = 0;
    seen.forEach((r, i) => {
      const t = BODY_TYPES.find(([m, p]) => m === r.method && p.test(r.path));
      if (!t) {
        expect(r.body, `${r.method} ${r.path} has a body but no type to check it against`).toBeUndefined();
        return;
      }
      lines.push(`export const b${i}: Schemas['${t[2]}'] = ${JSON.stringify(r.body)};`);
      typed++;
    });
    expect(typed).toBeGreaterThan(15);
    expect(await typeErrors(lines.join('\n'))).toEqual([]);
  }, 60_000);

  it('the type check itself fails on a body the server would not take (a misspelt key)', async () => {
    const errors = await typeErrors(
      "import type { Schemas } from '@qdrant/js-client-rest';\nexport const b: Schemas['QueryRequest'] = { query: [1], usng: 'dense', limit: 1 };",
    );
    expect(errors.join('\n')).toMatch(/usng/);
  }, 60_000);

  for (const f of FACTS) {
    it(`${f.fact} (${f.source})`, () => {
      const problems = seen.flatMap((r) => f.check(r, seen).map((p) => `${r.method} ${r.path}: ${p}`));
      expect(problems).toEqual([]);
    });
  }

  it('the facts catch what they state (each check fails on a body that breaks it)', () => {
    const req = (body: unknown, p = '/collections/c/points/query'): Recorded => ({
      method: 'POST',
      path: p,
      query: new URLSearchParams(),
      body,
    });
    const byName = (s: string) => FACTS.find((f) => f.fact.startsWith(s))!;
    expect(
      byName('datetime').check(
        req({ filter: { must: [{ key: 'date', range: { gte: '2024-03-31T10:00Z' } }] } }),
        [],
      ),
    ).toHaveLength(1);
    expect(
      byName('sparse indices are unsigned').check(
        req({ query: { indices: [-1, 2 ** 32], values: [1, 1] } }),
        [],
      ),
    ).toHaveLength(2);
    expect(
      byName('sparse indices are unique').check(req({ query: { indices: [3, 3], values: [1, 1] } }), []),
    ).toHaveLength(1);
    expect(
      byName('point ids').check(req({ points: [{ id: 'deals:1' }, { id: -1 }, { id: 7 }] }), []),
    ).toHaveLength(2);
    expect(
      byName('a query uses').check(req({ prefetch: [{ filter: {}, using: 'dense' }] }), []),
    ).toHaveLength(1);
  });
});
