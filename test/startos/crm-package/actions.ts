/** The CRM package's own "Rebuild search index" action, deciding with crm-index's builder. */
import { decideJob, type JobRequest, type Store } from '../../../startos/builders.js';
import { sdk } from './sdk.js';

export interface JobFiles {
  store: () => Promise<Store>;
  current: () => Promise<JobRequest | null>;
  record: (request: JobRequest) => Promise<void>;
  jobsDir: string;
}

export function rebuildAction(files: JobFiles) {
  return sdk.Action.withoutInput(
    'rebuild-search-index',
    async () => ({
      name: 'Rebuild search index',
      description: 'Re-index every CRM record in the background.',
      warning: null,
      allowedStatuses: 'only-running',
      group: null,
      visibility: 'enabled',
    }),
    async () => {
      const decision = decideJob({
        kind: 'rebuild',
        store: await files.store(),
        current: await files.current(),
        jobsDir: files.jobsDir,
      });
      if (decision.kind === 'refused') throw new Error(decision.message);
      if (decision.kind === 'start') await files.record(decision.request);
      return { version: '1', title: 'Rebuild search index', message: decision.message, result: null };
    },
  );
}
