import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { SourceError, TransientError } from '../../config/errors.js';
import { openCrm, type Db } from '../../crm/db.js';
import { DEFAULT_SOURCE_MAP } from '../../crm/sourceMap.js';
import {
  advanceCursor,
  ensureConsumer,
  getCursor,
  pruneChangelog,
  readChanges,
} from '../../triggers/changelog.js';
import { installCapture } from '../../triggers/install.js';
import { referenceCrm, tempDir } from './helpers.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const children: ChildProcess[] = [];
const dbs: Db[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill();
  for (const d of dbs.splice(0)) d.close();
});

function run(script: string, args: string[]): ChildProcess {
  const child = spawn(process.execPath, [path.join(fixtures, script), ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.push(child);
  return child;
}

function stdoutOf(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`child exited with ${code}`))));
  });
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    child.on('exit', (code) => reject(new Error(`child exited with ${code} before printing`)));
  });
}

describe('a second process writing while this one reads the changelog (WAL mode)', () => {
  it('loses no change, and the reader never blocks the writer for long', async () => {
    const { db, file } = referenceCrm();
    dbs.push(db);
    ensureConsumer(db, 'index');
    const writer = run('writer.mjs', [file, '1500']);
    const done = stdoutOf(writer);
    let finished = false;
    void done.then(
      () => (finished = true),
      () => (finished = true),
    );
    const seen: string[] = [];
    let lastSeq = 0;
    let ordered = true;
    let batchesWhileWriting = 0;
    // Tail the way the pipeline will: short single-statement reads, advance, prune, yield; drain after the writer ends.
    for (;;) {
      const batch = readChanges(db, getCursor(db, 'index'), 200);
      for (const c of batch) {
        if (c.seq <= lastSeq) ordered = false;
        lastSeq = c.seq;
        seen.push(`${c.pk}:${c.op}`);
      }
      if (batch.length > 0) {
        if (!finished) batchesWhileWriting++;
        advanceCursor(db, 'index', batch[batch.length - 1]!.seq);
        pruneChangelog(db, 100);
      } else if (finished) {
        break;
      }
      await yieldToEventLoop();
    }
    const report = JSON.parse(await done) as { maxMs: number; expected: string[] };
    expect(batchesWhileWriting).toBeGreaterThan(0); // the reads really overlapped the writes
    expect(ordered).toBe(true);
    expect(seen).toEqual(report.expected);
    // A correctness bound on blocking (a busy-timeout stall would be seconds), not a benchmark.
    expect(report.maxMs).toBeLessThan(2000);
  });
});

describe('bad input', () => {
  it('reports a missing database file by name and says what to do', () => {
    const file = path.join(tempDir(), 'nope.db');
    expect(() => openCrm(file)).toThrow(SourceError);
    expect(() => openCrm(file)).toThrow(/nope\.db does not exist.*CRM_DB_PATH/);
  });

  it('reports a file that is not SQLite', () => {
    const file = path.join(tempDir(), 'notes.db');
    fs.writeFileSync(file, 'this is a text file, not a database\n'.repeat(200));
    expect(() => openCrm(file)).toThrow(SourceError);
    expect(() => openCrm(file)).toThrow(/not a SQLite database/);
  });

  it('waits for the busy timeout, then reports a database locked by another writer as transient', async () => {
    const { db, file } = referenceCrm({ install: false });
    db.close();
    const holder = run('hold-lock.mjs', [file]);
    expect(await firstLine(holder)).toBe('locked');
    const d = openCrm(file, { busyTimeoutMs: 100 });
    dbs.push(d);
    let error: unknown;
    try {
      installCapture(d, DEFAULT_SOURCE_MAP);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toMatch(/locked by another writer.*SQLITE_BUSY_TIMEOUT_MS/);
    holder.stdin!.end();
    await stdoutOf(holder).catch(() => undefined);
    // Once the lock is released the same install succeeds.
    expect(installCapture(d, DEFAULT_SOURCE_MAP).changed).toBe(true);
  });

  it('reports a locked database as transient from changelog operations too', async () => {
    const { db, file } = referenceCrm();
    dbs.push(db);
    ensureConsumer(db, 'index');
    db.exec(`INSERT INTO organizations (id, name) VALUES (1, 'a')`);
    const holder = run('hold-lock.mjs', [file]);
    expect(await firstLine(holder)).toBe('locked');
    db.pragma('busy_timeout = 50');
    expect(() => advanceCursor(db, 'index', 1)).toThrow(TransientError);
    // Reads still work in WAL mode while another process holds the write lock.
    expect(readChanges(db, 0, 10)).toHaveLength(1);
    holder.stdin!.end();
  });
});
