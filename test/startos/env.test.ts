import { describe, expect, it } from 'vitest';
import {
  cliArgsFor,
  emptyStore,
  envFromStore,
  execArgsFor,
  followerDecision,
  jobArgsFor,
  type Store,
} from '../../startos/env.js';
import { checkHealthz, healthFromResponse } from '../../startos/health.js';
import { failureMessage, formatCounts, lastJsonLine } from '../../startos/output.js';
import { inputProblems, inputFromStore } from '../../startos/actions/configure.js';

const full: Store = {
  ...emptyStore(),
  embeddingsUrl: 'https://spark.local:8443',
  verifyTls: false,
  embeddingsApiKey: 'key',
  embeddingModel: 'm',
  embeddingDim: 384,
  indexStore: 'qdrant',
  qdrantUrl: 'http://q:6333',
  qdrantApiKey: 'qk',
  collection: 'c1',
  syncIntervalMin: 5,
  mcpAuthToken: 't'.repeat(20),
};

describe('envFromStore', () => {
  it('maps every store field to the env var config/settings.ts reads', () => {
    expect(envFromStore(full, ['crm-index.local', '192.168.1.50'])).toEqual({
      CRM_DB_PATH: '/data/crm.db',
      CRM_INDEX_PATH: '/index/index.db',
      CRM_INDEX_CACHE_DIR: '/index/cache',
      MCP_ALLOWED_HOSTS: 'crm-index.local,192.168.1.50',
      CRM_INDEX_STORE: 'qdrant',
      SPARK_CONTROL_URL: 'https://spark.local:8443',
      SPARK_CONTROL_VERIFY_TLS: 'false',
      SPARK_CONTROL_API_KEY: 'key',
      EMBEDDING_MODEL: 'm',
      EMBEDDING_DIM: '384',
      QDRANT_URL: 'http://q:6333',
      QDRANT_API_KEY: 'qk',
      QDRANT_COLLECTION: 'c1',
      CRM_INGEST_SYNC_INTERVAL_MIN: '5',
      MCP_AUTH_TOKEN: 't'.repeat(20),
      CRM_INDEX_HTTP_HOST: '0.0.0.0',
      CRM_INDEX_HTTP_PORT: '8787',
      MCP_HTTP_PORT: '8788',
    });
  });

  it('leaves unset optional settings out instead of passing empty strings', () => {
    const env = envFromStore(emptyStore());
    for (const name of [
      'SPARK_CONTROL_URL',
      'SPARK_CONTROL_API_KEY',
      'EMBEDDING_MODEL',
      'EMBEDDING_DIM',
      'QDRANT_URL',
      'QDRANT_API_KEY',
      'MCP_AUTH_TOKEN',
      'MCP_ALLOWED_HOSTS',
    ]) {
      expect(env, name).not.toHaveProperty(name);
    }
    expect(Object.values(env).every((v) => v !== '')).toBe(true);
  });

  it('drops the Qdrant URL and key when the embedded store is chosen', () => {
    const env = envFromStore({ ...full, indexStore: 'embedded' });
    expect(env).not.toHaveProperty('QDRANT_URL');
    expect(env).not.toHaveProperty('QDRANT_API_KEY');
    expect(env.CRM_INDEX_STORE).toBe('embedded');
  });
});

describe('cliArgsFor', () => {
  it('builds the argv of each run on the image CLI', () => {
    expect(cliArgsFor('follow')).toEqual([
      'node',
      '--max-old-space-size=256',
      '/app/dist/cli/main.js',
      'follow',
    ]);
    expect(cliArgsFor('mcp')).toEqual([
      'node',
      '--max-old-space-size=256',
      '/app/dist/cli/main.js',
      'mcp',
      '--http',
      '--host',
      '0.0.0.0',
      '--port',
      '8788',
    ]);
    // A long refresh must not end because follow took more than refresh's default 120 s to hand over.
    expect(cliArgsFor('rebuild').slice(3)).toEqual(['rebuild', '--json', '--wait', '3600']);
    expect(cliArgsFor('refresh').slice(3)).toEqual(['refresh', '--json', '--wait', '3600']);
    expect(cliArgsFor('status').slice(3)).toEqual(['status', '--json']);
    expect(cliArgsFor('uninstall').slice(3)).toEqual(['uninstall', '--json']);
  });

  it('starts daemons and short runs through the entry point, jobs with their record folder', () => {
    expect(execArgsFor('follow')).toEqual([
      '/usr/local/bin/docker_entrypoint.sh',
      '--exec',
      ...cliArgsFor('follow'),
    ]);
    expect(jobArgsFor('rebuild', '20261206T100000Z-rebuild')).toEqual([
      '/usr/local/bin/docker_entrypoint.sh',
      '--job',
      '/index/jobs/20261206T100000Z-rebuild',
      ...cliArgsFor('rebuild'),
    ]);
  });
});

describe('followerDecision (the entrypoint rule)', () => {
  it('starts with an embeddings URL and a Qdrant URL', () => {
    expect(followerDecision(envFromStore(full))).toEqual({ start: true });
  });
  it('starts with the embedded store even without endpoints', () => {
    expect(followerDecision(envFromStore({ ...emptyStore(), indexStore: 'embedded' }))).toEqual({
      start: true,
    });
  });
  it('starts on a fresh install: the default store is embedded, with the local embedder', () => {
    expect(emptyStore().indexStore).toBe('embedded');
    expect(followerDecision(envFromStore(emptyStore()))).toEqual({ start: true });
  });
  it('skips naming each missing variable', () => {
    expect(followerDecision(envFromStore({ ...emptyStore(), indexStore: 'qdrant' }))).toEqual({
      start: false,
      reason: 'SPARK_CONTROL_URL and QDRANT_URL are not set and CRM_INDEX_STORE is not embedded',
    });
    expect(followerDecision(envFromStore({ ...full, qdrantUrl: null }))).toMatchObject({
      reason: 'QDRANT_URL is not set and CRM_INDEX_STORE is not embedded',
    });
    expect(followerDecision(envFromStore({ ...full, embeddingsUrl: null }))).toMatchObject({
      reason: 'SPARK_CONTROL_URL is not set and CRM_INDEX_STORE is not embedded',
    });
  });
});

