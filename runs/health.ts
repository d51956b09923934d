/**
 * follow's health, from what it measured rather than from whether the process
 * is up: the wake-up stream is alive, batches succeed, and a backlog drains.
 * One pure function, so /healthz, the status page and the tests agree.
 */
import type { FollowState } from './follow.js';

/** How long a failing pipeline still reports healthy: brief store or embedder blips should not restart anything. */
export const UNHEALTHY_AFTER_MS = 120_000;
/** A change waiting longer than this while nothing was written or drained counts as stalled. */
export const STALLED_AFTER_MS = 120_000;

export type FollowStatus = 'ok' | 'catching-up' | 'failing' | 'stalled' | 'stream-down' | 'stopped';

export interface FollowHealth {
  ok: boolean;
  status: FollowStatus;
  /** Why it is not ok, in one sentence an operator can act on; null when ok. */
  reason: string | null;
}

export interface HealthInputs {
  state: FollowState;
  /** Seconds since the oldest change still waiting (0 when caught up). */
  lagSeconds: number;
  backlog: number;
  /** Conditions that stop indexing whatever the timings say (a fault of the embedder, a table the map no longer fits). */
  problems?: string[];
  now?: number;
}

export function followHealth(h: HealthInputs): FollowHealth {
  const { state: s } = h;
  const now = h.now ?? Date.now();
  if (!s.running) return { ok: false, status: 'stopped', reason: 'follow has stopped.' };
  if (!s.streamAlive)
    return {
      ok: false,
      status: 'stream-down',
      reason: `the wake-up stream is down and restarting${s.lastError ? `: ${s.lastError.message}` : ''}.`,
    };
  if (h.problems && h.problems.length > 0)
    return { ok: false, status: 'failing', reason: h.problems.join(' ') };
  const lastProgress = Math.max(s.lastBatchAt ?? 0, s.lastIdleAt ?? 0, s.startedAt);
  if (s.lastError !== null && now - (s.lastBatchAt ?? s.startedAt) > UNHEALTHY_AFTER_MS)
    return { ok: false, status: 'failing', reason: s.lastError.message };
  if (h.backlog > 0 && h.lagSeconds * 1000 > STALLED_AFTER_MS && now - lastProgress > STALLED_AFTER_MS)
    return {
      ok: false,
      status: 'stalled',
      reason: `${h.backlog} change(s) have waited ${Math.round(h.lagSeconds)} s and nothing was indexed for ${Math.round((now - lastProgress) / 1000)} s${s.paused ? ' (paused for a one-shot run that holds the cursor)' : ''}.`,
    };
  if (h.backlog > 0) return { ok: true, status: 'catching-up', reason: null };
  return { ok: true, status: 'ok', reason: null };
}
