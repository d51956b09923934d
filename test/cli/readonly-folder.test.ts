/**
 * A CRM database in a folder the user cannot write: readable, but SQLite's
 * WAL mode needs to create `-wal` and `-shm` beside it. The message says
 * that, instead of "check that it is readable". Root ignores folder
 * permissions, so as root the CLI runs as the unprivileged user 65534.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../search/fixtures.js';
import { CLI, SHIPPED_HEAP } from './helpers.js';

const isRoot = process.getuid?.() === 0;
const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => fs.existsSync(p));
const canTest = process.platform !== 'win32' && (!isRoot || setpriv !== undefined);
if (!canTest)
  console.warn('read-only folder test skipped: running as root without setpriv to drop privileges');

describe.skipIf(!canTest)('a CRM database in a read-only folder', () => {
  const dir = tempDir('crm-index-ro-folder-');
  const ro = path.join(dir, 'ro');
  afterAll(() => {
    fs.chmodSync(ro, 0o755);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('says the folder must be writable for WAL, naming the -wal and -shm files', () => {
    fs.chmodSync(dir, 0o755);
    fs.mkdirSync(ro);
    const db = new Database(path.join(ro, 'crm.db'));
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (x)');
    db.close();
    fs.chmodSync(ro, 0o555);
    const cmd = [process.execPath, SHIPPED_HEAP, CLI, 'verify', '--db', path.join(ro, 'crm.db')];
    const argv = isRoot ? [setpriv!, '--reuid=65534', '--regid=65534', '--clear-groups', ...cmd] : cmd;
    const r = spawnSync(argv[0]!, argv.slice(1), {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, LOG_LEVEL: 'warn' },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(3);
    expect(r.stderr).toContain(
      `The CRM database ${path.join(ro, 'crm.db')} is readable, but its folder ${ro} is not writable: SQLite in WAL mode must create crm.db-wal and crm.db-shm beside it, even to read.`,
    );
    expect(r.stderr).not.toMatch(/check that it is readable/i);
  });
});
