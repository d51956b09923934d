/**
 * "Index status": the latest index job (state, progress, final counts) and
 * `crm-index status --json` (lag, backlog, cursors, trigger health, dead
 * letters, last sweep), shown as result groups, one row per field.
 */
import { sdk } from '../sdk.js';
import { jobsJson } from '../jobsFile.js';
import { paths } from '../mounts.js';
import { runCli, waitingForDatabase } from './runCli.js';
import { JOB_TITLES, readJobState, type JobRequest, type JobState } from '../jobs.js';
import type { T } from '@start9labs/start-sdk';

/** status only reads counters; a minute covers a busy database's lock waits. */
export const STATUS_TIMEOUT_MS = 2 * 60 * 1000;

/** One result member per field; objects become groups, so nested status stays readable. */
export function statusMembers(status: Record<string, unknown>): T.ActionResultMember[] {
  return Object.entries(status).map(([name, value]): T.ActionResultMember => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      return {
        type: 'group',
        name,
        description: null,
        value: statusMembers(value as Record<string, unknown>),
      };
    }
    return {
      type: 'single',
      name,
      description: null,
      value: typeof value === 'string' ? value : JSON.stringify(value),
      copyable: false,
      qr: false,
      masked: false,
    };
  });
}

/** The latest job as a result group. */
export function jobMember(request: JobRequest | null, state: JobState | null): T.ActionResultMember {
  const fields: Record<string, unknown> = request
    ? {
        job: JOB_TITLES[request.kind],
        requested: request.at,
        state: state?.state ?? 'starting',
        started: state?.started ?? null,
        finished: state?.finished ?? null,
        ...(state?.progress && state.state === 'running' ? { progress: state.progress } : {}),
        ...(state?.counts ? { counts: state.counts } : {}),
        ...(state?.error ? { error: state.error } : {}),
      }
    : { job: 'none has run yet' };
  return { type: 'group', name: 'Index job', description: null, value: statusMembers(fields) };
}

export const indexStatus = sdk.Action.withoutInput(
  'index-status',
  async () => ({
    name: 'Index status',
    description:
      'Show the latest index job, the index lag, changelog backlog, dead letters and the last sweep.',
    warning: null,
    allowedStatuses: 'any',
    group: 'Index',
    visibility: 'enabled',
  }),
  async ({ effects }) => {
    const request = (await jobsJson.read((j) => j.request).once()) ?? null;
    const job = jobMember(request, request ? readJobState(paths.jobsDir(), request.id) : null);
    const out = await runCli(effects, 'status', STATUS_TIMEOUT_MS);
    const members = [job, ...(out.json ? statusMembers(out.json) : [])];
    const message = out.dbMissing
      ? waitingForDatabase()
      : out.json
        ? null
        : out.stdout.trim() || 'crm-index status printed nothing.';
    return {
      version: '1',
      title: 'Index status',
      message,
      result: { type: 'group', value: members },
    };
  },
);
