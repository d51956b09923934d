/**
 * Test fixtures for search and MCP: a small reference CRM with hand-written
 * rows, and an embedded index built by writing points straight to the store
 * (so these tests do not depend on the pipeline). The dense embedder here is
 * a deterministic hashed bag of words: enough to exercise the dense leg's
 * plumbing, not a model of meaning.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { REFERENCE_SCHEMA_SQL } from '../../crm/schema.js';
import { Bm25Encoder } from '../../encoders/bm25.js';
import type { DenseEmbedder, SparseEncoder } from '../../encoders/types.js';
import { openEmbeddedStore } from '../../stores/embedded.js';
import { pointId } from '../../stores/ids.js';
import type { ChunkPoint, VectorStore } from '../../stores/types.js';

export const DIM = 64;

export class HashEmbedder implements DenseEmbedder {
  readonly modelId = 'test-hash-64';
  readonly dim = DIM;
  async init(): Promise<void> {}
  async embed(texts: string[]): Promise<Float32Array[]> {
    return texts.map((t) => hashVector(t));
  }
  async close(): Promise<void> {}
}

export function hashVector(text: string, dim: number = DIM): Float32Array {
  const v = new Float32Array(dim);
  for (const w of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
    let h = 2166136261;
    for (let i = 0; i < w.length; i++) h = Math.imul(h ^ w.charCodeAt(i), 16777619);
    v[(h >>> 0) % dim]! += 1;
  }
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n) || 1;
  for (let i = 0; i < dim; i++) v[i] = v[i]! / n;
  return v;
}

export interface Doc {
  key: string;
  table: string;
  title: string;
  chunks: string[];
  kind?: string;
  stage?: string;
  organization_id?: string;
  date?: string;
  owner?: string;
  entity_ids?: string[];
}

/** Long meeting notes: three chunks, each naming a distinct topic so tests can aim at one. */
export const LONG_MEETING_CHUNKS = [
  'Quarterly board meeting with Acme Robotics. Opening remarks about hiring plans for the warehouse team.',
  'Discussion of the gearbox supply problem: the Shenzhen vendor slipped delivery by six weeks, margins hurt.',
  'Closing: Jane Doe will send the revised forecast; next board meeting scheduled for autumn.',
];

export const DOCS: Doc[] = [
  {
    key: 'organizations:1',
    table: 'organizations',
    title: 'Acme Robotics',
    chunks: ['Organization: Acme Robotics. Kind: portfolio. Sector: robotics. Warehouse automation arms.'],
    kind: 'portfolio',
    date: '2020-01-01',
  },
  {
    key: 'organizations:2',
    table: 'organizations',
    title: 'Borealis Capital',
    chunks: ['Organization: Borealis Capital. Kind: lp. Pension fund allocator in Oslo.'],
    kind: 'lp',
    date: '2020-01-02',
    entity_ids: ['ent-borealis'],
  },
  {
    key: 'people:1',
    table: 'people',
    title: 'Jane Doe',
    chunks: ['Person: Jane Doe. CFO at Acme Robotics. Email jane@acme.example.'],
    organization_id: '1',
    date: '2021-01-01',
    entity_ids: ['ent-jane'],
  },
  {
    key: 'people:2',
    table: 'people',
    title: 'Bob Smith',
    chunks: ['Person: Bob Smith. Partner at Borealis Capital. Loves sailing.'],
    organization_id: '2',
    date: '2021-01-02',
  },
  {
    key: 'deals:1',
    table: 'deals',
    title: 'Acme Series A',
    chunks: ['Deal: Acme Series A. Stage: diligence. Memo: strong robotics team, gearbox risk.'],
    stage: 'diligence',
    organization_id: '1',
    owner: 'alice',
    date: '2022-03-01',
  },
  {
    key: 'deals:2',
    table: 'deals',
    title: 'Borealis Fund II',
    chunks: ['Deal: Borealis Fund II commitment. Stage: closed.'],
    stage: 'closed',
    organization_id: '2',
    owner: 'alice',
    date: '2022-04-01',
  },
  {
    key: 'interactions:1',
    table: 'interactions',
    title: 'Acme board meeting',
    chunks: LONG_MEETING_CHUNKS,
    kind: 'meeting',
    organization_id: '1',
    owner: 'alice',
    date: '2024-05-01T10:00:00Z',
  },
  {
    key: 'interactions:2',
    table: 'interactions',
    title: 'Call with Borealis',
    chunks: ['Call with Bob Smith of Borealis Capital about the Fund II commitment and sailing.'],
    kind: 'call',
    organization_id: '2',
    owner: 'alice',
    date: '2024-06-15T09:00:00Z',
  },
  {
    key: 'interactions:3',
    table: 'interactions',
    title: 'Intro email Acme to Borealis',
    chunks: ['Intro email connecting Jane Doe of Acme Robotics with Bob Smith of Borealis Capital.'],
    kind: 'email',
    organization_id: '1',
    owner: 'alice',
    date: '2023-02-10T12:00:00Z',
  },
  {
    key: 'notes:1',
    table: 'notes',
    title: 'Zyxwv quantum flux note',
    chunks: ['Note about Acme Robotics: Zyxwv quantum flux capacitor patent pending.'],
    date: '2024-07-01',
  },
];

