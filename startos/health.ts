/**
 * Health checks for the two daemons: GET /healthz on the daemon's port.
 * The SDK's checkWebUrl passes on any HTTP answer, including a 503 the
 * daemon sends when it is up but not healthy; this check reads the status
 * code, so the StartOS dashboard shows what /healthz says.
 */
import type { T } from '@start9labs/start-sdk';

type HealthResult = Omit<T.NamedHealthCheckResult, 'name'>;

/** Map one /healthz answer to a dashboard result; pure, for tests. */
export function healthFromResponse(name: string, status: number, body: string): HealthResult {
  const detail = summarize(body);
  if (status >= 200 && status < 300) return { result: 'success', message: `${name} is ready${detail}` };
  if (status === 503) return { result: 'loading', message: `${name} is starting or catching up${detail}` };
  return { result: 'failure', message: `${name} answered HTTP ${status} on /healthz${detail}` };
}

/** A short tail for the message: the JSON `status`/`message`/`error` field, else the first line. */
function summarize(body: string): string {
  const text = body.trim();
  if (text === '') return '';
  try {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    for (const key of ['message', 'error', 'status']) {
      const v = parsed[key];
      if (typeof v === 'string' && v !== '') return `: ${v.slice(0, 200)}`;
    }
    return '';
  } catch {
    return `: ${text.split('\n')[0]!.slice(0, 200)}`;
  }
}

export async function checkHealthz(name: string, port: number, timeoutMs = 3000): Promise<HealthResult> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
    return healthFromResponse(name, res.status, await res.text());
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return { result: 'failure', message: `${name} is not answering on port ${port}: ${why}` };
  }
}
