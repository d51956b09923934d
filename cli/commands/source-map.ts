import type { Command } from 'commander';
import { action, configFrom } from '../context.js';

export function register(program: Command): void {
  program
    .command('source-map')
    .description(
      'print the effective source map as JSON (a starting point for CRM_SOURCE_MAP); --check validates it against the database',
    )
    .option(
      '--check',
      'validate the map against the CRM database and exit 0 (ok) or 3 (naming what does not fit)',
    )
    .action(
      action(async (opts: { check?: boolean }, cmd: Command) => {
        const config = configFrom(cmd);
        const { loadSourceMap } = await import('../../crm/loadSourceMap.js');
        const map = loadSourceMap(config.sourceMapPath);
        if (!opts.check) {
          process.stdout.write(JSON.stringify(map, null, 2) + '\n');
          return;
        }
        const { openCrm } = await import('../../crm/db.js');
        const { validateSourceMap } = await import('../../crm/validate.js');
        const db = openCrm(config.dbPath, { readonly: true, busyTimeoutMs: config.busyTimeoutMs });
        try {
          validateSourceMap(db, map);
          process.stdout.write(`source map ok: ${map.tables.length} tables fit ${config.dbPath}\n`);
        } finally {
          db.close();
        }
      }),
    );
}
