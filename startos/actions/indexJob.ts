/**
 * "Build search index" and "Refresh search index" start an index job and
 * return at once: a full rebuild of a large CRM runs far past the 120 s
 * StartOS gives an action. The request goes to jobs.json; main runs it as a
 * oneshot with the daemons' image, mounts and environment (builders.ts).
 * A second request while one runs says so instead of starting another.
 */
import { sdk } from '../sdk.js';
import { storeJson } from '../store.js';
import { jobsJson } from '../jobsFile.js';
import { paths } from '../mounts.js';
import { emptyStore, type JobKind } from '../env.js';
import { decideJob } from '../builders.js';
import { JOB_TITLES } from '../jobs.js';
import type { T } from '@start9labs/start-sdk';

export async function requestIndexJob(effects: T.Effects, kind: JobKind) {
  const store = (await storeJson.read().once()) ?? emptyStore();
  const current = (await jobsJson.read((j) => j.request).once()) ?? null;
  const decision = decideJob({ kind, store, current, jobsDir: paths.jobsDir() });
  if (decision.kind === 'refused') throw new Error(decision.message);
  if (decision.kind === 'start') await jobsJson.merge(effects, { request: decision.request });
  return {
    version: '1' as const,
    title:
      decision.kind === 'start' ? `${JOB_TITLES[kind]}: started` : `${JOB_TITLES[kind]}: already running`,
    message: decision.message,
    result: null,
  };
}

export const buildSearchIndex = sdk.Action.withoutInput(
  'build-search-index',
  async () => ({
    name: 'Build search index',
    description:
      'Resolve entities, then re-index every CRM record into a new index generation and switch to it atomically. Searches keep working throughout. Runs in the background; progress shows under "Index job".',
    warning:
      'This re-embeds every record; with a remote embeddings server it can take a long time and use its GPU.',
    // The job runs under main, beside the daemons.
    allowedStatuses: 'only-running',
    group: 'Index',
    visibility: 'enabled',
  }),
  async ({ effects }) => requestIndexJob(effects, 'rebuild'),
);

export const refreshSearchIndex = sdk.Action.withoutInput(
  'refresh-search-index',
  async () => ({
    name: 'Refresh search index',
    description:
      'Apply pending CRM changes to the search index, then compare the index with the CRM and repair what differs. Does not rebuild. Runs in the background; progress shows under "Index job".',
    warning: null,
    allowedStatuses: 'only-running',
    group: 'Index',
    visibility: 'enabled',
  }),
  async ({ effects }) => requestIndexJob(effects, 'refresh'),
);
