/**
 * Turning a CLI run's output into what the operator reads: the final JSON
 * line of counts, a one-line summary of it, and failure messages by exit
 * code. Pure (no SDK import), shared by the actions, the job records and the
 * tests.
 */
import type { CliRun } from './env.js';

/** Exit codes from cli/context.ts that deserve their own explanation. */
const EXIT_CONFIG = 2;
const EXIT_LEASE = 4;

export function failureMessage(
  run: CliRun,
  code: number | null,
  signal: string | null,
  stderr: string,
): string {
  const tail = stderr.trim().split('\n').slice(-5).join('\n');
  const detail = tail === '' ? '' : `\n${tail}`;
  if (signal)
    return `crm-index ${run} was stopped by ${signal} (timeout or shutdown); run it again.${detail}`;
  if (code === EXIT_LEASE) {
    return (
      `crm-index ${run} did not start: another run (usually the Indexer daemon) holds the index cursor. ` +
      `The daemon already applies changes continuously; wait for it, or stop the service and run this again.${detail}`
    );
  }
  if (code === EXIT_CONFIG)
    return `crm-index ${run} refused the configuration; fix it with the Configure action.${detail}`;
  return `crm-index ${run} failed with exit code ${code}.${detail}`;
}

export function lastJsonLine(stdout: string): Record<string, unknown> | null {
  const lines = stdout.trim().split('\n').reverse();
  for (const line of lines) {
    const text = line.trim();
    if (!text.startsWith('{')) continue;
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
        return parsed as Record<string, unknown>;
    } catch {
      // a log line that happens to start with '{' but is not JSON: keep looking
    }
  }
  return null;
}

/** "added 3, updated 1, deleted 0, …": scalar fields of a counts object, nested objects flattened with dots. */
export function formatCounts(counts: Record<string, unknown>, prefix = ''): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(counts)) {
    const name = prefix === '' ? key : `${prefix}.${key}`;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const inner = formatCounts(value as Record<string, unknown>, name);
      if (inner !== '') parts.push(inner);
    } else if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') {
      parts.push(`${name} ${String(value)}`);
    }
  }
  return parts.join(', ');
}
