/**
 * End to end: an agent adds a note through MCP while `follow` runs, and a
 * moment later finds it with the MCP `search` tool. Every piece is real: the
 * write tool's own CRM connection, the capture triggers, follow (wake,
 * render, embeddings over HTTP on 127.0.0.1, embedded store), and a search
 * engine opened from the configuration exactly as `crm-index mcp` opens it
 * (read-only store, configured embedder), so the note crosses processes'
 * boundaries only through SQLite files.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_SOURCE_MAP } from '../../crm/sourceMap.js';
import { createMcpContext, type McpContext } from '../../mcp/context.js';
import { openPipeline, type PipelineContext } from '../../runs/context.js';
import { startFollow, type FollowHandle } from '../../runs/follow.js';
import { runRefresh } from '../../runs/runs.js';
import { openSearchEngine, type OpenedEngine } from '../../search/open.js';
import { makeWorld, waitFor, type World } from '../pipeline/harness.js';
import { call, connect, data } from './helpers.js';

interface SearchOut {
  hits: { key: string; table: string; text: string }[];
}

let world: World;
let pipe: PipelineContext;
let follow: FollowHandle;
let opened: OpenedEngine | undefined;
let mcp: McpContext;
let client: Client;

beforeEach(async () => {
  world = await makeWorld();
  // The first index of the seeded rows, so the store exists before the MCP server opens it read-only.
  await runRefresh(world.config, { waitMs: 5000 });
  pipe = await openPipeline(world.config);
  follow = await startFollow(pipe, { waitForLeaseMs: 5000 });
  mcp = createMcpContext({
    dbPath: world.dbPath,
    sourceMap: DEFAULT_SOURCE_MAP,
    engine: async () => (opened = await openSearchEngine(world.config)).engine,
  });
  client = await connect(mcp, 'e2e-agent');
});

afterEach(async () => {
  await client.close();
  mcp.close();
  await opened?.close();
  opened = undefined;
  await follow.stop();
  await pipe.close();
  await world.close();
});

async function searchHits(query: string, mode: 'sparse' | 'dense' | 'hybrid'): Promise<SearchOut['hits']> {
  return data<SearchOut>(await call(client, 'search', { query, mode, limit: 10 })).hits;
}

describe('MCP end to end with follow running', () => {
  it('finds a note added through add_note with the search tool', async () => {
    // Searched before the write, so the engine's store is open (and its mirror built) before the
    // note exists: the hit below must come from the index catching up, not from a fresh open.
    expect(await searchHits('okapi', 'sparse')).toEqual([]);

    const added = data<{ key: string }>(
      await call(client, 'add_note', {
        subject_table: 'organizations',
        subject_id: '3',
        body: 'Okapi sanctuary wants lightning donations for its ranger fund.',
        author: 'Grant',
      }),
    );
    expect(added.key).toMatch(/^notes:\d+$/);

    const hit = await waitFor('the note in sparse search', async () =>
      (await searchHits('okapi sanctuary', 'sparse')).find((h) => h.key === added.key),
    );
    expect(hit.table).toBe('notes');
    expect(hit.text).toContain('Okapi sanctuary wants lightning donations');

    // The other modes see it too: its dense vector was written in the same batch.
    const hybrid = await searchHits('okapi sanctuary ranger fund', 'hybrid');
    expect(hybrid.map((h) => h.key)).toContain(added.key);
  });
});
