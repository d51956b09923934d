/**
 * Build search index returns at once while the rebuild runs and reports.
 * The action is the package's own (store.json and jobs.json served from
 * memory); the job is started the way main starts it, from the oneshot
 * entry builders.ts adds, run by the real docker_entrypoint.sh --job with
 * a stand-in `crm-index` that prints progress, then holds until the test
 * lets it finish and print its counts. No timing is asserted: the test
 * waits for each state the dashboard and the Index status action show.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { actions } from '../../startos/actions/index.js';
import { storeJson } from '../../startos/store.js';
import { jobsJson } from '../../startos/jobsFile.js';
import { paths } from '../../startos/mounts.js';
import { sdk } from '../../startos/sdk.js';
import { addCrmIndexDaemons, DAEMON_IDS } from '../../startos/builders.js';
import { CLI, ENTRYPOINT, JOBS_DIR, emptyStore, type Store } from '../../startos/env.js';
import { jobHealth, readJobState, type JobRequest } from '../../startos/jobs.js';
import { stubEffects } from './stubEffects.js';

const entrypoint = path.resolve(import.meta.dirname, '../../docker_entrypoint.sh');

// Progress on stderr as the CLI prints it off a TTY; counts on stdout once `release` exists.
const FAKE_CLI = `#!/usr/bin/env bash
echo "rebuild: people 1/2" >&2
while [[ ! -e "$FAKE_DIR/release" ]]; do sleep 0.05; done
echo "rebuild: people 2/2" >&2
echo '{"records":2,"chunks":5,"entities":{"people":2}}'
`;

let dir: string;
let jobsDir: string;
let dbPath: string;
let jobsFile: { request: JobRequest | null };
const store: Store = { ...emptyStore(), mcpAuthToken: 'x'.repeat(40) };
const children: ChildProcess[] = [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-index-jobs-'));
  jobsDir = path.join(dir, 'jobs');
  dbPath = path.join(dir, 'crm.db');
  fs.writeFileSync(dbPath, '');
  fs.writeFileSync(path.join(dir, 'crm-index'), FAKE_CLI, { mode: 0o755 });
  jobsFile = { request: null };
  vi.spyOn(paths, 'jobsDir').mockReturnValue(jobsDir);
  vi.spyOn(storeJson, 'read').mockReturnValue({ once: async () => store, const: async () => store } as any);
  vi.spyOn(jobsJson, 'read').mockImplementation(((map?: (j: typeof jobsFile) => unknown) => ({
    once: async () => (map ? map(jobsFile) : jobsFile),
    const: async () => (map ? map(jobsFile) : jobsFile),
  })) as any);
  vi.spyOn(jobsJson, 'merge').mockImplementation((async (_e: unknown, patch: typeof jobsFile) => {
    jobsFile = { ...jobsFile, ...patch };
    return null;
  }) as any);
  // Index status's `crm-index status` run: answered with a status line, no container here.
  vi.spyOn(sdk.SubContainer, 'withTemp').mockImplementation((async (...args: unknown[]) => {
    const fn = args[4] as (sub: unknown) => Promise<unknown>;
    return fn({
      exec: async (command: string[]) =>
        command[0] === 'test'
          ? { exitCode: 0, exitSignal: null, stdout: '', stderr: '' }
          : { exitCode: 0, exitSignal: null, stdout: '{"backlog":0}\n', stderr: '' },
    });
  }) as any);
});

afterAll(() => {
  vi.restoreAllMocks();
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

async function until<T>(what: string, fn: () => T | null | undefined | false): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const v = fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Start the job exactly as main's oneshot would, with this machine's paths for the container's. */
function startJobAsMain(request: JobRequest): ChildProcess {
  const { effects } = stubEffects();
  const subcontainer = sdk.SubContainer.of(effects, { imageId: 'main' }, null, 'crm-index');
  const daemons = addCrmIndexDaemons(sdk.Daemons.of(effects), {
    subcontainer,
    store,
    allowedHosts: [],
    jobsDir,
    jobRequest: request,
  });
  const entry = daemons.entries.find((e) => e.id === DAEMON_IDS.job);
  if (!entry || entry.kind !== 'oneshot') throw new Error('main added no job oneshot');
  const exec = entry.exec as { command: string[]; env: Record<string, string> };
  const [bin, mode, jobDir, ...cli] = exec.command;
  expect([bin, mode, jobDir]).toEqual([ENTRYPOINT, '--job', `${JOBS_DIR}/${request.id}`]);
  expect(cli.slice(0, CLI.length)).toEqual([...CLI]);
  const args = [mode!, path.join(jobsDir, request.id), path.join(dir, 'crm-index'), ...cli.slice(CLI.length)];
  const child = spawn('bash', [entrypoint, ...args], {
    env: {
      PATH: process.env.PATH,
      ...exec.env,
      CRM_DB_PATH: dbPath,
      CRM_INDEX_PATH: path.join(dir, 'index', 'index.db'),
      CRM_INDEX_CACHE_DIR: path.join(dir, 'cache'),
      FAKE_DIR: dir,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  return child;
}

const run = async (id: string) => {
  const { effects } = stubEffects();
  return (await (actions.get as (id: string) => any)(id).run({ effects, input: {} })) as {
    title: string;
    message: string | null;
    result: any;
  };
};

describe('a long index job', () => {
  it('returns at once, reports progress while it runs, refuses a second one, then shows the counts', async () => {
    // 1. The action only records the request.
    const started = await run('build-search-index');
    expect(started.title).toBe('Build search index: started');
    expect(started.message).toMatch(/^Build search index started/);
    const request = jobsFile.request!;
    expect(request).toMatchObject({ kind: 'rebuild' });
    expect(jobHealth(request, readJobState(jobsDir, request.id))).toEqual({
      result: 'loading',
      message: 'Build search index: starting',
    });

    // 2. main starts it; while it runs, the dashboard shows its progress.
    const child = startJobAsMain(request);
    const running = await until('progress in the job health', () => {
      const h = jobHealth(request, readJobState(jobsDir, request.id));
      return h.message.includes('rebuild: people 1/2') ? h : null;
    });
    expect(running).toEqual({
      result: 'loading',
      message: 'Build search index: running for 0 min; rebuild: people 1/2',
    });

    // 3. A second request, of either kind, says so and starts nothing.
    for (const id of ['build-search-index', 'refresh-search-index']) {
      const again = await run(id);
      expect(again.message, id).toMatch(/^Build search index is already running \(requested /);
      expect(jobsFile.request).toEqual(request);
    }
    const status = await run('index-status');
    const job = status.result.value[0];
    expect(job.name).toBe('Index job');
    expect(job.value).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'state', value: 'running' }),
        expect.objectContaining({ name: 'progress', value: 'rebuild: people 1/2' }),
      ]),
    );

    // 4. It finishes: the counts reach the dashboard and Index status; the next request starts.
    fs.writeFileSync(path.join(dir, 'release'), '');
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code).toBe(0);
    const done = jobHealth(request, readJobState(jobsDir, request.id));
    expect(done.result).toBe('success');
    expect(done.message).toMatch(
      /^Build search index finished \S+Z: records 2, chunks 5, entities\.people 2$/,
    );
    const after = await run('index-status');
    expect(after.result.value[0].value).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'state', value: 'succeeded' }),
        expect.objectContaining({ name: 'counts', type: 'group' }),
      ]),
    );
    const next = await run('refresh-search-index');
    expect(next.message).toMatch(/^Refresh search index started/);
    expect(jobsFile.request).toMatchObject({ kind: 'refresh' });
  });

  it('refuses to start when the indexer cannot run with the settings', async () => {
    const qdrantWithoutUrl: Store = { ...store, indexStore: 'qdrant', qdrantUrl: null };
    vi.mocked(storeJson.read).mockReturnValue({
      once: async () => qdrantWithoutUrl,
      const: async () => qdrantWithoutUrl,
    } as any);
    const before = jobsFile.request;
    await expect(run('build-search-index')).rejects.toThrow(
      /^Build search index cannot run: .*QDRANT_URL.*Run the Configure action first\.$/,
    );
    expect(jobsFile.request).toEqual(before);
  });
});
