/**
 * Credentials in a URL (`https://user:pass@host`) never reach a screen, a log
 * line or /healthz: `crm-index config` masks them, and so does every error
 * message that names the URL.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { errorMessage, maskCredentials, TransientError } from '../../config/errors.js';
import { CLI } from '../pipeline/torture.js';

describe('credentials in URLs', () => {
  it('are masked in any text, whatever the scheme, and nothing else changes', () => {
    expect(
      maskCredentials('at https://alice:s3cret@spark.local:8080/v1 and http://bob@q:6333 and ftp://x'),
    ).toBe('at https://***@spark.local:8080/v1 and http://***@q:6333 and ftp://x');
    expect(new TransientError('the server at http://u:p@h/ failed').message).toBe(
      'the server at http://***@h/ failed',
    );
    expect(errorMessage(new Error('connect ECONNREFUSED http://u:p@h'))).not.toContain('u:p');
  });

  it('are masked by `crm-index config`', () => {
    const r = spawnSync(process.execPath, [CLI, 'config'], {
      env: {
        ...process.env,
        SPARK_CONTROL_URL: 'https://alice:s3cret@spark.example:8443',
        QDRANT_URL: 'http://admin:hunter2@qdrant.example:6333',
        CRM_DB_PATH: '/nonexistent/crm.db',
      },
      encoding: 'utf8',
    });
    const out = r.stdout + r.stderr;
    expect(out).toContain('***@spark.example:8443');
    expect(out).not.toMatch(/s3cret|hunter2|alice|admin:/);
  });
});
