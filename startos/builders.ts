/**
 * crm-index's daemons and index-job logic as builders any StartOS package
 * can call: this package's own main.ts uses them, and so can the CRM's own
 * package, which then runs crm-index beside the CRM on the CRM's `/data`
 * volume (docs/packaging.md, "Two ways in", way 1). Nothing here is bound to
 * this package's manifest: the caller passes its Daemons chain, a
 * subcontainer of an image that holds crm-index (this repository's
 * Dockerfile) with the CRM data at /data and a volume for the index at
 * /index, the settings, and where it keeps the job records.
 *
 * Daemons (ids in DAEMON_IDS):
 * - the MCP server, always; healthy when its /healthz answers;
 * - the indexer (`crm-index follow`) when its settings let it run, else a
 *   health entry that says why it does not;
 * - the pending index job, as a oneshot, and the "Index job" health entry
 *   that reports its progress and final counts.
 * Both daemons start through the entry point's --exec mode: while the CRM
 * database is absent they wait, and their health says so.
 */
import type { Daemons, SubContainer, T } from '@start9labs/start-sdk';
import {
  CRM_DB_PATH,
  INDEXER_PORT,
  MCP_PORT,
  RUN_AS,
  envFromStore,
  execArgsFor,
  followerDecision,
  jobArgsFor,
  type JobKind,
  type Store,
} from './env.js';
import { checkHealthz } from './health.js';
import { JOB_TITLES, jobHealth, jobPending, newJobId, readJobState, type JobRequest } from './jobs.js';

export { publishedHostNames } from './hosts.js';
export { emptyStore, envFromStore, followerDecision, type Store } from './env.js';
export { jobHealth, readJobState, type JobRequest, type JobState } from './jobs.js';

export const DAEMON_IDS = {
  mcp: 'crm-index-mcp',
  indexer: 'crm-index-indexer',
  job: 'crm-index-job',
  jobHealth: 'crm-index-job-health',
} as const;

type NewIds = (typeof DAEMON_IDS)[keyof typeof DAEMON_IDS];

export interface CrmIndexDaemonsOptions<M extends T.SDKManifest> {
  /** A lazy subcontainer (`sdk.SubContainer.of`) of the crm-index image, CRM data at /data, index volume at /index. */
  subcontainer: SubContainer<M>;
  store: Store;
  /** The MCP interface's published host names (`publishedHostNames(host)`), for the server's Host check. */
  allowedHosts: readonly string[];
  /** The job records as the package's JS code sees them: JOBS_DIR on the index volume. */
  jobsDir: string;
  /** The latest index job request, read with `.const` so a new one adds its oneshot. */
  jobRequest: JobRequest | null;
}

/** Add crm-index's daemons, its index job and their health entries to a Daemons chain. */
export function addCrmIndexDaemons<M extends T.SDKManifest, Ids extends string>(
  daemons: Daemons<M, Ids>,
  opts: CrmIndexDaemonsOptions<M>,
): Daemons<M, Ids | NewIds> {
  const env = envFromStore(opts.store, opts.allowedHosts);
  const follower = followerDecision(env);
  const { subcontainer } = opts;
  const dbPresent = async () =>
    (await subcontainer.exec(['test', '-e', CRM_DB_PATH], { user: RUN_AS }, 10_000)).exitCode === 0;
  // The caller's ids are its own: seen as `never` here, so ours are checked against each other only.
  let chain = (daemons as unknown as Daemons<M, never>).addDaemon(DAEMON_IDS.mcp, {
    subcontainer,
    exec: { command: execArgsFor('mcp'), env, user: RUN_AS, sigtermTimeout: 30_000 },
    ready: {
      display: 'MCP server',
      // Opening the database and loading the search encoders takes a few seconds.
      gracePeriod: 30_000,
      fn: () => checkHealthz({ name: 'The MCP server', port: MCP_PORT, dbPresent, dbPath: CRM_DB_PATH }),
    },
    requires: [],
  });
  const withIndexer = follower.start
    ? chain.addDaemon(DAEMON_IDS.indexer, {
        subcontainer,
        // A graceful stop finishes the batch in flight and acks its cursor.
        exec: { command: execArgsFor('follow'), env, user: RUN_AS, sigtermTimeout: 60_000 },
        ready: {
          display: 'Indexer',
          // The first start installs triggers and runs a sweep before /healthz turns green.
          gracePeriod: 120_000,
          fn: () =>
            checkHealthz({
              name: 'The indexer',
              port: INDEXER_PORT,
              token: opts.store.mcpAuthToken,
              dbPresent,
              dbPath: CRM_DB_PATH,
            }),
        },
        requires: [],
      })
    : chain.addHealthCheck(DAEMON_IDS.indexer, {
        ready: {
          display: 'Indexer',
          fn: () => ({
            result: 'disabled',
            message: `Not running: ${follower.reason}. Run the Configure action.`,
          }),
        },
        requires: [],
      });
  chain = withIndexer as unknown as typeof chain;

  const request = opts.jobRequest;
  let withJob = chain as unknown as Daemons<M, NewIds>;
  if (request && jobPending(request, readJobState(opts.jobsDir, request.id))) {
    withJob = (chain as unknown as Daemons<M, never>).addOneshot(DAEMON_IDS.job, {
      subcontainer,
      // The entry point records the outcome and exits 0, so a failed job is not started again.
      exec: { command: jobArgsFor(request.kind, request.id), env, user: RUN_AS, sigtermTimeout: 60_000 },
      requires: [],
    }) as unknown as Daemons<M, NewIds>;
  }
  const done = (withJob as unknown as Daemons<M, never>).addHealthCheck(DAEMON_IDS.jobHealth, {
    ready: {
      display: 'Index job',
      fn: () => jobHealth(request, request ? readJobState(opts.jobsDir, request.id) : null),
    },
    requires: [],
  });
  return done as unknown as Daemons<M, Ids | NewIds>;
}

export type JobDecision =
  | { kind: 'refused'; message: string }
  | { kind: 'busy'; message: string }
  | { kind: 'start'; request: JobRequest; message: string };

/**
 * What Build or Refresh does when asked: refuse when the indexer cannot run
 * with these settings, say so when a job is already pending or running, or
 * return the request to record. The action returns at once either way.
 */
export function decideJob(opts: {
  kind: JobKind;
  store: Store;
  current: JobRequest | null;
  jobsDir: string;
  now?: Date;
}): JobDecision {
  const title = JOB_TITLES[opts.kind];
  const decision = followerDecision(envFromStore(opts.store));
  if (!decision.start) {
    return {
      kind: 'refused',
      message: `${title} cannot run: ${decision.reason}. Run the Configure action first.`,
    };
  }
  const current = opts.current;
  if (current && jobPending(current, readJobState(opts.jobsDir, current.id))) {
    return {
      kind: 'busy',
      message: `${JOB_TITLES[current.kind]} is already running (requested ${current.at}); this request was not started. Its progress shows under "Index job" in the service's health and in the Index status action.`,
    };
  }
  const now = opts.now ?? new Date();
  return {
    kind: 'start',
    request: { id: newJobId(opts.kind, now), kind: opts.kind, at: now.toISOString() },
    message: `${title} started. Progress and the final counts show under "Index job" in the service's health and in the Index status action.`,
  };
}
