/**
 * The package-level checks start-cli would run before packing: tsc over
 * startos/, the SDK's own lint, and an ncc bundle that StartOS can require().
 * Slow (tens of seconds each on two cores), so each has its own timeout.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';

function run(cmd: string, args: string[]): { code: number; out: string } {
  try {
    const out = execFileSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { code: 0, out };
  } catch (err) {
    const e = err as { status?: number; stdout?: string; stderr?: string };
    return { code: e.status ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

const sdkLint = path.join(root, 'node_modules/@start9labs/start-sdk/lint.mjs');

describe('StartOS package build checks', () => {
  it('startos/ compiles with tsc --noEmit', { timeout: 180_000 }, () => {
    const res = run(npx, ['tsc', '--noEmit', '-p', 'startos/tsconfig.json']);
    expect(res.out).toBe('');
    expect(res.code).toBe(0);
  });

  it.skipIf(!fs.existsSync(sdkLint))('passes the SDK lint (lint.mjs)', { timeout: 180_000 }, () => {
    const res = run(process.execPath, [sdkLint]);
    expect(res.out.trim()).toBe('');
    expect(res.code).toBe(0);
  });

  it('bundles with ncc into CommonJS exporting the StartOS ABI', { timeout: 300_000 }, () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-index-ncc-'));
    try {
      // -t: types are checked above; here only the bundle matters.
      const res = run(npx, ['ncc', 'build', 'startos/index.ts', '-o', out, '-t', '-q']);
      expect(res.code, res.out).toBe(0);
      // StartOS loads the bundle with require(), so it must be CommonJS.
      const bundle = createRequire(import.meta.url)(path.join(out, 'index.js')) as Record<string, any>;
      for (const name of ['main', 'init', 'uninit', 'createBackup'])
        expect(typeof bundle[name], name).toBe('function');
      expect(bundle.manifest).toMatchObject({
        id: 'crm-index',
        version: '0.1.0:0',
        volumes: ['main', 'startos'],
        images: {
          main: {
            arch: ['x86_64', 'aarch64'],
            source: { dockerBuild: { dockerfile: 'Dockerfile', workdir: '.' } },
          },
        },
      });
      expect(typeof bundle.actions.get).toBe('function');
      for (const id of ['configure', 'build-search-index', 'refresh-search-index', 'index-status']) {
        expect(bundle.actions.get(id)?.id, id).toBe(id);
      }
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
