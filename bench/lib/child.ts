/**
 * One measured run per child process, as `crm-index rebuild` and `refresh`
 * run: started with the product launchers' heap flag, importing the compiled
 * pipeline (`dist/`, so `npm run build` first: under tsx every worker thread
 * would first compile the TypeScript sources, about 1.5 s of CPU each). The
 * bench script runs itself again with `--job <json>`; the child prints its
 * result as the last line of stdout.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { NODE_HEAP_FLAG } from '../../startos/env.js';
import { arg } from './pipeline.js';

export const RUNS_JS = path.resolve('dist/runs/runs.js');

/**
 * A compiled run module, `<dist>/runs/<name>.js` (the child's side); a build
 * from before the runs left `pipeline/` has it at `<dist>/pipeline/<name>.js`.
 */
export async function compiled<M>(name: string, dist = 'dist'): Promise<M> {
  const file = [`${dist}/runs/${name}.js`, `${dist}/pipeline/${name}.js`].find((f) => fs.existsSync(f));
  if (!file) throw new Error(`${dist}/runs/${name}.js is missing: build that tree first.`);
  return (await import(pathToFileURL(path.resolve(file)).href)) as M;
}

/** The compiled runs module (the child's side); `dist` lets a bench compare another build. */
export function compiledRuns(dist = 'dist'): Promise<typeof import('../../runs/runs.js')> {
  return compiled<typeof import('../../runs/runs.js')>('runs', dist);
}

/** Whether `dist` holds a compiled build (either layout). */
export function isBuild(dist: string): boolean {
  return fs.existsSync(`${dist}/runs/runs.js`) || fs.existsSync(`${dist}/pipeline/runs.js`);
}

export function requireBuild(): void {
  if (!fs.existsSync(RUNS_JS)) throw new Error(`${RUNS_JS} is missing: run \`npm run build\` first.`);
}

/** The job this process was started for, or null in the parent. */
export function childJob<J>(): J | null {
  const raw = arg('job', '');
  return raw ? (JSON.parse(raw) as J) : null;
}

/** Run `script` (a bench file's path) again in a child with `job`; returns what it printed last. */
export async function inChild<J, R>(script: string, job: J): Promise<R> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_OPTIONS;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [NODE_HEAP_FLAG, '--import', 'tsx', script, '--job', JSON.stringify(job)],
    { env, maxBuffer: 1 << 24 },
  );
  return JSON.parse(stdout.trim().split('\n').pop()!) as R;
}

/** The child's side: print the result for the parent. */
export function report(result: unknown): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/**
 * Run `script` (a bench file's path) again in a child as a server: the child
 * prints its URL as its first line of stdout and stops on SIGTERM. Fails if
 * it exits or stays silent for 30 s first, instead of stalling the bench.
 */
export async function serveInChild(
  script: string,
  args: string[],
  what: string,
): Promise<{ url: string; stop(): void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const stop = (): void => void child.kill('SIGTERM');
  const first = once(child.stdout, 'data', { signal: AbortSignal.timeout(30_000) }).catch((err: unknown) => {
    stop();
    throw new Error(`${what} did not start: ${String(err)}`);
  });
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`${what} exited with ${String(code)} before starting`);
  });
  const [chunk] = (await Promise.race([first, exited])) as [Buffer];
  exited.catch(() => undefined);
  return { url: chunk.toString().trim(), stop };
}

/** The child's side of serveInChild: print the server's URL, then close it and exit on SIGTERM. */
export async function serveUntilTerm(srv: { url: string; close(): Promise<void> }): Promise<never> {
  process.stdout.write(`${srv.url}\n`);
  await once(process, 'SIGTERM');
  await srv.close();
  process.exit(0);
}
