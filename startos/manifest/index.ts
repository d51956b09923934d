/**
 * The StartOS manifest: package identity, the one image (built from the
 * repository's Dockerfile for both architectures), the two volumes and the
 * CRM package this one indexes.
 *
 * Volumes: `main` is mounted at /index and holds the embedded index, the
 * local embedder's cache and the index job records. `startos` holds
 * `store.json` (the operator's settings) and `jobs.json`. The CRM database
 * itself stays in the CRM package's volume, mounted read-write at /data
 * (startos/mounts.ts).
 *
 * s9pk.mk takes the package id from the single line of this file that names
 * it (awk on the text): keep the id on one line, and on the only such line.
 */
import { setupManifest } from '@start9labs/start-sdk';
import { CRM_PACKAGE_ID } from '../env.js';

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
  dependencies: {
    [CRM_PACKAGE_ID]: {
      description:
        'The CRM whose SQLite database crm-index keeps indexed. Its data volume is mounted read-write: capture adds triggers and its own tables to the database.',
      optional: false,
      s9pk: null,
    },
  },
});
