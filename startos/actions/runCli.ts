/**
 * Runs one short `crm-index` command for an action (status, uninstall): a
 * temporary subcontainer of the service image with the same mounts and the
 * same environment as the daemons (both from the one store file), through
 * the entry point's --exec mode so it runs as the CRM database's owner.
 * When the CRM database is not there yet, it says so instead of waiting.
 * Long runs (rebuild, refresh) are index jobs under main (jobs.ts).
 */
import { sdk } from '../sdk.js';
import { storeJson } from '../store.js';
import { dataMounts } from '../mounts.js';
import { CRM_DB_PATH, RUN_AS, emptyStore, envFromStore, execArgsFor, type CliRun } from '../env.js';
import { failureMessage, lastJsonLine } from '../output.js';
import type { T } from '@start9labs/start-sdk';

export { failureMessage, formatCounts, lastJsonLine } from '../output.js';

export type CliOutcome =
  | {
      /** The last stdout line that parsed as a JSON object, if any. */
      json: Record<string, unknown> | null;
      stdout: string;
      dbMissing: false;
    }
  | { json: null; stdout: ''; dbMissing: true };

export async function runCli(effects: T.Effects, run: CliRun, timeoutMs: number): Promise<CliOutcome> {
  const store = (await storeJson.read().once()) ?? emptyStore();
  const env = envFromStore(store);
  return sdk.SubContainer.withTemp(
    effects,
    { imageId: 'main' },
    dataMounts(),
    `crm-index-${run}`,
    async (sub): Promise<CliOutcome> => {
      const probe = await sub.exec(['test', '-e', CRM_DB_PATH], { user: RUN_AS }, 30_000);
      if (probe.exitCode !== 0) return { json: null, stdout: '', dbMissing: true };
      const res = await sub.exec(execArgsFor(run), { env, user: RUN_AS }, timeoutMs);
      const stdout = String(res.stdout);
      if (res.exitCode !== 0)
        throw new Error(failureMessage(run, res.exitCode, res.exitSignal, String(res.stderr)));
      return { json: lastJsonLine(stdout), stdout, dbMissing: false };
    },
  );
}

/** What the operator reads while the CRM database is absent. */
export function waitingForDatabase(): string {
  return `Waiting for the CRM database at ${CRM_DB_PATH}: install and start the CRM package, which shares its data volume with crm-index (see the instructions).`;
}
