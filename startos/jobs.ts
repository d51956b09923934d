/**
 * Index jobs: "Build search index" (rebuild) and "Refresh search index"
 * (refresh) run longer than the 120 s StartOS gives an action, so an action
 * only records a request; `main` runs it as a oneshot (same image, mounts
 * and environment as the daemons) through `docker_entrypoint.sh --job DIR`,
 * which writes the run's state into DIR as plain files. The dashboard's
 * "Index job" health check and the "Index status" action read them back.
 *
 * No SDK import: the builders, the actions and the tests share these.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { JobKind } from './env.js';
import { formatCounts, lastJsonLine } from './output.js';

export interface JobRequest {
  id: string;
  kind: JobKind;
  /** ISO time of the request. */
  at: string;
}

export interface JobState {
  id: string;
  state: 'running' | 'succeeded' | 'failed';
  started: string | null;
  finished: string | null;
  exitCode: number | null;
  /** The run's final JSON line of counts. */
  counts: Record<string, unknown> | null;
  /** The last progress line (`rebuild: people 1200/5000`) while running. */
  progress: string | null;
  /** The last lines of stderr when it failed. */
  error: string | null;
}

export const JOB_TITLES: Record<JobKind, string> = {
  rebuild: 'Build search index',
  refresh: 'Refresh search index',
};

/** A request id that sorts by time and names its kind. */
export function newJobId(kind: JobKind, now = new Date()): string {
  return `${now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${kind}`;
}

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** The last `size` bytes of a file (stderr of a long rebuild grows). */
function readTail(file: string, size = 16_384): string | null {
  let fd: number | null = null;
  try {
    fd = fs.openSync(file, 'r');
    const { size: total } = fs.fstatSync(fd);
    const start = Math.max(0, total - size);
    const buf = Buffer.alloc(total - start);
    fs.readSync(fd, buf, 0, buf.length, start);
    return buf.toString('utf8');
  } catch {
    return null;
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

/** The state of job `id` as `docker_entrypoint.sh --job` left it in `jobsDir/id`, or null if it never started. */
export function readJobState(jobsDir: string, id: string): JobState | null {
  const dir = path.join(jobsDir, id);
  const state = readText(path.join(dir, 'state'))?.trim();
  if (state !== 'running' && state !== 'succeeded' && state !== 'failed') return null;
  const stdout = readTail(path.join(dir, 'stdout')) ?? '';
  const stderr = readTail(path.join(dir, 'stderr')) ?? '';
  const lines = stderr.split(/[\r\n]+/).filter((l) => l.trim() !== '');
  const progress = [...lines].reverse().find((l) => /^(rebuild|refresh|sweep): /.test(l)) ?? null;
  const exit = readText(path.join(dir, 'exit'))?.trim();
  return {
    id,
    state,
    started: readText(path.join(dir, 'started'))?.trim() ?? null,
    finished: readText(path.join(dir, 'finished'))?.trim() ?? null,
    exitCode: exit === undefined || exit === '' ? null : Number(exit),
    counts: lastJsonLine(stdout),
    progress,
    error: state === 'failed' ? lines.slice(-5).join('\n') || null : null,
  };
}

/** Whether `request` still has to run or is running: no finished record for it yet. */
export function jobPending(request: JobRequest | null, state: JobState | null): boolean {
  return request !== null && (state === null || state.state === 'running');
}

type HealthResult = { result: 'success' | 'loading' | 'failure' | 'disabled'; message: string };

function minutesSince(iso: string | null, now: number): string {
  if (!iso) return '';
  const min = Math.max(0, Math.round((now - Date.parse(iso)) / 60_000));
  return ` for ${min} min`;
}

/** The dashboard line for the latest job. */
export function jobHealth(
  request: JobRequest | null,
  state: JobState | null,
  now = Date.now(),
): HealthResult {
  if (request === null) return { result: 'disabled', message: 'No index job has run yet' };
  const title = JOB_TITLES[request.kind];
  if (state === null) return { result: 'loading', message: `${title}: starting` };
  if (state.state === 'running') {
    return {
      result: 'loading',
      message: `${title}: running${minutesSince(state.started, now)}${state.progress ? `; ${state.progress}` : ''}`,
    };
  }
  if (state.state === 'succeeded') {
    const counts = state.counts ? formatCounts(state.counts) : 'no counts printed';
    return { result: 'success', message: `${title} finished ${state.finished ?? ''}: ${counts}`.trim() };
  }
  if (state.exitCode === 143 || state.exitCode === 130) {
    // SIGTERM or SIGINT: the service stopped or restarted under the job.
    return { result: 'failure', message: `${title} was stopped before it finished; run it again` };
  }
  return {
    result: 'failure',
    message: `${title} failed (exit ${state.exitCode ?? '?'})${state.error ? `: ${state.error.split('\n').at(-1)}` : ''}`,
  };
}
