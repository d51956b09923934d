/**
 * The full entity resolution runs in a worker with its own heap limit: it
 * gives the same result as in-process, and a CRM too large for the limit is a
 * clear ConfigError naming ENTITY_RESOLUTION_HEAP_MB, not a crash of the run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../config/errors.js';
import { createDemoDatabase } from '../../crm/demo/create.js';
import { resolveFullInWorker } from '../../entities/fullInWorker.js';
import { resolveFull } from '../../entities/resolve.js';

let dir: string;
let dbPath: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-index-resolve-worker-'));
  dbPath = path.join(dir, 'crm.db');
  createDemoDatabase({ dbPath, records: 2000, seed: 21 });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const entityRows = () => {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db.prepare('SELECT record_key, entity_id FROM entity_links ORDER BY record_key').all();
  } finally {
    db.close();
  }
};

describe('resolveFullInWorker', () => {
  it('resolves the same entities as an in-process full resolution', async () => {
    const summary = await resolveFullInWorker({ dbPath, busyTimeoutMs: 5000, heapMb: 512 });
    expect(summary.people.records).toBeGreaterThan(0);
    const inWorker = entityRows();
    const db = new Database(dbPath);
    try {
      db.exec('DELETE FROM entity_links; DELETE FROM entities; DELETE FROM entity_keys;');
      resolveFull(db);
    } finally {
      db.close();
    }
    expect(entityRows()).toEqual(inWorker);
  }, 60_000);

  it('reports a heap too small for the CRM as a ConfigError naming the setting', async () => {
    const err = await resolveFullInWorker({ dbPath, busyTimeoutMs: 5000, heapMb: 4 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/ENTITY_RESOLUTION_HEAP_MB=4 MB/);
    expect((err as Error).message).toMatch(/--no-resolve/);
  }, 60_000);
});
