/**
 * The MCP server over stdio: stdout carries only protocol messages, so every
 * log line goes to stderr (config/log.ts writes to fd 2). Resolves when the
 * client closes the stream.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { McpContext } from './context.js';
import { buildMcpServer } from './server.js';
import { MAX_STDIO_MESSAGE_BYTES, StdioGuard } from './stdioGuard.js';

export async function runMcpStdio(ctx: McpContext): Promise<void> {
  const server = buildMcpServer(ctx);
  // Every message passes the guard, which answers an oversized one instead of letting the SDK drop it.
  const guard = new StdioGuard({
    reply: (line) => void process.stdout.write(line),
    log: (message) => void process.stderr.write(`${message}\n`),
  });
  process.stdin.pipe(guard);
  const transport = new StdioServerTransport(guard as unknown as typeof process.stdin, process.stdout, {
    // Above the guard's limit: the guard, not the SDK, decides what is too large.
    maxBufferSize: 2 * MAX_STDIO_MESSAGE_BYTES + 1,
  });
  transport.onerror = (err) => process.stderr.write(`crm-index mcp: ${err.message}\n`);
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
