import { afterEach, describe, expect, it, vi } from 'vitest';
import { actions } from '../../startos/actions/index.js';
import { configureSpec, inputFromStore, patterns, storeFromInput } from '../../startos/actions/configure.js';
import { sdk } from '../../startos/sdk.js';
import { storeJson } from '../../startos/store.js';
import { emptyStore, envFromStore, execArgsFor, type Store } from '../../startos/env.js';
import { jobsJson } from '../../startos/jobsFile.js';
import { removeCaptureOnUninstall } from '../../startos/init/index.js';
import { stubEffects } from './stubEffects.js';

const configured: Store = {
  ...emptyStore(),
  embeddingsUrl: 'https://spark.local:8443',
  verifyTls: false,
  embeddingsApiKey: 'sk-embed-secret',
  embeddingModel: 'BAAI/bge-base-en-v1.5',
  embeddingDim: 768,
  indexStore: 'qdrant',
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

/**
 * Replace the temporary subcontainer with one that records each exec and
 * answers with `result`; the database probe (`test -e`) answers `dbPresent`.
 */
function interceptSubcontainer(
  result: { exitCode: number; stdout: string; stderr?: string },
  dbPresent = true,
): Exec[] {
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
        if (command[0] === 'test')
          return { exitCode: dbPresent ? 0 : 1, exitSignal: null, stdout: '', stderr: '' };
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
  it('offers every action, with ids, names, inputs and the statuses each may run in', async () => {
    const { effects, exported } = stubEffects();
    const expected: Record<string, { name: string; hasInput: boolean; allowed: string }> = {
      configure: { name: 'Configure', hasInput: true, allowed: 'any' },
      // Index jobs run under main, beside the daemons.
      'build-search-index': { name: 'Build search index', hasInput: false, allowed: 'only-running' },
      'refresh-search-index': { name: 'Refresh search index', hasInput: false, allowed: 'only-running' },
      'index-status': { name: 'Index status', hasInput: false, allowed: 'any' },
      'mcp-connection': { name: 'MCP connection', hasInput: false, allowed: 'any' },
      'remove-capture': { name: 'Remove from the CRM database', hasInput: false, allowed: 'only-stopped' },
    };
    for (const id of Object.keys(expected) as (keyof typeof expected)[]) {
      const meta = await (actions.get as (id: string) => any)(id).exportMetadata({ effects });
      expect(meta.name).toBe(expected[id]!.name);
      expect(meta.hasInput).toBe(expected[id]!.hasInput);
      expect(meta.allowedStatuses, id).toBe(expected[id]!.allowed);
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
        'syncIntervalMin',
        'mcpAuthToken',
      ].sort(),
    );
    for (const [key, field] of Object.entries(spec)) {
      if (field.type === 'text') expect(field.patterns.length, `${key} has a pattern`).toBeGreaterThan(0);
    }
    for (const secret of ['embeddingsApiKey', 'mcpAuthToken']) expect(spec[secret].masked).toBe(true);
    expect(spec.embeddingsUrl.masked).toBe(false);
    expect(spec.verifyTls.type).toBe('toggle');
    expect(spec.embeddingDim).toMatchObject({ type: 'number', integer: true, min: 1 });
    expect(spec.syncIntervalMin).toMatchObject({ type: 'number', min: 0.01, required: true });
    expect(spec.mcpAuthToken.generate).toMatchObject({ len: 40 });
    expect(spec.mcpAuthToken.default).toMatchObject({ len: 40 });
  });

  it('offers the index store as a union whose Qdrant variant requires its URL', async () => {
    withStore(configured);
    const { effects } = stubEffects();
    const input = await actions.get('configure').getInput({ effects, prefill: null });
    const union = (input.spec as Record<string, any>).indexStore;
    expect(union.type).toBe('union');
    expect(union.default).toBe('embedded');
    expect(Object.keys(union.variants).sort()).toEqual(['embedded', 'qdrant']);
    const qdrant = union.variants.qdrant.spec;
    expect(qdrant.qdrantUrl).toMatchObject({ type: 'text', required: true });
    expect(qdrant.qdrantApiKey).toMatchObject({ type: 'text', required: false, masked: true });
    expect(qdrant.collection).toMatchObject({ type: 'text', required: true, default: 'crm_chunks' });
    expect(Object.keys(union.variants.embedded.spec)).toEqual([]);
  });

  it('prefills the form from the store file', async () => {
    withStore(configured);
    const { effects } = stubEffects();
    const input = await actions.get('configure').getInput({ effects, prefill: null });
    expect(input.value).toMatchObject({
      embeddingsUrl: 'https://spark.local:8443',
      verifyTls: false,
      indexStore: { selection: 'qdrant', value: { qdrantUrl: 'http://qdrant.local:6333' } },
      syncIntervalMin: 15,
      mcpAuthToken: 'a'.repeat(40),
    });
  });

  it('prefills defaults when no store file exists yet: the embedded store', async () => {
    withStore(null);
    const { effects } = stubEffects();
    const input = await actions.get('configure').getInput({ effects, prefill: null });
    expect(input.value).toMatchObject({
      indexStore: { selection: 'embedded' },
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
      indexStore: {
        selection: 'qdrant' as const,
        value: { qdrantUrl: 'http://qdrant.local:6333/', qdrantApiKey: null, collection: 'crm_chunks' },
      },
    };
    await action.run({ effects, input: submitted });
    expect(merge).toHaveBeenCalledTimes(1);
    const written = merge.mock.calls[0]![1] as Store;
    expect(written.embeddingsApiKey).toBeNull();
    expect(written.indexStore).toBe('qdrant');
    expect(written.qdrantUrl).toBe('http://qdrant.local:6333');
    expect(written.mcpAuthToken).toBe('a'.repeat(40));
  });

  it('refuses Qdrant without a URL, and keeps the Qdrant settings when the embedded store is chosen', async () => {
    withStore(configured);
    const merge = vi.spyOn(storeJson, 'merge').mockResolvedValue(null);
    const { effects } = stubEffects('event-qdrant');
    const action = actions.get('configure');
    await action.getInput({ effects, prefill: null });
    const noUrl = {
      ...inputFromStore(configured),
      indexStore: {
        selection: 'qdrant' as const,
        value: { qdrantUrl: ' ', qdrantApiKey: null, collection: 'crm_chunks' },
      },
    };
    await expect(action.run({ effects, input: noUrl })).rejects.toThrow(/Qdrant URL: required/);
    expect(merge).not.toHaveBeenCalled();
    const embedded = {
      ...inputFromStore(configured),
      indexStore: { selection: 'embedded' as const, value: {} },
    };
    await action.run({ effects, input: embedded });
    const written = merge.mock.calls[0]![1] as Store;
    expect(written.indexStore).toBe('embedded');
    expect(written.qdrantUrl).toBe('http://qdrant.local:6333');
    // With the embedded store chosen, the CLI never sees the Qdrant URL.
    expect(envFromStore(written)).not.toHaveProperty('QDRANT_URL');
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
    expect(storeFromInput(inputFromStore(configured), configured)).toEqual(configured);
    const embedded = { ...configured, indexStore: 'embedded' as const };
    expect(storeFromInput(inputFromStore(embedded), embedded)).toEqual(embedded);
    expect(configureSpec).toBeDefined();
  });
});

