/** follow's health is measured: a stopped stream, a failing pipeline and a stalled backlog are each unhealthy. */
import { describe, expect, it } from 'vitest';
import type { FollowState } from '../../runs/follow.js';
import { followHealth, STALLED_AFTER_MS, UNHEALTHY_AFTER_MS } from '../../runs/health.js';

const now = 10_000_000;
const base: FollowState = {
  startedAt: now - 3_600_000,
  paused: false,
  lastBatchAt: now - 1_000,
  lastIdleAt: now - 500,
  lastError: null,
  running: true,
  streamAlive: true,
};

describe('followHealth', () => {
  it('is ok when caught up, and catching up while a fresh backlog drains', () => {
    expect(followHealth({ state: base, backlog: 0, lagSeconds: 0, now })).toEqual({
      ok: true,
      status: 'ok',
      reason: null,
    });
    expect(followHealth({ state: base, backlog: 40, lagSeconds: 3, now }).status).toBe('catching-up');
  });

  it('is unhealthy when the stream is down or the daemon stopped', () => {
    const down = followHealth({
      state: { ...base, streamAlive: false, lastError: { at: now, message: 'database is locked' } },
      backlog: 0,
      lagSeconds: 0,
      now,
    });
    expect(down).toMatchObject({ ok: false, status: 'stream-down' });
    expect(down.reason).toContain('database is locked');
    expect(followHealth({ state: { ...base, running: false }, backlog: 0, lagSeconds: 0, now }).ok).toBe(
      false,
    );
  });

  it('is unhealthy when a backlog is older than the bound and nothing was indexed or drained meanwhile', () => {
    const quiet = now - STALLED_AFTER_MS - 1_000;
    const h = followHealth({
      state: { ...base, lastBatchAt: quiet, lastIdleAt: quiet },
      backlog: 12,
      lagSeconds: STALLED_AFTER_MS / 1000 + 5,
      now,
    });
    expect(h).toMatchObject({ ok: false, status: 'stalled' });
    expect(h.reason).toMatch(/12 change\(s\) have waited/);
    // The same old backlog while batches are being written is a long catch-up, not a stall.
    expect(
      followHealth({ state: base, backlog: 12, lagSeconds: STALLED_AFTER_MS / 1000 + 5, now }).status,
    ).toBe('catching-up');
  });

  it('is failing after errors with no successful batch for the grace period, with the message', () => {
    const h = followHealth({
      state: {
        ...base,
        lastBatchAt: now - UNHEALTHY_AFTER_MS - 1,
        lastError: { at: now, message: 'embedder down' },
      },
      backlog: 1,
      lagSeconds: 1,
      now,
    });
    expect(h).toEqual({ ok: false, status: 'failing', reason: 'embedder down' });
  });

  it('is failing at once on a reported problem', () => {
    const h = followHealth({
      state: base,
      backlog: 0,
      lagSeconds: 0,
      problems: ['the embedder is wrong.'],
      now,
    });
    expect(h).toEqual({ ok: false, status: 'failing', reason: 'the embedder is wrong.' });
  });
});
