/**
 * The StartOS manifest: package identity, the one image (built from the
 * repository's Dockerfile for both architectures) and the two volumes.
 *
 * Volumes: `main` is mounted at /data in every subcontainer and holds the CRM
 * database (`crm.db`, the path CRM_DB_PATH points at) and, beside it, the
 * embedded index (`index.db`). `startos` holds only `store.json`, the operator
 * settings, so configuration and data can be backed up and restored apart.
 * The CRM itself is another service; until it ships as a StartOS package that
 * can share its volume with write access (we add triggers and `_cdc_*`
 * tables), its database lives in our `main` volume (see docs/packaging.md).
 */
import { setupManifest } from '@start9labs/start-sdk';

export const manifest = setupManifest({
  id: 'crm-index',
  title: 'CRM Index',
  license: 'MIT',
  packageRepo: 'https://github.com/crm-index/crm-index',
  upstreamRepo: 'https://github.com/crm-index/crm-index',
  marketingUrl: 'https://github.com/crm-index/crm-index',
  donationUrl: null,
  description: {
    short: 'Keeps a hybrid search index of a CRM database fresh and serves it to agents over MCP',
    long:
      'CRM Index captures every change to a CRM SQLite database with triggers, streams it into a hybrid ' +
      '(dense + BM25) search index in Qdrant or an embedded store within milliseconds, repairs drift with a ' +
      'periodic sweep, and serves search and CRM reads to AI agents over the Model Context Protocol.',
  },
  volumes: ['main', 'startos'],
  images: {
    main: {
      source: { dockerBuild: { dockerfile: 'Dockerfile', workdir: '.' } },
      arch: ['x86_64', 'aarch64'],
    },
  },
  dependencies: {},
});