export function makeDocPoints(
  docs: Doc[],
  dense: (t: string) => Float32Array,
  sparse: SparseEncoder,
): ChunkPoint[] {
  const points: ChunkPoint[] = [];
  for (const d of docs) {
    d.chunks.forEach((text, i) => {
      points.push({
        id: pointId(d.key, i),
        dense: dense(text),
        sparse: sparse.encodeDocument(text),
        payload: {
          record_key: d.key,
          table: d.table,
          chunk_index: i,
          chunk_count: d.chunks.length,
          fingerprint: `fp-${d.key}`,
          text,
          title: d.title,
          kind: d.kind ?? null,
          stage: d.stage ?? null,
          organization_id: d.organization_id ?? null,
          date: d.date ?? null,
          owner: d.owner ?? null,
          entity_ids: d.entity_ids ?? [],
        },
      });
    });
  }
  return points;
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** The reference CRM with rows matching DOCS. */
export function makeCrm(dir: string): string {
  const file = path.join(dir, 'crm.db');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec(REFERENCE_SCHEMA_SQL);
  db.exec(`
    INSERT INTO organizations (id, name, domain, kind, sector, location, description, created_at) VALUES
      (1, 'Acme Robotics', 'acme.example', 'portfolio', 'robotics', 'Berlin', 'Warehouse automation arms.', '2020-01-01'),
      (2, 'Borealis Capital', 'borealis.example', 'lp', 'finance', 'Oslo', 'Pension fund allocator in Oslo.', '2020-01-02');
    INSERT INTO people (id, full_name, email, title, organization_id, notes, created_at) VALUES
      (1, 'Jane Doe', 'jane@acme.example', 'CFO', 1, 'Prefers email.', '2021-01-01'),
      (2, 'Bob Smith', 'bob@borealis.example', 'Partner', 2, 'Loves sailing.', '2021-01-02');
    INSERT INTO deals (id, organization_id, name, stage, amount_usd, round, owner, memo, created_at) VALUES
      (1, 1, 'Acme Series A', 'diligence', 5000000, 'Series A', 'alice', 'strong robotics team, gearbox risk', '2022-03-01'),
      (2, 2, 'Borealis Fund II', 'closed', 20000000, 'Fund II', 'alice', 'commitment', '2022-04-01');
    INSERT INTO interactions (id, kind, occurred_at, subject, body, organization_id, owner) VALUES
      (1, 'meeting', '2024-05-01T10:00:00Z', 'Acme board meeting', '${LONG_MEETING_CHUNKS.join(' ')}', 1, 'alice'),
      (2, 'call', '2024-06-15T09:00:00Z', 'Call with Borealis', 'Fund II commitment and sailing.', 2, 'alice'),
      (3, 'email', '2023-02-10T12:00:00Z', 'Intro email Acme to Borealis', 'Connecting Jane and Bob.', 1, 'alice');
    INSERT INTO interaction_people (interaction_id, person_id) VALUES (1, 1), (2, 2), (3, 1), (3, 2);
    INSERT INTO notes (id, subject_table, subject_id, author, body, created_at) VALUES
      (1, 'organizations', 1, 'alice', 'Zyxwv quantum flux capacitor patent pending.', '2024-07-01');
  `);
  db.close();
  return file;
}

export async function makeIndex(file: string, docs: Doc[] = DOCS): Promise<VectorStore> {
  const store = openEmbeddedStore(file);
  await store.ensure({ dim: DIM, model: 'test-hash-64' });
  await store.upsert(makeDocPoints(docs, (t) => hashVector(t), new Bm25Encoder()));
  return store;
}

export interface Fixture {
  dir: string;
  crmPath: string;
  indexPath: string;
  store: VectorStore;
  dense: HashEmbedder;
  sparse: Bm25Encoder;
}

export async function makeFixture(prefix = 'crm-index-search-'): Promise<Fixture> {
  const dir = tempDir(prefix);
  const crmPath = makeCrm(dir);
  const indexPath = path.join(dir, 'index.db');
  const store = await makeIndex(indexPath);
  return { dir, crmPath, indexPath, store, dense: new HashEmbedder(), sparse: new Bm25Encoder() };
}
