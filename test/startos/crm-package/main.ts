/**
 * The CRM's daemons plus crm-index's, from crm-index's builders. crm-index
 * runs in its own image, on the CRM's `main` volume at /data (where the CRM
 * keeps crm.db) and its own `crm-index` volume at /index.
 */
import type { T } from '@start9labs/start-sdk';
import { addCrmIndexDaemons, emptyStore, type JobRequest, type Store } from '../../../startos/builders.js';
import { sdk } from './sdk.js';

export interface CrmIndexInputs {
  store: Store;
  allowedHosts: string[];
  jobRequest: JobRequest | null;
  jobsDir: string;
}

export function crmDaemons(effects: T.Effects, inputs: CrmIndexInputs) {
  const crm = sdk.SubContainer.of(
    effects,
    { imageId: 'crm' },
    sdk.Mounts.of().mountVolume({ volumeId: 'main', subpath: null, mountpoint: '/data', readonly: false }),
    'crm',
  );
  const crmIndex = sdk.SubContainer.of(
    effects,
    { imageId: 'crm-index' },
    sdk.Mounts.of()
      .mountVolume({ volumeId: 'main', subpath: null, mountpoint: '/data', readonly: false })
      .mountVolume({ volumeId: 'crm-index', subpath: null, mountpoint: '/index', readonly: false }),
    'crm-index',
  );
  const withCrm = sdk.Daemons.of(effects).addDaemon('crm', {
    subcontainer: crm,
    exec: { command: ['crm-server', '--db', '/data/crm.db'] },
    ready: { display: 'CRM', fn: () => ({ result: 'success', message: 'up' }) },
    requires: [],
  });
  return addCrmIndexDaemons(withCrm, { subcontainer: crmIndex, ...inputs });
}

export const main = sdk.setupMain(async ({ effects }) =>
  sdk.Daemons.dynamic(effects, async ({ effects }) =>
    crmDaemons(effects, {
      store: emptyStore(),
      allowedHosts: await sdk.host
        .getOwn(effects, 'ui', (h) => (h ? Object.keys(h.publicDomains) : []))
        .const(),
      jobRequest: null,
      jobsDir: sdk.volumes['crm-index'].subpath('jobs'),
    }),
  ),
);
