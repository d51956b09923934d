/**
 * The MCP server over stdio: stdout carries only protocol messages, so every
 * log line goes to stderr (config/log.ts writes to fd 2). Resolves when the
 * client closes the stream.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { McpContext } from './context.js';
import { buildMcpServer } from './server.js';

export async function runMcpStdio(ctx: McpContext): Promise<void> {
  const server = buildMcpServer(ctx);
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    process.stdin.once('end', () => resolve());
  });
  // Once the client has finished the handshake, load the search index before the first search needs it.
  server.server.oninitialized = () => ctx.warm();
  await server.connect(transport);
  await closed;
  await server.close();
}
