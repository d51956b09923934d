import { describe, expect, it } from 'vitest';
import { cliArgsFor, emptyStore, envFromStore, followerDecision, type Store } from '../../startos/env.js';
import { healthFromResponse } from '../../startos/health.js';
import { failureMessage, formatCounts, lastJsonLine } from '../../startos/actions/runCli.js';
import { inputProblems, inputFromStore } from '../../startos/actions/configure.js';

const full: Store = {
  ...emptyStore(),
  embeddingsUrl: 'https://spark.local:8443',
  verifyTls: false,
  embeddingsApiKey: 'key',
  embeddingModel: 'm',
  embeddingDim: 384,
  qdrantUrl: 'http://q:6333',
  qdrantApiKey: 'qk',
  collection: 'c1',
  syncIntervalMin: 5,
  mcpAuthToken: 't'.repeat(20),
};

describe('envFromStore', () => {
  it('maps every store field to the env var config/settings.ts reads', () => {
    expect(envFromStore(full)).toEqual({
      CRM_DB_PATH: '/data/crm.db',
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
    expect(cliArgsFor('rebuild').slice(3)).toEqual(['rebuild', '--json']);
    expect(cliArgsFor('refresh').slice(3)).toEqual(['refresh', '--json']);
    expect(cliArgsFor('status').slice(3)).toEqual(['status', '--json']);
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
  it('skips naming each missing variable', () => {
    expect(followerDecision(envFromStore(emptyStore()))).toEqual({
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
  it('2xx is success, 503 is loading with the reason, anything else a failure', () => {
    expect(healthFromResponse('The indexer', 200, '{"status":"ok"}')).toEqual({
      result: 'success',
      message: 'The indexer is ready: ok',
    });
    expect(healthFromResponse('The indexer', 503, '{"message":"backlog 1200"}')).toEqual({
      result: 'loading',
      message: 'The indexer is starting or catching up: backlog 1200',
    });
    expect(healthFromResponse('The MCP server', 500, 'boom\nstack')).toEqual({
      result: 'failure',
      message: 'The MCP server answered HTTP 500 on /healthz: boom',
    });
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
      collection: 'bad name',
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
