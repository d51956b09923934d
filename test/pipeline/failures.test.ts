/**
 * Ugly input and poison records: nothing crashes the pipeline, nothing is lost,
 * and what cannot be indexed lands in dead letters with its error.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openPipeline } from '../../runs/context.js';
import { INDEX_CONSUMER } from '../../runs/context.js';
import { drainUntilEmpty } from '../../runs/drain.js';
import { listDeadLetters, requeueDeadLetters } from '../../runs/failures.js';
import { Lease, makeOwner } from '../../runs/lease.js';
import { runRefresh } from '../../runs/runs.js';
import { ensureConsumer } from '../../triggers/changelog.js';
import { makeWorld, worldConfig, type World } from './harness.js';

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

async function drainAll(w: World, env: Record<string, string> = {}) {
  const ctx = await openPipeline(worldConfig(w.dbPath, w.server.url, env));
  const lease = new Lease(ctx.db, INDEX_CONSUMER, makeOwner('test'), 10_000);
  ensureConsumer(ctx.db, INDEX_CONSUMER);
  await lease.acquire(1000);
  try {
    const r = await drainUntilEmpty(ctx, { consumer: INDEX_CONSUMER, lease });
    const states = await ctx.store.getRecordStates(['notes:70', 'notes:71', 'notes:72', 'notes:73']);
    return { r, states, dead: listDeadLetters(ctx.db) };
  } finally {
    lease.release();
    await ctx.close();
  }
}

describe('bad input', () => {
  it('indexes NUL bytes, invalid UTF-8 and a 10 MB field, cutting the long one to MAX_CHUNKS_PER_RECORD chunks', async () => {
    world = await makeWorld();
    await runRefresh(world.config, { waitMs: 5000 });
    const ins = world.crm.prepare(
      "INSERT INTO notes (id, subject_table, subject_id, author, body) VALUES (?, 'organizations', 1, 'X', ?)",
    );
    ins.run(70, 'before\0after NUL');
    world.crm
      .prepare(
        "INSERT INTO notes (id, subject_table, subject_id, author, body) VALUES (71, 'organizations', 1, 'X', CAST(x'6f6bfffe207a' AS TEXT))",
      )
      .run();
    ins.run(72, 'Ten megabytes of meeting notes. '.repeat(330_000));
    ins.run(73, Buffer.from([0, 1, 2, 3]));
    const { r, states, dead } = await drainAll(world, { MAX_CHUNKS_PER_RECORD: '40' });
    expect(r.counts.failed).toBe(0);
    expect(dead).toEqual([]);
    expect([...states.keys()].sort()).toEqual(['notes:70', 'notes:71', 'notes:72', 'notes:73']);
    expect(states.get('notes:72')!.chunkCount).toBe(40);
  });

  it('dead-letters a poison record after DEAD_LETTER_ATTEMPTS while the rest of its batch goes through, and requeues it', async () => {
    world = await makeWorld({ server: { rejectInputsContaining: 'POISON' } });
    await runRefresh(world.config, { waitMs: 5000 });
    const ins = world.crm.prepare(
      "INSERT INTO notes (id, subject_table, subject_id, author, body) VALUES (?, 'organizations', 1, 'X', ?)",
    );
    ins.run(70, 'a healthy note');
    ins.run(71, 'this one is POISON for the embedder');
    ins.run(72, 'another healthy note');
    const env = { DEAD_LETTER_ATTEMPTS: '1' };
    const { states, dead } = await drainAll(world, env);
    expect(states.has('notes:70')).toBe(true);
    expect(states.has('notes:72')).toBe(true);
    expect(states.has('notes:71')).toBe(false);
    expect(dead.map((d) => [d.recordKey, d.step])).toEqual([['notes:71', 'embed']]);
    expect(dead[0]!.error).toMatch(/400/);
    // The operator fixes the record and requeues it.
    world.crm.prepare("UPDATE notes SET body = 'fixed now' WHERE id = 71").run();
    expect(requeueDeadLetters(world.crm, ['notes:71'])).toBe(1);
    const after = await drainAll(world, env);
    expect(after.states.has('notes:71')).toBe(true);
    expect(after.dead).toEqual([]);
  });

  it('says clearly when the index location cannot be written', async () => {
    world = await makeWorld();
    // Tests run as root here, where permission bits do not stop writes: a path under a regular file does.
    const file = path.join(world.dir, 'not-a-folder');
    fs.writeFileSync(file, 'x');
    const config = worldConfig(world.dbPath, world.server.url, {
      CRM_INDEX_PATH: path.join(file, 'index.db'),
    });
    await expect(runRefresh(config, { waitMs: 1000 })).rejects.toThrow(/not-a-folder.*index\.db/);
  });

  it('says clearly when the CRM database is missing', async () => {
    world = await makeWorld();
    const config = worldConfig(path.join(world.dir, 'nope.db'), world.server.url);
    await expect(runRefresh(config, { waitMs: 1000 })).rejects.toThrow(
      /nope\.db does not exist.*CRM_DB_PATH/,
    );
  });
});
