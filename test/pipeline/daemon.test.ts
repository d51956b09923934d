/**
 * The follow daemon as a child process: a port that is already taken stops it
 * with the message that says which setting to change, and nothing else (the
 * stream is stopped before the database closes, so no "connection is not
 * open" error follows the real one).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoDatabase } from '../../crm/demo/create.js';
import { CLI } from './torture.js';

let dir: string;
let taken: net.Server;
let port: number;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-index-daemon-'));
  createDemoDatabase({ dbPath: path.join(dir, 'crm.db'), records: 100, seed: 5 });
  taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  port = (taken.address() as net.AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => taken.close(() => resolve()));
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('crm-index follow', () => {
  it('exits with a clear error, and only that one, when its HTTP port is in use', async () => {
    const child = spawn(process.execPath, [CLI, 'follow'], {
      env: {
        ...process.env,
        CRM_DB_PATH: path.join(dir, 'crm.db'),
        CRM_INDEX_HTTP_PORT: String(port),
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).not.toBe(0);
    expect(out).toContain(`127.0.0.1:${port} is already in use`);
    expect(out).toContain('CRM_INDEX_HTTP_PORT');
    expect(out).not.toContain('follow stream failed');
    expect(out).not.toContain('is not open');
  }, 30_000);
});
