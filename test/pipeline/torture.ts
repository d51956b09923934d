/**
 * Crash torture, shared by the short test and the long script
 * (bench/crash-torture.ts): `crm-index follow` runs as a child process while
 * a writer mutates the CRM at random; the follower is killed with SIGKILL at
 * random moments and restarted. At the end the store must equal what a fresh
 * full index of the final database holds: the sweep finds nothing to repair.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type Database from 'better-sqlite3';
import { openPipeline } from '../../runs/context.js';
import { sweep } from '../../runs/sweep.js';
import { backlog } from '../../triggers/changelog.js';
import { worldEnv, waitFor, type World } from './harness.js';
import type { SweepReport } from '../../runs/events.js';
import { mulberry32 } from '../../crm/demo/rng.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(root, 'dist/cli/main.js');

export function spawnFollow(world: World, env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [CLI, 'follow'], {
    env: { ...process.env, ...worldEnv(world.dbPath, world.server.url, env) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

/** One random CRM write: insert, update or delete across tables, or a link change. */
export function randomWrite(db: Database.Database, rnd: () => number, i: number): void {
  const r = rnd();
  const pick = (table: string) =>
    db.prepare(`SELECT id FROM ${table} ORDER BY random() LIMIT 1`).pluck().get() as number | undefined;
  if (r < 0.3) {
    db.prepare(
      "INSERT INTO notes (subject_table, subject_id, author, body) VALUES ('organizations', 1, 'T', ?)",
    ).run(`torture note ${i} ${rnd()}`);
  } else if (r < 0.55) {
    const id = pick('notes');
    if (id) db.prepare('UPDATE notes SET body = ? WHERE id = ?').run(`torture update ${i}`, id);
  } else if (r < 0.65) {
    const id = pick('notes');
    if (id) db.prepare('DELETE FROM notes WHERE id = ?').run(id);
  } else if (r < 0.75) {
    db.prepare('UPDATE organizations SET name = ? WHERE id = ?').run(
      `Org renamed ${i}`,
      1 + Math.floor(rnd() * 3),
    );
  } else if (r < 0.85) {
    db.prepare('INSERT INTO people (full_name, email, organization_id) VALUES (?, ?, ?)').run(
      `Person ${i}`,
      `p${i}@x.com`,
      1 + Math.floor(rnd() * 3),
    );
  } else if (r < 0.95) {
    const p = pick('people');
    const it = pick('interactions');
    if (p && it)
      db.prepare('INSERT OR IGNORE INTO interaction_people (interaction_id, person_id) VALUES (?, ?)').run(
        it,
        p,
      );
  } else {
    db.prepare('UPDATE interactions SET body = ? WHERE id = 1').run(
      `Long body ${i} `.repeat(200 + Math.floor(rnd() * 400)),
    );
  }
}

export async function torture(
  world: World,
  opts: { kills: number; seed: number; log?: (s: string) => void },
): Promise<{ report: SweepReport; writes: number }> {
  const rnd = mulberry32(opts.seed);
  let writes = 0;
  // Each kill lands while the follower is really working: wait for it to be up before writing.
  const started = (c: ChildProcess): Promise<void> =>
    new Promise((resolve) => {
      let buf = '';
      const done = (): void => {
        c.stderr!.off('data', on);
        c.stderr!.resume(); // keep draining: a full pipe would block the child
        resolve();
      };
      const on = (d: Buffer): void => {
        buf += String(d);
        if (buf.includes('/healthz')) done();
      };
      c.stderr!.on('data', on);
      c.once('exit', done);
    });
  // Each child's exit, captured at spawn: a follower that dies by itself must fail the run, not hang it.
  const exits = new WeakMap<ChildProcess, Promise<number | null>>();
  const spawnWatched = (): ChildProcess => {
    const c = spawnFollow(world);
    exits.set(c, new Promise((resolve) => c.once('exit', (code) => resolve(code))));
    return c;
  };
  let child = spawnWatched();
  for (let k = 0; k < opts.kills; k++) {
    await started(child);
    if (child.exitCode !== null)
      throw new Error(`follow exited by itself with code ${child.exitCode} before kill ${k + 1}`);
    const n = 5 + Math.floor(rnd() * 25);
    for (let i = 0; i < n; i++) {
      randomWrite(world.crm, rnd, writes++);
      if (rnd() < 0.3) await new Promise((r) => setTimeout(r, Math.floor(rnd() * 15)));
    }
    await new Promise((r) => setTimeout(r, Math.floor(rnd() * 250)));
    const alive = child.exitCode === null && child.signalCode === null;
    child.kill('SIGKILL');
    const code = await exits.get(child)!;
    if (!alive) throw new Error(`follow exited by itself with code ${code} during kill ${k + 1}'s writes`);
    opts.log?.(`kill ${k + 1}/${opts.kills} after ${writes} writes`);
    child = spawnWatched();
  }
  // Let the last follower drain everything, then stop it gracefully.
  const db = world.crm;
  await waitFor('backlog drained', () => backlog(db, 'index') === 0, 60_000);
  child.kill('SIGTERM');
  await exits.get(child);
  // The proof: a sweep comparing every source fingerprint with the store finds nothing to repair.
  const ctx = await openPipeline(world.config);
  try {
    const report = await sweep(ctx);
    return { report, writes };
  } finally {
    await ctx.close();
  }
}
