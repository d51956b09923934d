/**
 * Runs one `crm-index` command for an action: a temporary subcontainer of
 * the service image, the same /data mount and the same environment as the
 * daemons (both from the one store file), then the run's final JSON line
 * turned into the action's result message.
 *
 * One writer per cursor: when the indexer daemon is running, the CLI's lease
 * makes a one-shot run wait for or refuse the cursor; exit code 4 (a lease
 * error) comes back to the operator as a clear message, not a stack trace.
 */
import { sdk } from '../sdk.js';
import { storeJson } from '../store.js';
import { dataMounts } from '../mounts.js';
import { RUN_AS, cliArgsFor, emptyStore, envFromStore, type CliRun } from '../env.js';
import type { T } from '@start9labs/start-sdk';

/** Exit codes from cli/context.ts that deserve their own explanation. */
const EXIT_CONFIG = 2;
const EXIT_LEASE = 4;

export interface CliOutcome {
  /** The last stdout line that parsed as a JSON object, if any. */
  json: Record<string, unknown> | null;
  stdout: string;
}

export async function runCli(effects: T.Effects, run: CliRun, timeoutMs: number): Promise<CliOutcome> {
  const store = (await storeJson.read().once()) ?? emptyStore();
  const env = envFromStore(store);
  const command = cliArgsFor(run);
  const res = await sdk.SubContainer.withTemp(
    effects,
    { imageId: 'main' },
    dataMounts(),
    `crm-index-${run}`,
    (sub) => sub.exec(command, { env, user: RUN_AS }, timeoutMs),
  );
  const stdout = String(res.stdout);
  if (res.exitCode !== 0)
    throw new Error(failureMessage(run, res.exitCode, res.exitSignal, String(res.stderr)));
  return { json: lastJsonLine(stdout), stdout };
}

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
