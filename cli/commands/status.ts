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
        const { validateSourceMap } = await import('../../crm/validate.js');
        const { assertIndexFile } = await import('../../search/open.js');
        const { SourceError } = await import('../../config/errors.js');
        const map = loadSourceMap(config.sourceMapPath);
        const db = openCrm(config.dbPath, { busyTimeoutMs: config.busyTimeoutMs });
        try {
          validateSourceMap(db, map);
          const installed = db
            .prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_cdc_changelog'`)
            .get();
          if (!installed) {
            throw new SourceError(
              `capture is not installed on ${config.dbPath}: changes are not being captured and there is no index status yet. Run crm-index install (then crm-index rebuild).`,
            );
          }
          let store = null;
          let storeError: string | undefined;
          try {
            // Read-only: status never creates or changes the index.
            assertIndexFile(config);
            store = await createStore(config, { readonly: true });
          } catch (err) {
            storeError = (err as Error).message;
          }
          const s = await collectStatus(config, db, map, store, storeError, { integrity: true });
          await store?.close();
          process.stdout.write(opts.json ? JSON.stringify(s) + '\n' : formatStatus(s) + '\n');
          // A damaged index file is not a state to report as fine: searches will fail on its bad pages.
          if (s.store.integrity.length > 0) process.exitCode = EXIT.store;
          // Broken capture is a failure a script must see, not just a line in the report.
          if (!s.triggers.ok) process.exitCode = EXIT.source;
        } finally {
          db.close();
        }
      }),
    );
}
