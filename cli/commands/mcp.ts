/**
 * `crm-index mcp`: the MCP server over stdio (default) or stateless
 * Streamable HTTP (`--http`). Over stdio, stdout is the protocol: nothing
 * else may print there (logs go to stderr).
 */
import type { Command } from 'commander';
import { action, configFrom } from '../context.js';

interface McpOpts {
  http?: boolean;
  host?: string;
  port?: string;
  readOnly?: boolean;
  requireAuth?: boolean;
}

export function register(program: Command): void {
  program
    .command('mcp')
    .description(
      'serve the CRM and its search index to agents over MCP (stdio; --http for Streamable HTTP at /mcp)',
    )
    .option('--http', 'serve stateless Streamable HTTP at /mcp (with GET /healthz) instead of stdio')
    .option(
      '--host <host>',
      'HTTP bind address (env MCP_HTTP_HOST); beyond loopback MCP_AUTH_TOKEN is required',
    )
    .option('--port <port>', 'HTTP port (env MCP_HTTP_PORT; 0 picks a free port)')
    .option('--read-only', 'remove the write tools (env MCP_READ_ONLY)')
    .option('--require-auth', 'demand the bearer token even on loopback (e.g. behind a proxy)')
    .action(
      action(async (opts: McpOpts, cmd: Command) => {
        const config = configFrom(cmd, {
          mcpHost: opts.host,
          mcpPort: opts.port,
          mcpReadOnly: opts.readOnly ? true : undefined,
        });
        const { loadSourceMap } = await import('../../crm/loadSourceMap.js');
        const { createMcpContext } = await import('../../mcp/context.js');
        const { logger } = await import('../../config/log.js');
        const log = logger('mcp');
        let opened: import('../../search/open.js').OpenedEngine | undefined;
        const ctx = createMcpContext({
          dbPath: config.dbPath,
          sourceMap: loadSourceMap(config.sourceMapPath),
          readOnly: config.mcpReadOnly,
          busyTimeoutMs: config.busyTimeoutMs,
          // Imported on first search: opening the store and embedder is slow, and the read tools do not need them.
          engine: async () => {
            const { openSearchEngine } = await import('../../search/open.js');
            opened ??= await openSearchEngine(config);
            return opened.engine;
          },
        });
        // Fail at start, not at the first call, when the CRM file is missing or unreadable,
        // or when the map does not fit it (every tool would fail).
        const { validateSourceMap } = await import('../../crm/validate.js');
        validateSourceMap(ctx.reader().db, ctx.sourceMap);
        const shutdown = async () => {
          ctx.close();
          await opened?.close();
        };
        if (!opts.http) {
          const { runMcpStdio } = await import('../../mcp/stdio.js');
          log.info({ readOnly: config.mcpReadOnly }, 'MCP server on stdio');
          await runMcpStdio(ctx);
          await shutdown();
          return;
        }
        const { startMcpHttp } = await import('../../mcp/http.js');
        const srv = await startMcpHttp({
          ctx,
          host: config.mcpHost,
          port: config.mcpPort,
          token: config.mcpAuthToken,
          allowedHosts: config.mcpAllowedHosts,
          requireAuth: opts.requireAuth,
        });
        process.stderr.write(`crm-index: MCP server at ${srv.url} (health: /healthz)\n`);
        await new Promise<void>((resolve) => {
          const stop = () => resolve();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        await srv.close();
        await shutdown();
      }),
    );
}
