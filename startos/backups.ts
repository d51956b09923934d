/**
 * Backups: both volumes, whole. `main` holds the CRM database and the
 * embedded index (rebuildable, but restoring it avoids re-embedding);
 * `startos` holds store.json, the settings and secrets.
 */
import { sdk } from './sdk.js';

export const { createBackup, restoreInit } = sdk.setupBackups(async () =>
  sdk.Backups.ofVolumes('main', 'startos'),
);
