/**
 * Page-level damage in index.db is visible before a search trips over it:
 * `status` runs a quick integrity check, says what to do, and exits non-zero.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoDatabase } from '../../crm/demo/create.js';
import { CLI } from '../pipeline/torture.js';

let dir: string;
let env: NodeJS.ProcessEnv;
const run = (...args: string[]) =>
  spawnSync(process.execPath, [CLI, ...args], { env, encoding: 'utf8', timeout: 120_000 });

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-index-corrupt-'));
  createDemoDatabase({ dbPath: path.join(dir, 'crm.db'), records: 400, seed: 11 });
  env = { ...process.env, CRM_DB_PATH: path.join(dir, 'crm.db'), LOG_LEVEL: 'silent' };
  const r = run('rebuild');
  if (r.status !== 0) throw new Error(`rebuild failed: ${r.stderr}`);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('status on a damaged index file', () => {
  it('is clean on a healthy file', () => {
    const r = run('status');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/DAMAGED/);
  });

  it('names the damage, says to rebuild, and exits 5', () => {
    const file = path.join(dir, 'index.db');
    const size = fs.statSync(file).size;
    expect(size).toBeGreaterThan(64 * 1024);
    // Overwrite a page in the middle with garbage (the header and schema pages stay intact).
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, Math.floor(size / 2 / 4096) * 4096);
    fs.closeSync(fd);
    const r = run('status');
    expect(r.stdout).toMatch(/index file {3}DAMAGED: .+Run crm-index rebuild/);
    expect(r.status).toBe(5);
  });
});
