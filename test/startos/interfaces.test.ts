/**
 * The interfaces StartOS publishes: the MCP API always, the indexer's status
 * page only while the indexer runs (otherwise there is nothing behind it).
 * setInterfaces runs against stand-in effects that record what it binds and
 * exports.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { setInterfaces } from '../../startos/interfaces.js';
import { storeJson } from '../../startos/store.js';
import { emptyStore, type Store } from '../../startos/env.js';

afterEach(() => {
  vi.restoreAllMocks();
});

async function exportedWith(store: Store): Promise<{ bound: number[]; exported: string[] }> {
  vi.spyOn(storeJson, 'read').mockReturnValue({ const: async () => store, once: async () => store } as any);
  const bound: number[] = [];
  const exported: string[] = [];
  const effects: any = {
    eventId: 'interfaces',
    constRetry: () => {},
    child: () => effects,
    bind: async (o: { internalPort: number }) => {
      bound.push(o.internalPort);
      return null;
    },
    exportServiceInterface: async (o: { id: string }) => {
      exported.push(o.id);
      return null;
    },
    clearBindings: async () => null,
    clearServiceInterfaces: async () => null,
    exportRangeServiceInterface: async () => null,
    bindRange: async () => null,
  };
  await (setInterfaces as unknown as (effects: unknown) => Promise<unknown>)(effects);
  return { bound, exported };
}

describe('interfaces', () => {
  it('exports the MCP API and the status page while the indexer runs', async () => {
    const r = await exportedWith({ ...emptyStore(), indexStore: 'embedded' });
    expect(r.exported.sort()).toEqual(['mcp', 'status']);
    expect(r.bound.sort()).toEqual([8787, 8788]);
  });

  it('exports only the MCP API when the indexer cannot run', async () => {
    const r = await exportedWith({ ...emptyStore(), indexStore: 'qdrant', qdrantUrl: null });
    expect(r.exported).toEqual(['mcp']);
    expect(r.bound).toEqual([8788]);
  });
});
