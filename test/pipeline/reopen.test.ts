/**
 * The CRM database deleted or replaced while `follow` runs: a clear error,
 * then a retry that picks up the new file (a restore from backup) and keeps
 * indexing. A real child process, real files.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { Bm25Encoder } from '../../encoders/bm25.js';
import { createDenseEmbedder } from '../../encoders/factory.js';
import { runRefresh } from '../../runs/runs.js';
import { createSearchEngine } from '../../search/engine.js';
import { createStore } from '../../stores/factory.js';
import { makeWorld, waitFor, type World } from './harness.js';
import { spawnFollow } from './torture.js';
import type { ChildProcess } from 'node:child_process';

let world: World | undefined;
let child: ChildProcess | undefined;
afterEach(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
  }
  await world?.close();
});

describe('follow when the CRM database goes away', () => {
  it('reports a deleted database clearly, waits, and reopens the restored file', async () => {
    world = await makeWorld();
    await runRefresh(world.config, { waitMs: 5000 });
    const backup = path.join(world.dir, 'backup.db');
    world.crm.exec(`VACUUM INTO '${backup}'`);
    child = spawnFollow(world);
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += String(d)));
    await waitFor('follow up', () => stderr.includes('/healthz'));

    for (const s of ['', '-wal', '-shm']) fs.rmSync(world.dbPath + s, { force: true });
    await waitFor('clear error', () => stderr.includes('was deleted or replaced while following'));
    await waitFor('waiting for the file', () =>
      stderr.includes(`waiting for ${world!.dbPath} to exist again`),
    );
    expect(child.exitCode).toBeNull();

    fs.copyFileSync(backup, world.dbPath);
    await waitFor('reopened', () => stderr.split('/healthz').length > 2);
    const db = new Database(world.dbPath);
    db.prepare(
      "INSERT INTO notes (id, subject_table, subject_id, author, body) VALUES (77, 'organizations', 1, 'R', 'Restored phoenix memo')",
    ).run();
    db.close();

    const store = await createStore(world.config);
    const dense = await createDenseEmbedder(world.config);
    const engine = createSearchEngine({ store, dense, sparse: new Bm25Encoder() });
    try {
      await waitFor('write to the restored file indexed', async () =>
        (await engine.search('phoenix', { mode: 'sparse' })).some((h) => h.key === 'notes:77'),
      );
    } finally {
      await store.close();
      await dense.close();
    }
    expect(child.exitCode).toBeNull();
  });
});
