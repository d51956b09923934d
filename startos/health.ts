/**
 * Health checks for the two daemons, read from their /healthz. The dashboard
 * shows one of five states, each with its reason:
 *
 * - waiting for the CRM database (not there yet: the daemon's entry point
 *   waits for it instead of exiting);
 * - starting (no answer yet, or follow up but not running its pipeline);
 * - catching up (follow healthy with a large backlog);
 * - failing, with follow's last error (a 503 that carries `lastError`);
 * - ready.
 *
 * The SDK's checkWebUrl passes on any HTTP answer, including a 503, so it is
 * not used. follow's /healthz needs the MCP token beyond loopback, so the
 * check sends it.
 */
import type { T } from '@start9labs/start-sdk';

export type HealthResult = Omit<T.NamedHealthCheckResult, 'name'>;

/** Changes behind at which a healthy indexer shows as catching up rather than ready. */
export const CATCHING_UP_BACKLOG = 1000;

interface HealthzBody {
  status?: unknown;
  running?: unknown;
  backlog?: unknown;
  lagSeconds?: unknown;
  lastError?: { message?: unknown } | null;
  message?: unknown;
  error?: unknown;
}

function parse(body: string): HealthzBody | null {
  try {
    const v: unknown = JSON.parse(body);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as HealthzBody) : null;
  } catch {
    return null;
  }
}

const clip = (s: string) => s.replace(/\s+/g, ' ').trim().slice(0, 200);

/** Map one /healthz answer to a dashboard result; pure, for tests. */
export function healthFromResponse(name: string, status: number, body: string): HealthResult {
  const json = parse(body);
  const backlog = typeof json?.backlog === 'number' ? json.backlog : null;
  const lag = typeof json?.lagSeconds === 'number' ? json.lagSeconds : null;
  const behind =
    backlog === null ? '' : `${backlog} changes behind${lag === null ? '' : `, lag ${Math.round(lag)} s`}`;
  const lastError = typeof json?.lastError?.message === 'string' ? clip(json.lastError.message) : null;
  if (status >= 200 && status < 300) {
    if (backlog !== null && backlog >= CATCHING_UP_BACKLOG)
      return { result: 'loading', message: `${name} is catching up: ${behind}` };
    return { result: 'success', message: `${name} is ready${behind ? ` (${behind})` : ''}` };
  }
  if (status === 503) {
    if (lastError) return { result: 'failure', message: `${name} is failing: ${lastError}` };
    return { result: 'loading', message: `${name} is starting${behind ? ` (${behind})` : ''}` };
  }
  const detail =
    [json?.message, json?.error, json?.status].find((v): v is string => typeof v === 'string' && v !== '') ??
    (json ? '' : (body.trim().split('\n')[0] ?? ''));
  const why = status === 401 || status === 403 ? ' (the health check was refused: check the MCP token)' : '';
  return {
    result: 'failure',
    message: `${name} answered HTTP ${status} on /healthz${why}${detail ? `: ${clip(detail)}` : ''}`,
  };
}

export interface HealthzCheck {
  name: string;
  port: number;
  /** Sent as a bearer token (follow's /healthz needs it beyond loopback). */
  token?: string | null;
  /** Whether the CRM database is there; asked only when the daemon does not answer. */
  dbPresent?: () => Promise<boolean>;
  /** Where the daemon looks for the database, for the waiting message. */
  dbPath?: string;
  timeoutMs?: number;
}

export async function checkHealthz(check: HealthzCheck): Promise<HealthResult> {
  const { name, port, token, timeoutMs = 3000 } = check;
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(timeoutMs),
    });
    return healthFromResponse(name, res.status, await res.text());
  } catch (err) {
    if (check.dbPresent && !(await check.dbPresent().catch(() => true))) {
      return {
        result: 'loading',
        message: `${name} is waiting for the CRM database at ${check.dbPath ?? 'CRM_DB_PATH'}`,
      };
    }
    const why = err instanceof Error ? err.message : String(err);
    return { result: 'failure', message: `${name} is not answering on port ${port}: ${why}` };
  }
}
