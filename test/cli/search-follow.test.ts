/**
 * `crm-index search` asks a running follow on the same database instead of
 * loading the index itself, with the same ranked hits; it searches locally
 * when follow serves another database, or when told to (--local).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoDatabase } from '../../crm/demo/create.js';
import { CLI } from '../pipeline/torture.js';

let dir: string;
let port: number;
let env: NodeJS.ProcessEnv;
let follow: ChildProcess;

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

const search = (extraEnv: NodeJS.ProcessEnv, ...args: string[]) =>
  spawnSync(process.execPath, [CLI, 'search', ...args], { env: { ...env, ...extraEnv }, encoding: 'utf8' });

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-index-search-follow-'));
  createDemoDatabase({ dbPath: path.join(dir, 'crm.db'), records: 400, seed: 4 });
  port = await freePort();
  env = {
    ...process.env,
    CRM_DB_PATH: path.join(dir, 'crm.db'),
    CRM_INDEX_HTTP_PORT: String(port),
    LOG_LEVEL: 'warn',
  };
  const r = spawnSync(process.execPath, [CLI, 'rebuild'], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`rebuild failed: ${r.stderr}`);
  follow = spawn(process.execPath, [CLI, 'follow'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let err = '';
    follow.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('/healthz')) resolve();
    });
    follow.once('exit', (c) => reject(new Error(`follow exited with ${c}: ${err}`)));
  });
}, 120_000);

afterAll(async () => {
  follow.kill('SIGTERM');
  await new Promise((r) => follow.once('exit', r));
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('crm-index search with follow running', () => {
  it('is answered by follow, with the same ranked hits as a local search', () => {
    const viaFollow = search({ LOG_LEVEL: 'debug' }, 'lightning custody', '--mode', 'hybrid', '--json');
    expect(viaFollow.status, viaFollow.stderr).toBe(0);
    expect(viaFollow.stderr).toContain(`answered by follow at http://127.0.0.1:${port}`);
    const local = search(
      { LOG_LEVEL: 'debug' },
      'lightning custody',
      '--mode',
      'hybrid',
      '--json',
      '--local',
    );
    expect(local.status, local.stderr).toBe(0);
    expect(local.stderr).not.toContain('answered by follow');
    const keys = (out: string) =>
      out
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { key: string }).key);
    expect(keys(viaFollow.stdout).length).toBeGreaterThan(0);
    expect(keys(viaFollow.stdout)).toEqual(keys(local.stdout));
  }, 60_000);

  it('searches locally when the follow on that port serves another database', () => {
    const other = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-index-search-other-'));
    try {
      createDemoDatabase({ dbPath: path.join(other, 'crm.db'), records: 100, seed: 9 });
      const r = spawnSync(process.execPath, [CLI, 'rebuild'], {
        env: { ...env, CRM_DB_PATH: path.join(other, 'crm.db') },
        encoding: 'utf8',
      });
      expect(r.status, r.stderr).toBe(0);
      const s = search({ LOG_LEVEL: 'debug', CRM_DB_PATH: path.join(other, 'crm.db') }, 'custody', '--json');
      expect(s.status, s.stderr).toBe(0);
      expect(s.stderr).not.toContain('answered by follow');
    } finally {
      fs.rmSync(other, { recursive: true, force: true });
    }
  }, 60_000);
});
