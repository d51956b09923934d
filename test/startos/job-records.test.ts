/**
 * The job records docker_entrypoint.sh --job leaves, read back into what the
 * dashboard shows: a failure with its last error line, a job stopped by the
 * service, a job never started, and no job at all.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { jobHealth, jobPending, readJobState, type JobRequest } from '../../startos/jobs.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function record(files: Record<string, string>): { jobsDir: string; request: JobRequest } {
  const jobsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-index-job-records-'));
  dirs.push(jobsDir);
  const request: JobRequest = { id: '20261206T100000Z-refresh', kind: 'refresh', at: '2026-12-06T10:00:00Z' };
  fs.mkdirSync(path.join(jobsDir, request.id));
  for (const [name, text] of Object.entries(files))
    fs.writeFileSync(path.join(jobsDir, request.id, name), text);
  return { jobsDir, request };
}

describe('job records', () => {
  it('a failed job shows its exit code and last error line, and is no longer pending', () => {
    const { jobsDir, request } = record({
      state: 'failed\n',
      exit: '5\n',
      started: '2026-12-06T10:00:01Z\n',
      finished: '2026-12-06T10:02:00Z\n',
      stderr: '{"level":50,"msg":"x"}\ncrm-index: Qdrant at http://qdrant.local:6333 refused: ECONNREFUSED\n',
    });
    const state = readJobState(jobsDir, request.id);
    expect(state).toMatchObject({ state: 'failed', exitCode: 5, counts: null });
    expect(jobPending(request, state)).toBe(false);
    expect(jobHealth(request, state)).toEqual({
      result: 'failure',
      message:
        'Refresh search index failed (exit 5): crm-index: Qdrant at http://qdrant.local:6333 refused: ECONNREFUSED',
    });
  });

  it('a job the service stopped says so', () => {
    const { jobsDir, request } = record({ state: 'failed\n', exit: '143\n' });
    expect(jobHealth(request, readJobState(jobsDir, request.id))).toEqual({
      result: 'failure',
      message: 'Refresh search index was stopped before it finished; run it again',
    });
  });

  it('no record yet is pending; no request at all is disabled', () => {
    const { jobsDir, request } = record({});
    expect(readJobState(jobsDir, request.id)).toBeNull();
    expect(jobPending(request, null)).toBe(true);
    expect(jobPending(null, null)).toBe(false);
    expect(jobHealth(null, null)).toEqual({ result: 'disabled', message: 'No index job has run yet' });
  });
});
