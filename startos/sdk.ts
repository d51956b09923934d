/**
 * The package's SDK instance, bound to the manifest. Every other module gets
 * its builders (actions, daemons, mounts, interfaces) from here so they share
 * one typed view of the manifest's images and volumes.
 */
import { StartSdk } from '@start9labs/start-sdk';
import { manifest } from './manifest/index.js';

export const sdk = StartSdk.of().withManifest(manifest).build(true);
