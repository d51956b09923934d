/**
 * A minimal CRM package that runs crm-index inside itself (way 1 in
 * docs/packaging.md): its own web server image, crm-index's image (built
 * from crm-index's Dockerfile, here as a checkout beside the CRM's sources),
 * the CRM's `main` volume with `crm.db`, and a volume for the index.
 */
import { setupManifest } from '@start9labs/start-sdk';

export const manifest = setupManifest({
  id: 'example-crm',
  title: 'Example CRM',
  license: 'MIT',
  packageRepo: 'https://example.com/example-crm-startos',
  upstreamRepo: 'https://example.com/example-crm',
  marketingUrl: 'https://example.com/example-crm',
  donationUrl: null,
  description: { short: 'A CRM with its search index', long: 'A CRM whose package includes crm-index.' },
  volumes: ['main', 'crm-index'],
  images: {
    crm: { source: { dockerTag: 'example/crm:1.0.0' }, arch: ['x86_64', 'aarch64'] },
    'crm-index': {
      source: { dockerBuild: { dockerfile: 'crm-index/Dockerfile', workdir: 'crm-index' } },
      arch: ['x86_64', 'aarch64'],
    },
  },
  dependencies: {},
});
