/**
 * "Refresh search index": one incremental pass (`crm-index refresh --json`):
 * drain the changelog, then the reconciliation sweep. Never recreates the
 * collection, so it is cheap and safe to run at any time.
 */
import { sdk } from '../sdk.js';
import { formatCounts, runCli } from './runCli.js';

/** Draining a large backlog plus the sweep: well under an hour even at 100k records. */
export const REFRESH_TIMEOUT_MS = 60 * 60 * 1000;

export const refreshSearchIndex = sdk.Action.withoutInput(
  'refresh-search-index',
  async () => ({
    name: 'Refresh search index',
    description:
      'Apply pending CRM changes to the search index, then compare the index with the CRM and repair what differs. Does not rebuild.',
    warning: null,
    allowedStatuses: 'any',
    group: 'Index',
    visibility: 'enabled',
  }),
  async ({ effects }) => {
    const { json } = await runCli(effects, 'refresh', REFRESH_TIMEOUT_MS);
    return {
      version: '1',
      title: 'Search index refreshed',
      message: json ? formatCounts(json) : 'The refresh finished; it printed no counts.',
      result: null,
    };
  },
);
