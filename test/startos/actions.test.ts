import { afterEach, describe, expect, it, vi } from 'vitest';
import { actions } from '../../startos/actions/index.js';
import { configureSpec, inputFromStore, patterns, storeFromInput } from '../../startos/actions/configure.js';
import { REBUILD_TIMEOUT_MS } from '../../startos/actions/buildSearchIndex.js';
import { REFRESH_TIMEOUT_MS } from '../../startos/actions/refreshSearchIndex.js';
import { sdk } from '../../startos/sdk.js';
import { storeJson } from '../../startos/store.js';
import { cliArgsFor, emptyStore, envFromStore, type Store } from '../../startos/env.js';
import { stubEffects } from './stubEffects.js';

const configured: Store = {
  ...emptyStore(),
  embeddingsUrl: 'https://spark.local:8443',
  verifyTls: false,
  embeddingsApiKey: 'sk-embed-secret',
  embeddingModel: 'BAAI/bge-base-en-v1.5',
  embeddingDim: 768,
  qdrantUrl: 'http://qdrant.local:6333',
  qdrantApiKey: 'qdrant-secret',
  collection: 'crm_chunks',
  syncIntervalMin: 15,
  mcpAuthToken: 'a'.repeat(40),
};

/** Serve `store` as the store file's content for the duration of a test. */
function withStore(store: Store | null) {
  vi.spyOn(storeJson, 'read').mockReturnValue({
    once: async () => store,
    const: async () => store,
  } as any);
}

interface Exec {
  name: string;
  command: string[];
  options: { env?: Record<string, string | undefined>; user?: string } | undefined;
  timeoutMs: number | null | undefined;
  mountpoints: string[];
}

