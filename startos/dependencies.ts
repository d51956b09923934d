/**
 * The CRM package must be installed: its data volume holds the database
 * (mounted read-write, startos/mounts.ts). It need not be running: SQLite
 * works on the file, and the daemons wait while the database is absent.
 */
import { sdk } from './sdk.js';
import { CRM_PACKAGE_ID } from './env.js';

export const setDependencies = sdk.setupDependencies(async () => ({
  [CRM_PACKAGE_ID]: { kind: 'exists', versionRange: '>=0' },
}));
