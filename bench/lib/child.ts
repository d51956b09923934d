/**
 * One measured run per child process, as `crm-index rebuild` and `refresh`
 * run: started with the product launchers' heap flag, importing the compiled
 * pipeline (`dist/`, so `npm run build` first: under tsx every worker thread
 * would first compile the TypeScript sources, about 1.5 s of CPU each). The
 * bench script runs itself again with `--job <json>`; the child prints its
 * result as the last line of stdout.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { NODE_HEAP_FLAG } from '../../startos/env.js';
import { arg } from './pipeline.js';

export const RUNS_JS = path.resolve('dist/pipeline/runs.js');

/** A compiled pipeline module, `<dist>/pipeline/<name>.js` (the child's side). */
export async function compiled<M>(name: string, dist = 'dist'): Promise<M> {
  return (await import(pathToFileURL(path.resolve(`${dist}/pipeline/${name}.js`)).href)) as M;
}

/** The compiled runs module (the child's side); `dist` lets a bench compare another build. */
export function compiledRuns(dist = 'dist'): Promise<typeof import('../../pipeline/runs.js')> {
  return compiled<typeof import('../../pipeline/runs.js')>('runs', dist);
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
