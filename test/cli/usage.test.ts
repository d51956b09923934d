/**
 * Everyday CLI paths from a fresh folder: the demo as the README starts it
 * (reaching a followed, searchable index and printing its page), usage
 * mistakes with the documented exit code, and a misspelt setting named.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findGloveJson } from '../../encoders/gloveCache.js';
import { tempDir } from '../search/fixtures.js';
import { runCli, startCli } from './helpers.js';

const dirs: string[] = [];
const tmp = (prefix: string) => {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

describe('usage mistakes', () => {
  it('an unknown command or option exits 2 (as docs/operations.md says), help exits 0', () => {
    const dir = tmp('crm-index-usage-');
    expect(runCli(['serach', 'acme'], { cwd: dir }).code).toBe(2);
    expect(runCli(['search', 'acme', '--bogus'], { cwd: dir }).code).toBe(2);
    expect(runCli(['--help'], { cwd: dir }).code).toBe(0);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('names a misspelt CRM_* variable and the setting it probably meant', () => {
    const dir = tmp('crm-index-typo-');
    const r = runCli(['config'], { cwd: dir, env: { CRM_DB_PAHT: path.join(dir, 'crm.db') } });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      'crm-index: warning: CRM_DB_PAHT is not a crm-index setting and is ignored; did you mean CRM_DB_PATH?',
    );
    expect(runCli(['config'], { cwd: dir, env: { CRM_DB_PATH: 'x.db' } }).stderr).not.toMatch(/warning/);
  });

  it('names a retired setting that is still set, and what replaced it', () => {
    const dir = tmp('crm-index-retired-');
    const r = runCli(['config'], { cwd: dir, env: { CRM_INDEX_WORKERS: '2' } });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('crm-index: warning: CRM_INDEX_WORKERS is no longer a crm-index setting');
  });
});

describe.skipIf(!findGloveJson())('crm-index demo from an empty folder', () => {
  it(
    'builds, indexes and follows the demo CRM, prints its page, and answers search, status and /metrics',
    { timeout: 300_000 },
    async () => {
      const dir = tmp('crm-index-demo-');
      const port = await freePort();
      const env = { CRM_INDEX_HTTP_PORT: String(port) };
      const demo = await startCli(['demo'], { cwd: dir, env, waitFor: /watching/ });
      try {
        expect(demo.stderr()).toContain(`demo: status page and search: http://127.0.0.1:${port}/`);
        expect(demo.stderr()).not.toMatch(/"level":(40|50)/);
        const page = await fetch(`http://127.0.0.1:${port}/`);
        expect(page.status).toBe(200);
        const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        expect(metrics).toContain('crm_index_process_cpu_user_seconds_total');
        expect(metrics).not.toContain('process_process');
        const s = runCli(['search', 'lightning custody', '--mode', 'hybrid', '--json'], { cwd: dir, env });
        expect(s.code, s.stderr).toBe(0);
        expect(s.stdout.trim().split('\n').length).toBeGreaterThan(0);
        const st = runCli(['status'], { cwd: dir, env });
        expect(st.code, st.stderr).toBe(0);
      } finally {
        await demo.stop();
      }
    },
  );
});
