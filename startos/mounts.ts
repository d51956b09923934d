/**
 * The one mount layout every subcontainer gets (daemons, index jobs and
 * one-shot actions alike):
 *
 * - the CRM package's data volume, read-write, at /data, where `crm.db`
 *   lives. Read-write because capture installs triggers and `_cdc_*`
 *   tables in it, and SQLite's WAL needs the database, `-wal` and `-shm`
 *   files on one filesystem;
 * - crm-index's own `main` volume at /index: the embedded index, the local
 *   embedder's cache and the job records.
 *
 * One definition, so an action can never run against a different database
 * than the daemons.
 */
import { sdk } from './sdk.js';
import { CRM_PACKAGE_ID, CRM_VOLUME_ID, DATA_DIR, INDEX_DIR } from './env.js';

export function dataMounts() {
  return sdk.Mounts.of()
    .mountDependency({
      dependencyId: CRM_PACKAGE_ID,
      volumeId: CRM_VOLUME_ID,
      subpath: null,
      mountpoint: DATA_DIR,
      readonly: false,
    })
    .mountVolume({ volumeId: 'main', subpath: null, mountpoint: INDEX_DIR, readonly: false });
}

/** Where the JS side (health checks, actions) reads the job records: JOBS_DIR on the `main` volume. */
export const paths = {
  jobsDir: (): string => sdk.volumes.main.subpath('jobs'),
};
