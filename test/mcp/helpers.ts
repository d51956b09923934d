/**
 * MCP test plumbing: a context over the fixture CRM and index, and an SDK
 * Client connected in-process through InMemoryTransport.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { DEFAULT_SOURCE_MAP } from '../../crm/sourceMap.js';
import { createMcpContext, type McpContext } from '../../mcp/context.js';
import { buildMcpServer } from '../../mcp/server.js';
import { createSearchEngine } from '../../search/engine.js';
import type { Fixture } from '../search/fixtures.js';

export function fixtureContext(fx: Fixture, readOnly = false): McpContext {
  return createMcpContext({
    dbPath: fx.crmPath,
    sourceMap: DEFAULT_SOURCE_MAP,
    readOnly,
    engine: async () => createSearchEngine({ store: fx.store, dense: fx.dense, sparse: fx.sparse }),
  });
}

export async function connect(ctx: McpContext, clientName = 'vitest-agent'): Promise<Client> {
  const [clientT, serverT] = InMemoryTransport.createLinkedPair();
  const server = buildMcpServer(ctx);
  await server.connect(serverT);
  const client = new Client({ name: clientName, version: '1.0.0' });
  await client.connect(clientT);
  return client;
}

export async function call(
  client: Client,
  name: string,
  args: Record<string, unknown>,
): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

export function textOf(r: CallToolResult): string {
  return r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
}

export function data<T = Record<string, unknown>>(r: CallToolResult): T {
  if (r.isError) throw new Error(`tool error: ${textOf(r)}`);
  return r.structuredContent as T;
}
