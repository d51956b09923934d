/**
 * "Remove from the CRM database": `crm-index uninstall`, which drops the
 * capture triggers and every table crm-index added (`_cdc_*`, `_index_*`,
 * `entities*`, `mcp_*`) and leaves the CRM's own tables untouched. Uninstalling
 * the package runs the same command (init/index.ts); this action is for an
 * operator who wants it done first, or when that could not reach the CRM.
 */
import { sdk } from '../sdk.js';
import { runCli, waitingForDatabase } from './runCli.js';
import type { T } from '@start9labs/start-sdk';

/** Dropping a few triggers and tables; a busy CRM may hold the write lock for a while. */
export const UNINSTALL_TIMEOUT_MS = 2 * 60 * 1000;

export function removedMessage(json: Record<string, unknown> | null): string {
  const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : []);
  const triggers = list(json?.triggers);
  const tables = list(json?.tables);
  if (triggers.length === 0 && tables.length === 0) return "Nothing of crm-index's was in the CRM database.";
  return `Removed ${triggers.length} trigger(s) and ${tables.length} table(s) from the CRM database${tables.length ? `: ${tables.join(', ')}` : ''}. The CRM's own tables were not touched.`;
}

export async function removeCaptureFromCrm(effects: T.Effects): Promise<string> {
  const out = await runCli(effects, 'uninstall', UNINSTALL_TIMEOUT_MS);
  return out.dbMissing ? `Nothing to remove. ${waitingForDatabase()}` : removedMessage(out.json);
}

export const removeCapture = sdk.Action.withoutInput(
  'remove-capture',
  async () => ({
    name: 'Remove from the CRM database',
    description:
      "Drop crm-index's triggers and tables from the CRM database. The CRM's own data is untouched. The indexer installs them again when it next starts, so stop the service first.",
    warning: 'The index stops following CRM changes until the indexer installs capture again.',
    allowedStatuses: 'only-stopped',
    group: 'Index',
    visibility: 'enabled',
  }),
  async ({ effects }) => ({
    version: '1',
    title: 'Removed from the CRM database',
    message: await removeCaptureFromCrm(effects),
    result: null,
  }),
);
