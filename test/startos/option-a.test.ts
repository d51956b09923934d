/**
 * Way 1: the CRM's own StartOS package runs crm-index beside the CRM with
 * crm-index's builders (startos/builders.ts). test/startos/crm-package is
 * such a package, minimal: its own manifest, SDK and images. Its daemon
 * chain is built here with stand-in effects and read back from the SDK's
 * Daemons entries, the same structure StartOS starts them from.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { configHash } from '@start9labs/start-sdk';
import { crmDaemons } from './crm-package/main.js';
import { rebuildAction } from './crm-package/actions.js';
import { manifest } from './crm-package/manifest.js';
import { DAEMON_IDS, emptyStore, type JobRequest } from '../../startos/builders.js';
import { execArgsFor, jobArgsFor } from '../../startos/env.js';
import { stubEffects } from './stubEffects.js';

const dirs: string[] = [];
function jobsDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-index-option-a-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const store = { ...emptyStore(), mcpAuthToken: 't'.repeat(40) };
const request: JobRequest = {
  id: '20261206T100000Z-rebuild',
  kind: 'rebuild',
  at: '2026-12-06T10:00:00.000Z',
};

describe("crm-index inside the CRM's own package", () => {
  it("adds the MCP server, the indexer and the job health beside the CRM's daemon", () => {
    const { effects } = stubEffects();
    const daemons = crmDaemons(effects, {
      store,
      allowedHosts: ['crm.local', '192.168.1.50'],
      jobRequest: null,
      jobsDir: jobsDir(),
    });
    expect(daemons.entries.map((e) => [e.id, e.kind])).toEqual([
      ['crm', 'daemon'],
      [DAEMON_IDS.mcp, 'daemon'],
      [DAEMON_IDS.indexer, 'daemon'],
      [DAEMON_IDS.jobHealth, 'health'],
    ]);
    const mcp = daemons.entries.find((e) => e.id === DAEMON_IDS.mcp)!;
    if (mcp.kind !== 'daemon') throw new Error('not a daemon');
    const exec = mcp.exec as { command: string[]; env: Record<string, string>; user: string };
    expect(exec.command).toEqual(execArgsFor('mcp'));
    expect(exec.env).toMatchObject({
      CRM_DB_PATH: '/data/crm.db',
      CRM_INDEX_PATH: '/index/index.db',
      MCP_ALLOWED_HOSTS: 'crm.local,192.168.1.50',
      MCP_AUTH_TOKEN: 't'.repeat(40),
    });
    // crm-index's image, on the CRM's own volume (crm.db) and the package's index volume.
    const sub = mcp.subcontainer as unknown as {
      imageId: string;
      mounts: { build(): { mountpoint: string; options: any }[] };
    };
    expect(sub.imageId).toBe('crm-index');
    expect(Object.keys(manifest.images)).toContain(sub.imageId);
    expect(
      sub.mounts
        .build()
        .map((m) => [m.mountpoint, m.options.volumeId])
        .sort(),
    ).toEqual([
      ['/data', 'main'],
      ['/index', 'crm-index'],
    ]);
    const indexer = daemons.entries.find((e) => e.id === DAEMON_IDS.indexer)!;
    expect((indexer as { exec: { command: string[] } }).exec.command).toEqual(execArgsFor('follow'));
  });

  it('runs a pending index job as a oneshot without changing the MCP daemon', () => {
    const dir = jobsDir();
    const { effects } = stubEffects();
    const inputs = { store, allowedHosts: ['crm.local'], jobsDir: dir };
    const idle = crmDaemons(effects, { ...inputs, jobRequest: null });
    const busy = crmDaemons(effects, { ...inputs, jobRequest: request });
    const job = busy.entries.find((e) => e.id === DAEMON_IDS.job);
    expect(job?.kind).toBe('oneshot');
    expect((job as { exec: { command: string[] } }).exec.command).toEqual(jobArgsFor('rebuild', request.id));
    // Daemons.dynamic restarts an entry only when its hash changes: the MCP server keeps running.
    const hashOf = (d: typeof idle, id: string) => configHash(d.entries.find((e) => e.id === id)!);
    expect(hashOf(busy, DAEMON_IDS.mcp)).toBe(hashOf(idle, DAEMON_IDS.mcp));
    expect(hashOf(busy, DAEMON_IDS.indexer)).toBe(hashOf(idle, DAEMON_IDS.indexer));
    // Once the job has a finished record, the oneshot is not added again.
    fs.mkdirSync(path.join(dir, request.id));
    fs.writeFileSync(path.join(dir, request.id, 'state'), 'succeeded\n');
    const after = crmDaemons(effects, { ...inputs, jobRequest: request });
    expect(after.entries.map((e) => e.id)).not.toContain(DAEMON_IDS.job);
  });

  it("the CRM package's own action starts a job once and says so when one is running", async () => {
    const dir = jobsDir();
    let current: JobRequest | null = null;
    const action = rebuildAction({
      store: async () => store,
      current: async () => current,
      record: async (r) => {
        current = r;
      },
      jobsDir: dir,
    });
    const { effects } = stubEffects();
    const first = (await action.run({ effects, input: {} })) as { message: string };
    expect(first.message).toMatch(/^Build search index started/);
    expect(current).toMatchObject({ kind: 'rebuild' });
    const second = (await action.run({ effects, input: {} })) as { message: string };
    expect(second.message).toMatch(/already running/);
  });
});
