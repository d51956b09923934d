/** Init and uninit: restore, versions, interfaces, actions, then the install-time seed and task. */
import { sdk } from '../sdk.js';
import { restoreInit } from '../backups.js';
import { versionGraph } from '../versions/index.js';
import { setInterfaces } from '../interfaces.js';
import { actions } from '../actions/index.js';
import { seedStore } from './seedStore.js';

export const init = sdk.setupInit(restoreInit, versionGraph, setInterfaces, actions, seedStore);

export const uninit = sdk.setupUninit(versionGraph);
