/**
 * The version graph. To release a new version: add a file for it, make it
 * `current`, and move the previous one into `other` with its migrations.
 */
import { VersionGraph } from '@start9labs/start-sdk';
import { v0_1_0_0 } from './v0.1.0.0.js';

export const versionGraph = VersionGraph.of({ current: v0_1_0_0, other: [] });
