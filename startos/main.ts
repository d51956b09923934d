/**
 * The running service, rebuilt from three inputs whenever one changes
 * (`Daemons.dynamic` restarts only the daemons whose command, environment
 * or mounts changed):
 *
 * - the operator's settings (store.json);
 * - the host names StartOS publishes the MCP interface under
 *   (`sdk.host.getOwn`), which the MCP server's Host check must accept;
 * - the latest index job request (jobs.json), which adds its oneshot.
 *
 * The daemons themselves come from builders.ts, which the CRM's own
 * package can use too.
 */
import { sdk } from './sdk.js';
import { storeJson } from './store.js';
import { jobsJson } from './jobsFile.js';
import { dataMounts, paths } from './mounts.js';
import { emptyStore } from './env.js';
import { addCrmIndexDaemons, publishedHostNames } from './builders.js';

export const main = sdk.setupMain(async ({ effects }) =>
  sdk.Daemons.dynamic(effects, async ({ effects }) => {
    const store = (await storeJson.read().const(effects)) ?? emptyStore();
    const allowedHosts = await sdk.host.getOwn(effects, 'mcp', (host) => publishedHostNames(host)).const();
    const jobRequest = (await jobsJson.read((j) => j.request).const(effects)) ?? null;
    const subcontainer = sdk.SubContainer.of(effects, { imageId: 'main' }, dataMounts(), 'crm-index');
    return addCrmIndexDaemons(sdk.Daemons.of(effects), {
      subcontainer,
      store,
      allowedHosts,
      jobsDir: paths.jobsDir(),
      jobRequest,
    });
  }),
);
