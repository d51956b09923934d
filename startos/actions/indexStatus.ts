/**
 * "Index status": `crm-index status --json` (lag, backlog, cursors, trigger
 * health, dead letters, last sweep) shown as a result, one row per field.
 */
import { sdk } from '../sdk.js';
import { runCli } from './runCli.js';
import type { T } from '@start9labs/start-sdk';

/** status only reads counters; a minute covers a busy database's lock waits. */
export const STATUS_TIMEOUT_MS = 2 * 60 * 1000;

/** One result member per field; objects become groups, so nested status stays readable. */
export function statusMembers(status: Record<string, unknown>): T.ActionResultMember[] {
  return Object.entries(status).map(([name, value]): T.ActionResultMember => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      return {
        type: 'group',
        name,
        description: null,
        value: statusMembers(value as Record<string, unknown>),
      };
    }
    return {
      type: 'single',
      name,
      description: null,
      value: typeof value === 'string' ? value : JSON.stringify(value),
      copyable: false,
      qr: false,
      masked: false,
    };
  });
}

export const indexStatus = sdk.Action.withoutInput(
  'index-status',
  async () => ({
    name: 'Index status',
    description: 'Show the index lag, changelog backlog, dead letters and the last sweep.',
    warning: null,
    allowedStatuses: 'any',
    group: 'Index',
    visibility: 'enabled',
  }),
  async ({ effects }) => {
    const { json, stdout } = await runCli(effects, 'status', STATUS_TIMEOUT_MS);
    return {
      version: '1',
      title: 'Index status',
      message: json ? null : stdout.trim() || 'crm-index status printed nothing.',
      result: json ? { type: 'group', value: statusMembers(json) } : null,
    };
  },
);
