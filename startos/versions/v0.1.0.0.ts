/** The first packaged release. Nothing to migrate from; a downgrade below it is impossible. */
import { IMPOSSIBLE, VersionInfo } from '@start9labs/start-sdk';

export const v0_1_0_0 = VersionInfo.of({
  version: '0.1.0:0',
  releaseNotes:
    'First release: triggers capture CRM changes into a streaming indexer (supervised, with health), the MCP server runs as a daemon, and one Configure form holds every setting.',
  migrations: {
    up: async () => {},
    down: IMPOSSIBLE,
  },
});