describe('short CLI runs: a temporary subcontainer with the store as environment', () => {
  it('index-status runs `status --json` through the entry point and shows it as a result group', async () => {
    withStore(configured);
    vi.spyOn(jobsJson, 'read').mockReturnValue({ once: async () => null } as any);
    const calls = interceptSubcontainer({
      exitCode: 0,
      stdout:
        '{"backlog":0,"lagSeconds":0.2,"deadLetters":1,"lastSweep":{"at":"2026-11-26T10:00:00Z","repaired":0}}\n',
    });
    const { effects } = stubEffects();
    const result = await actions.get('index-status').run({ effects, input: {} });
    expect(calls).toHaveLength(1);
    expect(calls[0]!.command).toEqual(execArgsFor('status'));
    expect(calls[0]!.command.slice(0, 2)).toEqual(['/usr/local/bin/docker_entrypoint.sh', '--exec']);
    expect(calls[0]!.command.slice(-2)).toEqual(['status', '--json']);
    expect(calls[0]!.options?.env).toEqual(envFromStore(configured));
    expect(calls[0]!.options?.user).toBe('root');
    expect(calls[0]!.mountpoints.sort()).toEqual(['/data', '/index']);
    const value = (result as any).result;
    expect(value.type).toBe('group');
    expect(value.value.map((m: { name: string }) => m.name)).toEqual([
      'Index job',
      'backlog',
      'lagSeconds',
      'deadLetters',
      'lastSweep',
    ]);
    expect(value.value[4]).toMatchObject({
      type: 'group',
      value: [
        { name: 'at', value: '2026-11-26T10:00:00Z' },
        { name: 'repaired', value: '0' },
      ],
    });
  });

  it('index-status says it is waiting for the CRM database instead of waiting with it', async () => {
    withStore(configured);
    vi.spyOn(jobsJson, 'read').mockReturnValue({ once: async () => null } as any);
    const calls = interceptSubcontainer({ exitCode: 0, stdout: '' }, false);
    const { effects } = stubEffects();
    const result = (await actions.get('index-status').run({ effects, input: {} })) as any;
    expect(calls).toHaveLength(0);
    expect(result.message).toMatch(/^Waiting for the CRM database at \/data\/crm\.db/);
  });

  it('remove-capture runs `uninstall --json` and names what it dropped', async () => {
    withStore(configured);
    const calls = interceptSubcontainer({
      exitCode: 0,
      stdout: JSON.stringify({ triggers: ['a', 'b'], tables: ['_cdc_changelog', 'entities'] }),
    });
    const { effects } = stubEffects();
    const result = (await actions.get('remove-capture').run({ effects, input: {} })) as any;
    expect(calls[0]!.command).toEqual(execArgsFor('uninstall'));
    expect(result.message).toBe(
      "Removed 2 trigger(s) and 2 table(s) from the CRM database: _cdc_changelog, entities. The CRM's own tables were not touched.",
    );
  });

  it('a failed run comes back as a clear message with the CLI error', async () => {
    withStore(configured);
    interceptSubcontainer({
      exitCode: 2,
      stdout: '',
      stderr: 'crm-index: QDRANT_URL="x" is not a URL\n',
    });
    const { effects } = stubEffects();
    await expect(actions.get('remove-capture').run({ effects, input: {} })).rejects.toThrow(
      /Configure action[\s\S]*QDRANT_URL/,
    );
  });
});

