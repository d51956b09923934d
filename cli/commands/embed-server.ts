/**
 * `crm-index embed-server`: the local dense embedder over the
 * OpenAI-compatible API, for tests and for tools that only speak that
 * protocol. Always serves the local model (never proxies SPARK_CONTROL_URL,
 * which could point back at this very server). Runs until SIGINT/SIGTERM.
 */
import type { Command } from 'commander';
import { action, configFrom } from '../context.js';

export function register(program: Command): void {
  program
    .command('embed-server')
    .description(
      'serve the local embedder as an OpenAI-compatible POST /v1/embeddings endpoint until interrupted',
    )
    .option('--host <host>', 'listen address (env EMBED_SERVER_HOST; default 127.0.0.1)')
    .option('--port <port>', 'port, 0 for any free one (env EMBED_SERVER_PORT; default 8089)')
    .action(
      action(async (opts: { host?: string; port?: string }, cmd: Command) => {
        const config = configFrom(cmd, { 'embed-server-host': opts.host, 'embed-server-port': opts.port });
        const { logger } = await import('../../config/index.js');
        const { createDenseEmbedder } = await import('../../encoders/factory.js');
        const { startEmbedServer } = await import('../../encoders/embedServer.js');
        const log = logger('embed-server');
        if (config.embedderKind === 'http') {
          log.warn(
            { url: config.sparkControlUrl },
            'SPARK_CONTROL_URL is ignored: embed-server serves the local model',
          );
        }
        // The factory picks by embedderKind alone; forcing it never proxies SPARK_CONTROL_URL.
        const embedder = await createDenseEmbedder({ ...config, embedderKind: 'local' });
        const server = await startEmbedServer({
          embedder,
          host: config.embedServerHost,
          port: config.embedServerPort,
          apiKey: config.embedServerApiKey,
        });
        process.stderr.write(
          `crm-index: embed-server serving ${embedder.modelId} (${embedder.dim} dimensions) at ${server.url}/v1/embeddings\n`,
        );
        await new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
        await server.close();
        await embedder.close();
      }),
    );
}
