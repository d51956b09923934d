/**
 * A small real world for pipeline tests: a CRM SQLite file in a temp dir with
 * the reference schema and a handful of rows, capture installed, an
 * embeddings server on 127.0.0.1 speaking the OpenAI protocol, and a Config
 * pointing at both (embedded store beside the CRM file).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { loadConfig, type Config } from '../../config/index.js';
import { REFERENCE_SCHEMA_SQL } from '../../crm/schema.js';
import { DEFAULT_SOURCE_MAP } from '../../crm/sourceMap.js';
import { installCapture } from '../../triggers/install.js';
import { pointId } from '../../stores/ids.js';
import type { ChunkPoint } from '../../stores/types.js';
import {
  startEmbeddingsServer,
  type EmbeddingsServer,
  type EmbeddingsServerOptions,
} from '../helpers/embeddingsServer.js';

export const SEED_SQL = `
INSERT INTO organizations (id, name, domain, kind, sector, location, description) VALUES
  (1, 'Acme Robotics', 'acme.com', 'portfolio', 'robotics', 'Austin', 'Warehouse robots that sort parcels.'),
  (2, 'Blue Harbor Capital', 'blueharbor.com', 'lp', 'fund of funds', 'Boston', 'Limited partner since fund II.'),
  (3, 'Cobalt Lightning', 'cobalt.io', 'prospect', 'bitcoin infrastructure', 'Lisbon', 'Lightning custody API for exchanges.');
INSERT INTO people (id, full_name, email, title, organization_id, notes) VALUES
  (1, 'Ada Park', 'ada@acme.com', 'CEO', 1, 'Prefers morning calls.'),
  (2, 'Ben Ortiz', 'ben@blueharbor.com', 'Partner', 2, NULL),
  (3, 'Chloé Dubois', 'chloe@cobalt.io', 'CTO', 3, 'Former exchange engineer.'),
  (4, 'Dan Webb', 'dan@acme.com', 'CFO', 1, '');
INSERT INTO deals (id, organization_id, name, stage, amount_usd, round, owner, memo) VALUES
  (1, 1, 'Acme Series A', 'diligence', 8000000, 'Series A', 'Marty', 'Strong unit economics in parcel sorting.'),
  (2, 3, 'Cobalt Seed', 'sourced', 2000000, 'Seed', 'Grant', 'Custody for lightning nodes.');
INSERT INTO interactions (id, kind, occurred_at, subject, body, organization_id, owner) VALUES
  (1, 'meeting', '2026-03-02T10:00:00Z', 'Acme board meeting', 'Reviewed the warehouse pilot with the parcel carrier. Margins improved.', 1, 'Marty'),
  (2, 'call', '2026-04-11T15:00:00Z', 'Cobalt intro call', 'Discussed the custody API and their exchange customers.', 3, 'Grant');
INSERT INTO interaction_people (interaction_id, person_id) VALUES (1, 1), (1, 4), (2, 3);
INSERT INTO notes (id, subject_table, subject_id, author, body) VALUES
  (1, 'organizations', 2, 'Marty', 'Blue Harbor wants quarterly reporting in a new format.');
`;

export interface World {
  dir: string;
  dbPath: string;
  server: EmbeddingsServer;
  config: Config;
  /** A separate connection, like the CRM's own web server. */
  crm: Database.Database;
  close(): Promise<void>;
}

export async function makeWorld(
  opts: { env?: Record<string, string>; server?: EmbeddingsServerOptions; seed?: boolean } = {},
): Promise<World> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-index-pipe-'));
  const dbPath = path.join(dir, 'crm.db');
  const crm = new Database(dbPath);
  crm.pragma('journal_mode = WAL');
  crm.pragma('busy_timeout = 5000');
  crm.exec(REFERENCE_SCHEMA_SQL);
  if (opts.seed !== false) crm.exec(SEED_SQL);
  installCapture(crm, DEFAULT_SOURCE_MAP);
  const server = await startEmbeddingsServer({ dim: 16, ...opts.server });
  const config = worldConfig(dbPath, server.url, opts.env);
  return {
    dir,
    dbPath,
    server,
    config,
    crm,
    async close() {
      crm.close();
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function worldEnv(
  dbPath: string,
  embedUrl: string,
  env: Record<string, string> = {},
): Record<string, string> {
  return {
    CRM_DB_PATH: dbPath,
    SPARK_CONTROL_URL: embedUrl,
    EMBEDDING_MODEL: 'test-hash-16',
    EMBEDDING_DIM: '16',
    RETRY_BASE_MS: '20',
    RETRY_MAX_MS: '200',
    EMBED_MAX_RETRIES: '1',
    POLL_INTERVAL_MS: '50',
    BATCH_LINGER_MS: '2',
    CRM_INDEX_HTTP_PORT: '0',
    LEASE_TTL_MS: '3000',
    LOG_LEVEL: 'silent',
    ...env,
  };
}

export function worldConfig(dbPath: string, embedUrl: string, env: Record<string, string> = {}): Config {
  return loadConfig({ env: worldEnv(dbPath, embedUrl, env), envFile: false });
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * A stored point that is not what the pipeline would write for its record:
 * chunk 0 of `recordKey` with `fingerprint` (drift for a sweep to find).
 */
export function driftPoint(recordKey: string, fingerprint: string, chunkCount = 1, dim = 16): ChunkPoint {
  return {
    id: pointId(recordKey, 0),
    dense: Float32Array.from({ length: dim }, (_, i) => (i === 0 ? 1 : 0)),
    sparse: { indices: [1], values: [1] },
    payload: {
      record_key: recordKey,
      table: recordKey.split(':')[0]!,
      chunk_index: 0,
      chunk_count: chunkCount,
      fingerprint,
      text: 'x',
      title: 'x',
      entity_ids: [],
      kind: null,
      stage: null,
      organization_id: null,
      date: null,
      owner: null,
    },
  };
}