/** Replace the temporary subcontainer with one that records the exec and answers with `result`. */
function interceptSubcontainer(result: { exitCode: number; stdout: string; stderr?: string }): Exec[] {
  const calls: Exec[] = [];
  vi.spyOn(sdk.SubContainer, 'withTemp').mockImplementation((async (
    _effects: unknown,
    image: { imageId: string },
    mounts: { build(): { mountpoint: string }[] } | null,
    name: string,
    fn: (sub: unknown) => Promise<unknown>,
  ) => {
    expect(image.imageId).toBe('main');
    const sub = {
      exec: async (command: string[], options: Exec['options'], timeoutMs: number | null | undefined) => {
        calls.push({
          name,
          command,
          options,
          timeoutMs,
          mountpoints: (mounts?.build() ?? []).map((m) => m.mountpoint),
        });
        return {
          exitCode: result.exitCode,
          exitSignal: null,
          stdout: result.stdout,
          stderr: result.stderr ?? '',
        };
      },
    };
    return fn(sub);
  }) as any);
  return calls;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('action registry', () => {
  it('offers configure, build, refresh and status, with ids, names and allowed statuses', async () => {
    const { effects, exported } = stubEffects();
    const expected: Record<string, { name: string; hasInput: boolean }> = {
      configure: { name: 'Configure', hasInput: true },
      'build-search-index': { name: 'Build search index', hasInput: false },
      'refresh-search-index': { name: 'Refresh search index', hasInput: false },
      'index-status': { name: 'Index status', hasInput: false },
    };
    const ids = ['configure', 'build-search-index', 'refresh-search-index', 'index-status'] as const;
    for (const id of ids) {
      const meta = await actions.get(id).exportMetadata({ effects });
      expect(meta.name).toBe(expected[id]!.name);
      expect(meta.hasInput).toBe(expected[id]!.hasInput);
      expect(meta.allowedStatuses).toBe('any');
      expect(meta.visibility).toBe('enabled');
    }
    expect(exported.map((e) => e.id)).toEqual(Object.keys(expected));
  });
});

describe('configure', () => {
  it('has every field of the form, secrets masked, text fields with validation patterns', async () => {
    withStore(configured);
    const { effects } = stubEffects();
    const input = await actions.get('configure').getInput({ effects, prefill: null });
    const spec = input.spec as Record<string, any>;
    expect(Object.keys(spec).sort()).toEqual(
      [
        'embeddingsUrl',
        'verifyTls',
        'embeddingsApiKey',
        'embeddingModel',
        'embeddingDim',
        'indexStore',
        'qdrantUrl',
        'qdrantApiKey',
        'collection',
        'syncIntervalMin',
        'mcpAuthToken',
      ].sort(),
    );
    for (const [key, field] of Object.entries(spec)) {
      if (field.type === 'text') expect(field.patterns.length, `${key} has a pattern`).toBeGreaterThan(0);
    }
    for (const secret of ['embeddingsApiKey', 'qdrantApiKey', 'mcpAuthToken'])
      expect(spec[secret].masked).toBe(true);
    expect(spec.embeddingsUrl.masked).toBe(false);
    expect(spec.verifyTls.type).toBe('toggle');
    expect(spec.embeddingDim).toMatchObject({ type: 'number', integer: true, min: 1 });
    expect(spec.syncIntervalMin).toMatchObject({ type: 'number', min: 0.01, required: true });
    expect(spec.mcpAuthToken.generate).toMatchObject({ len: 40 });
    expect(spec.mcpAuthToken.default).toMatchObject({ len: 40 });
  });

  it('prefills the form from the store file', async () => {
    withStore(configured);
    const { effects } = stubEffects();
    const input = await actions.get('configure').getInput({ effects, prefill: null });
    expect(input.value).toMatchObject({
      embeddingsUrl: 'https://spark.local:8443',
      verifyTls: false,
      qdrantUrl: 'http://qdrant.local:6333',
      syncIntervalMin: 15,
      mcpAuthToken: 'a'.repeat(40),
    });
  });

  it('prefills defaults when no store file exists yet', async () => {
    withStore(null);
    const { effects } = stubEffects();
    const input = await actions.get('configure').getInput({ effects, prefill: null });
    expect(input.value).toMatchObject({
      collection: 'crm_chunks',
      syncIntervalMin: 60,
      verifyTls: true,
      embeddingsUrl: null,
    });
  });

  it('validation patterns accept good values and reject bad ones', () => {
    const ok = (p: { regex: string }, v: string) => new RegExp(p.regex).test(v);
    expect(ok(patterns.httpUrl, 'https://spark.local:8443')).toBe(true);
    expect(ok(patterns.httpUrl, 'http://10.0.0.5:6333/')).toBe(true);
    expect(ok(patterns.httpUrl, 'ftp://host')).toBe(false);
    expect(ok(patterns.httpUrl, 'spark.local:8443')).toBe(false);
    expect(ok(patterns.collection, 'crm_chunks')).toBe(true);
    expect(ok(patterns.collection, 'crm chunks')).toBe(false);
    expect(ok(patterns.mcpToken, 'short')).toBe(false);
    expect(ok(patterns.mcpToken, 'x'.repeat(16))).toBe(true);
    expect(ok(patterns.secret, 'has space')).toBe(false);
  });

  it('writes the submitted form to the store with merge, empty text meaning unset', async () => {
    withStore(configured);
    const merge = vi.spyOn(storeJson, 'merge').mockResolvedValue(null);
    const { effects } = stubEffects('event-save');
    const action = actions.get('configure');
    await action.getInput({ effects, prefill: null }); // the SDK requires the form to be built first
    const submitted = {
      ...inputFromStore(configured),
      embeddingsApiKey: '  ',
      qdrantUrl: 'http://qdrant.local:6333/',
    };
    await action.run({ effects, input: submitted });
    expect(merge).toHaveBeenCalledTimes(1);
    const written = merge.mock.calls[0]![1] as Store;
    expect(written.embeddingsApiKey).toBeNull();
    expect(written.qdrantUrl).toBe('http://qdrant.local:6333');
    expect(written.mcpAuthToken).toBe('a'.repeat(40));
  });

  it('rejects a submitted form whose MCP token is too short', async () => {
    withStore(configured);
    vi.spyOn(storeJson, 'merge').mockResolvedValue(null);
    const { effects } = stubEffects('event-bad');
    const action = actions.get('configure');
    await action.getInput({ effects, prefill: null });
    await expect(
      action.run({ effects, input: { ...inputFromStore(configured), mcpAuthToken: 'short' } }),
    ).rejects.toThrow();
  });

  it('round-trips the store through the form unchanged', () => {
    expect(storeFromInput(inputFromStore(configured))).toEqual(configured);
    expect(configureSpec).toBeDefined();
  });
});

describe('build and refresh run the CLI in a subcontainer with the store as environment', () => {
  it('build-search-index runs `rebuild --json` with /data mounted and reports the counts', async () => {
    withStore(configured);
    const calls = interceptSubcontainer({
      exitCode: 0,
      stdout: 'progress line\n{"records":120,"chunks":340,"entities":{"people":40,"organizations":12}}\n',
    });
    const { effects } = stubEffects();
    const result = await actions.get('build-search-index').run({ effects, input: {} });
    expect(calls).toHaveLength(1);
    expect(calls[0]!.command).toEqual([
      'node',
      '--max-old-space-size=256',
      '/app/dist/cli/main.js',
      'rebuild',
      '--json',
    ]);
    expect(calls[0]!.command).toEqual(cliArgsFor('rebuild'));
    expect(calls[0]!.options?.env).toEqual(envFromStore(configured));
    expect(calls[0]!.options?.env).toMatchObject({
      SPARK_CONTROL_URL: 'https://spark.local:8443',
      SPARK_CONTROL_VERIFY_TLS: 'false',
      QDRANT_URL: 'http://qdrant.local:6333',
      CRM_DB_PATH: '/data/crm.db',
    });
    expect(calls[0]!.options?.user).toBe('crm');
    expect(calls[0]!.timeoutMs).toBe(REBUILD_TIMEOUT_MS);
    expect(calls[0]!.mountpoints).toEqual(['/data']);
    expect(result).toMatchObject({
      version: '1',
      message: 'records 120, chunks 340, entities.people 40, entities.organizations 12',
    });
  });

  it('refresh-search-index runs `refresh --json` and reports the counts', async () => {
    withStore(configured);
    const calls = interceptSubcontainer({
      exitCode: 0,
      stdout: '{"added":3,"updated":1,"unchanged":96,"deleted":0,"failed":0}\n',
    });
    const { effects } = stubEffects();
    const result = await actions.get('refresh-search-index').run({ effects, input: {} });
    expect(calls[0]!.command).toEqual([
      'node',
      '--max-old-space-size=256',
      '/app/dist/cli/main.js',
      'refresh',
      '--json',
    ]);
    expect(calls[0]!.options?.env).toEqual(envFromStore(configured));
    expect(calls[0]!.timeoutMs).toBe(REFRESH_TIMEOUT_MS);
    expect(result).toMatchObject({ message: 'added 3, updated 1, unchanged 96, deleted 0, failed 0' });
  });

  it('a held cursor lease (exit 4) comes back as a clear message naming the daemon', async () => {
    withStore(configured);
    interceptSubcontainer({
      exitCode: 4,
      stdout: '',
      stderr: 'crm-index: lease "index" is held by follow (pid 12)\n',
    });
    const { effects } = stubEffects();
    await expect(actions.get('refresh-search-index').run({ effects, input: {} })).rejects.toThrow(
      /holds the index cursor[\s\S]*lease "index" is held by follow/,
    );
  });

  it('index-status shows the status JSON as a result group', async () => {
    withStore(configured);
    const calls = interceptSubcontainer({
      exitCode: 0,
      stdout:
        '{"backlog":0,"lagSeconds":0.2,"deadLetters":1,"lastSweep":{"at":"2026-11-26T10:00:00Z","repaired":0}}\n',
    });
    const { effects } = stubEffects();
    const result = await actions.get('index-status').run({ effects, input: {} });
    expect(calls[0]!.command).toEqual(cliArgsFor('status'));
    const value = (result as any).result;
    expect(value.type).toBe('group');
    expect(value.value.map((m: { name: string }) => m.name)).toEqual([
      'backlog',
      'lagSeconds',
      'deadLetters',
      'lastSweep',
    ]);
    expect(value.value[3]).toMatchObject({
      type: 'group',
      value: [
        { name: 'at', value: '2026-11-26T10:00:00Z' },
        { name: 'repaired', value: '0' },
      ],
    });
  });
});
