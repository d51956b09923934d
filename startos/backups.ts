/**
 * Backups: both of this package's volumes, whole. `main` holds the embedded
 * index (rebuildable, but restoring it avoids re-embedding), the embedder
 * cache and the job records; `startos` holds store.json (the settings and
 * secrets) and jobs.json. The CRM database lives in the CRM package's volume
 * and is backed up with the CRM.
 */
import { sdk } from './sdk.js';

export const { createBackup, restoreInit } = sdk.setupBackups(async () =>
  sdk.Backups.ofVolumes('main', 'startos'),
);
