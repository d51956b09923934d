/**
 * "Build search index": entity resolution, then a full rebuild into a new
 * generation with an atomic switch (`crm-index rebuild --json`). Searches keep
 * answering from the old generation until the switch, so it runs while the
 * service is running or stopped.
 */
import { sdk } from '../sdk.js';
import { formatCounts, runCli } from './runCli.js';

/** A full rebuild embeds every record: hours for a large CRM on a slow embedder. */
export const REBUILD_TIMEOUT_MS = 6 * 60 * 60 * 1000;

export const buildSearchIndex = sdk.Action.withoutInput(
  'build-search-index',
  async () => ({
    name: 'Build search index',
    description:
      'Resolve entities, then re-index every CRM record into a new index generation and switch to it atomically. Searches keep working throughout.',
    warning:
      'This re-embeds every record; with a remote embeddings server it can take a long time and use its GPU.',
    allowedStatuses: 'any',
    group: 'Index',
    visibility: 'enabled',
  }),
  async ({ effects }) => {
    const { json } = await runCli(effects, 'rebuild', REBUILD_TIMEOUT_MS);
    return {
      version: '1',
      title: 'Search index built',
      message: json ? formatCounts(json) : 'The rebuild finished; it printed no counts.',
      result: null,
    };
  },
);
