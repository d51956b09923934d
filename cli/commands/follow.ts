import type { Command } from 'commander';
import { action, configFrom } from '../context.js';

export function register(program: Command): void {
  program
    .command('follow')
    .description(
      'the daemon: stream every CRM change into the index, sweep every CRM_INGEST_SYNC_INTERVAL_MIN, serve /healthz, /metrics and the operator page at /',
    )
    .option('--host <host>', 'HTTP address (env CRM_INDEX_HTTP_HOST)')
    .option('--port <port>', 'HTTP port, 0 for any (env CRM_INDEX_HTTP_PORT)')
    .option('--interval <minutes>', 'minutes between sweeps (env CRM_INGEST_SYNC_INTERVAL_MIN)')
    .option('--once', 'drain and sweep once, then exit (same as crm-index refresh)')
    .action(
      action(
        async (opts: { host?: string; port?: string; interval?: string; once?: boolean }, cmd: Command) => {
          const config = configFrom(cmd, { host: opts.host, port: opts.port, interval: opts.interval });
          if (opts.once) {
            const { runRefresh } = await import('../../runs/runs.js');
            const r = await runRefresh(config, { waitMs: 120_000 });
            process.stdout.write(JSON.stringify(r) + '\n');
            return;
          }
          const { runFollow } = await import('../../runs/daemon.js');
          const { webRoutes } = await import('../../web/routes.js');
          await runFollow(config, webRoutes);
        },
      ),
    );
}
