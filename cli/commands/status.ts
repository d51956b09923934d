import type { Command } from 'commander';
import { action, configFrom, EXIT } from '../context.js';

export function register(program: Command): void {
  program
    .command('status')
    .description('backlog, lag, cursors, trigger health, last sweep, dead letters and the store point count')
    .option('--json', 'print JSON')
    .action(
      action(async (opts: { json?: boolean }, cmd: Command) => {
        const config = configFrom(cmd);
        const { openCrm } = await import('../../crm/db.js');
        const { loadSourceMap } = await import('../../crm/loadSourceMap.js');
        const { collectStatus, formatStatus } = await import('../../runs/status.js');
        const { createStore } = await import('../../stores/factory.js');
        const db = openCrm(config.dbPath, { busyTimeoutMs: config.busyTimeoutMs });
        try {
          let store = null;
          let storeError: string | undefined;
          try {
            store = await createStore(config);
          } catch (err) {
            storeError = (err as Error).message;
          }
          const s = await collectStatus(config, db, loadSourceMap(config.sourceMapPath), store, storeError);
          await store?.close();
          process.stdout.write(opts.json ? JSON.stringify(s) + '\n' : formatStatus(s) + '\n');
          // A damaged index file is not a state to report as fine: searches will fail on its bad pages.
          if (s.store.integrity.length > 0) process.exitCode = EXIT.store;
        } finally {
          db.close();
        }
      }),
    );
}
