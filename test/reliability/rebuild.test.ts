/**
 * A rebuild killed with SIGKILL mid-way leaves its half-built generation in
 * index.db; the next follow start (or rebuild) removes it, so the space comes
 * back without anyone having to know it was there.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoDatabase } from '../../crm/demo/create.js';
import { CLI } from '../pipeline/torture.js';

let dir: string;
let env: NodeJS.ProcessEnv;

function generations(): string[] {
  const db = new Database(path.join(dir, 'index.db'), { readonly: true });
  try {
    return db.prepare('SELECT name FROM _store_generations ORDER BY name').pluck().all() as string[];
  } finally {
    db.close();
  }
}

function run(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...env, ...extra },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-index-killed-rebuild-'));
  createDemoDatabase({ dbPath: path.join(dir, 'crm.db'), records: 3000, seed: 7 });
  env = {
    ...process.env,
    CRM_DB_PATH: path.join(dir, 'crm.db'),
    CRM_INDEX_HTTP_PORT: '0',
    LOG_LEVEL: 'warn',
  };
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('a rebuild killed mid-way', () => {
  it('leaves a generation that the next rebuild removes', async () => {
    expect((await run(['rebuild'])).code).toBe(0);
    expect(generations()).toHaveLength(1);
    const served = generations()[0];
    // Kill the second rebuild once its new generation holds points.
    const child = spawn(process.execPath, [CLI, 'rebuild'], { env, stdio: 'ignore' });
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (generations().length === 2) break;
      if (Date.now() > deadline) throw new Error('the second rebuild never began a generation');
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    expect(generations()).toHaveLength(2);
    const r = await run(['rebuild']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/removed 1 generation\(s\) an unfinished rebuild left/);
    const after = generations();
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(served);
  }, 120_000);
});