describe('health from /healthz', () => {
  const healthz = (o: Record<string, unknown>) =>
    JSON.stringify({ ok: true, running: true, backlog: 0, lagSeconds: 0.1, lastError: null, ...o });

  it('ready: 2xx with a small backlog', () => {
    expect(healthFromResponse('The indexer', 200, healthz({ backlog: 12, lagSeconds: 0.4 }))).toEqual({
      result: 'success',
      message: 'The indexer is ready (12 changes behind, lag 0 s)',
    });
    expect(healthFromResponse('The MCP server', 200, '{"status":"ok","readOnly":false}')).toEqual({
      result: 'success',
      message: 'The MCP server is ready',
    });
  });

  it('catching up: 2xx with a large backlog', () => {
    expect(healthFromResponse('The indexer', 200, healthz({ backlog: 5000, lagSeconds: 95 }))).toEqual({
      result: 'loading',
      message: 'The indexer is catching up: 5000 changes behind, lag 95 s',
    });
  });

  it('starting: 503 without an error (the pipeline is not running yet)', () => {
    expect(
      healthFromResponse('The indexer', 503, healthz({ ok: false, running: false, backlog: 40 })),
    ).toEqual({
      result: 'loading',
      message: 'The indexer is starting (40 changes behind, lag 0 s)',
    });
  });

  it("failing: 503 with follow's last error, shown to the operator", () => {
    const body = healthz({
      ok: false,
      lastError: {
        at: '2026-12-06T10:00:00Z',
        message: 'embeddings server https://spark.local:8443 refused: ECONNREFUSED',
      },
    });
    expect(healthFromResponse('The indexer', 503, body)).toEqual({
      result: 'failure',
      message: 'The indexer is failing: embeddings server https://spark.local:8443 refused: ECONNREFUSED',
    });
  });

  it('refused or broken: other statuses are failures with their reason', () => {
    expect(
      healthFromResponse('The indexer', 401, 'send "Authorization: Bearer <MCP_AUTH_TOKEN>".\n'),
    ).toEqual({
      result: 'failure',
      message:
        'The indexer answered HTTP 401 on /healthz (the health check was refused: check the MCP token): send "Authorization: Bearer <MCP_AUTH_TOKEN>".',
    });
    expect(healthFromResponse('The MCP server', 500, 'boom\nstack')).toEqual({
      result: 'failure',
      message: 'The MCP server answered HTTP 500 on /healthz: boom',
    });
  });

  it('waiting for the database: no answer and no database; not answering otherwise', async () => {
    // A port nothing listens on: bind one, note it, close it.
    const http = await import('node:http');
    const srv = http.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const waiting = await checkHealthz({
      name: 'The indexer',
      port,
      dbPresent: async () => false,
      dbPath: '/data/crm.db',
    });
    expect(waiting).toEqual({
      result: 'loading',
      message: 'The indexer is waiting for the CRM database at /data/crm.db',
    });
    const down = await checkHealthz({ name: 'The indexer', port, dbPresent: async () => true });
    expect(down.result).toBe('failure');
    expect(down.message).toMatch(new RegExp(`^The indexer is not answering on port ${port}`));
  });
});

describe('CLI output handling', () => {
  it('takes the last JSON object line of stdout', () => {
    expect(lastJsonLine('starting\n{"a":1}\nnoise\n{"b":2}\n')).toEqual({ b: 2 });
    expect(lastJsonLine('{not json\nplain')).toBeNull();
    expect(lastJsonLine('[1,2]')).toBeNull();
  });
  it('formats counts as one line, nested fields with dots', () => {
    expect(formatCounts({ added: 1, nested: { x: 2 }, skip: [1] })).toBe('added 1, nested.x 2');
  });
  it('explains config and lease exit codes and timeouts', () => {
    expect(failureMessage('refresh', 4, null, '')).toMatch(/holds the index cursor/);
    expect(failureMessage('rebuild', 2, null, 'crm-index: QDRANT_URL="x" is not a URL')).toMatch(
      /Configure action[\s\S]*QDRANT_URL/,
    );
    expect(failureMessage('rebuild', null, 'SIGKILL', '')).toMatch(/stopped by SIGKILL/);
    expect(failureMessage('status', 1, null, '')).toBe('crm-index status failed with exit code 1.');
  });
});

describe('configure input checks', () => {
  it('reports each bad field by its label, and a missing MCP token', () => {
    const input = {
      ...inputFromStore(full),
      embeddingsUrl: 'spark.local',
      indexStore: {
        selection: 'qdrant' as const,
        value: { qdrantUrl: 'http://q:6333', qdrantApiKey: 'qk', collection: 'bad name' },
      },
      mcpAuthToken: ' ',
    };
    expect(inputProblems(input)).toEqual([
      'MCP token: required; use the generate button.',
      'Embeddings URL: A URL starting with http:// or https://, such as https://spark.local:8443.',
      'Collection name: Letters, digits, _ and - only.',
    ]);
    expect(inputProblems(inputFromStore(full))).toEqual([]);
  });
});