describe('mcp-connection', () => {
  it('shows each published MCP URL copyable and the token masked', async () => {
    withStore(configured);
    const urls = ['https://crm-index.local:49153/mcp', 'http://abcdefghijklmnop.onion/mcp'];
    const getOwn = vi.spyOn(sdk.host, 'getOwn').mockImplementation(((_e: unknown, id: string, map: any) => {
      expect(id).toBe('mcp');
      const host = {
        bindings: { 8788: { interfaces: { mcp: { addressInfo: { nonLocal: { format: () => urls } } } } } },
      };
      return { once: async () => map(host) };
    }) as any);
    const { effects } = stubEffects();
    const result = (await actions.get('mcp-connection').run({ effects, input: {} })) as any;
    expect(getOwn).toHaveBeenCalled();
    expect(result.result.value).toEqual([
      expect.objectContaining({ name: 'MCP URL 1', value: urls[0], copyable: true, masked: false }),
      expect.objectContaining({ name: 'MCP URL 2', value: urls[1], copyable: true, masked: false }),
      expect.objectContaining({ name: 'MCP token', value: 'a'.repeat(40), copyable: true, masked: true }),
    ]);
  });
});

describe('uninstall', () => {
  const uninit = (target: unknown) =>
    (removeCaptureOnUninstall as unknown as { uninit(e: unknown, t: unknown): Promise<void> }).uninit(
      stubEffects().effects,
      target,
    );

  it('removes the triggers and tables from the CRM database when the package is uninstalled', async () => {
    withStore(configured);
    const info = vi.spyOn(console, 'info').mockImplementation(() => {});
    const calls = interceptSubcontainer({
      exitCode: 0,
      stdout: '{"triggers":["t1"],"tables":["_cdc_changelog"]}',
    });
    await uninit(null);
    expect(calls.map((c) => c.command)).toEqual([execArgsFor('uninstall')]);
    expect(info.mock.calls[0]![0]).toMatch(/Removed 1 trigger\(s\) and 1 table\(s\)/);
  });

  it('leaves the database alone on an update or a shutdown', async () => {
    withStore(configured);
    const calls = interceptSubcontainer({ exitCode: 0, stdout: '{}' });
    await uninit('0.1.0:0');
    expect(calls).toHaveLength(0);
  });

  it('says why and what to do when it cannot, and lets the uninstall go on', async () => {
    withStore(configured);
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    interceptSubcontainer({ exitCode: 1, stdout: '', stderr: 'database is locked\n' });
    await expect(uninit(null)).resolves.toBeUndefined();
    expect(error.mock.calls[0]![0]).toMatch(
      /could not remove[\s\S]*database is locked[\s\S]*Remove from the CRM database/,
    );
  });
});
