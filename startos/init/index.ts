/**
 * Init: restore, versions, dependencies, interfaces, actions, then the
 * install-time seed and task. Uninit: versions, then, on uninstall only,
 * remove crm-index's triggers and tables from the CRM database.
 */
import { sdk } from '../sdk.js';
import { restoreInit } from '../backups.js';
import { versionGraph } from '../versions/index.js';
import { setDependencies } from '../dependencies.js';
import { setInterfaces } from '../interfaces.js';
import { actions } from '../actions/index.js';
import { removeCaptureFromCrm } from '../actions/removeCapture.js';
import { seedStore } from './seedStore.js';

export const init = sdk.setupInit(
  restoreInit,
  versionGraph,
  setDependencies,
  setInterfaces,
  actions,
  seedStore,
);

/**
 * On uninstall (target null) the CRM keeps running without us: left behind,
 * the triggers would fill `_cdc_changelog` forever. When the CRM's volume
 * cannot be reached (the CRM package was removed first), there is nothing
 * left to clean; any other failure is logged with what to do, and the
 * uninstall goes on.
 */
export const removeCaptureOnUninstall = sdk.setupOnUninit(async (effects, target) => {
  if (target !== null) return;
  try {
    console.info(`[crm-index] uninstall: ${await removeCaptureFromCrm(effects)}`);
  } catch (err) {
    console.error(
      `[crm-index] uninstall: could not remove crm-index's triggers and tables from the CRM database (${err instanceof Error ? err.message : String(err)}). ` +
        'Run `crm-index uninstall` against the database, or reinstall crm-index and run "Remove from the CRM database" before uninstalling.',
    );
  }
});

export const uninit = sdk.setupUninit(versionGraph, removeCaptureOnUninstall);
