/**
 * The one mount layout every subcontainer gets (daemons and one-shot
 * actions alike): the `main` volume, read-write, at /data, where
 * CRM_DB_PATH and the embedded index live. One definition, so an action can
 * never run against a different database than the daemons.
 */
import { sdk } from './sdk.js';
import { DATA_DIR } from './env.js';

export function dataMounts() {
  return sdk.Mounts.of().mountVolume({
    volumeId: 'main',
    subpath: null,
    mountpoint: DATA_DIR,
    readonly: false,
  });
}
