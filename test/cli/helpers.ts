/**
 * Running the built CLI as a user does: a child `node` with the launchers'
 * heap flag, a bare environment (only what the test sets), and a working
 * folder of the test's choosing.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const CLI = path.join(ROOT, 'dist/cli/main.js');
/** The heap flag `npm run demo` and the StartOS launchers pass. */
export const SHIPPED_HEAP = '--max-old-space-size=256';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** HOME, PATH and the like, nothing of the caller's CRM_* settings. */
export function bareEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of [
    'HOME',
    'PATH',
    'USER',
    'LOGNAME',
    'SHELL',
    'TERM',
    'XDG_CACHE_HOME',
    'CRM_INDEX_CACHE_DIR',
  ]) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  return { LOG_LEVEL: 'warn', ...env, ...extra };
}

export function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Run {
  const r = spawnSync(process.execPath, [SHIPPED_HEAP, CLI, ...args], {
    cwd: opts.cwd ?? os.tmpdir(),
    env: bareEnv(opts.env),
    encoding: 'utf8',
    timeout: 240_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Every file and folder under `dir`, relative, sorted. */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      out.push(path.relative(dir, p) + (e.isDirectory() ? '/' : ''));
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** A long-running CLI child (follow): resolves with the first stderr match, and a stop function. */
export async function startCli(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; waitFor: RegExp },
): Promise<{
  match: RegExpMatchArray;
  stop(): Promise<void>;
  stderr(): string;
  exitCode(): Promise<number | null>;
}> {
  const child = spawn(process.execPath, [SHIPPED_HEAP, CLI, ...args], {
    cwd: opts.cwd ?? os.tmpdir(),
    env: bareEnv(opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      err += String(d);
      const m = opts.waitFor.exec(err);
      if (m) resolve(m);
    });
    child.on('exit', (code) => reject(new Error(`crm-index ${args.join(' ')} exited ${code}: ${err}`)));
  });
  const timeout = (ms: number) =>
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`still running after ${ms} ms`)), ms).unref(),
    );
  return {
    match,
    stderr: () => err,
    exitCode: () => Promise.race([exited, timeout(30_000)]),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
