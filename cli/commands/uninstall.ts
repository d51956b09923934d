/**
 * `crm-index uninstall`: remove everything crm-index added to the CRM database
 * (capture triggers, _cdc_* and _index_* tables, the entity and MCP audit
 * tables) and nothing else; the CRM's own tables and rows are untouched.
 */
import type { Command } from 'commander';
import { action, configFrom } from '../context.js';

export function register(program: Command): void {
  program
    .command('uninstall')
    .description(
      "remove crm-index's triggers and tables from the CRM database, leaving the CRM's own data untouched",
    )
    .option('--json', 'print what was dropped as JSON')
    .action(
      action(async (opts: { json?: boolean }, cmd: Command) => {
        const config = configFrom(cmd);
        const { openCrm } = await import('../../crm/db.js');
        const { uninstallEverything } = await import('../../triggers/install.js');
        const db = openCrm(config.dbPath, { busyTimeoutMs: config.busyTimeoutMs });
        try {
          const r = uninstallEverything(db);
          if (opts.json) {
            process.stdout.write(JSON.stringify(r, null, 2) + '\n');
            return;
          }
          if (r.triggers.length === 0 && r.tables.length === 0) {
            process.stdout.write(`Nothing of crm-index's was installed in ${config.dbPath}.\n`);
            return;
          }
          process.stdout.write(
            [
              `Removed from ${config.dbPath}:`,
              `  ${r.triggers.length} trigger(s)${r.triggers.length ? ': ' + r.triggers.join(', ') : ''}`,
              `  ${r.tables.length} table(s)${r.tables.length ? ': ' + r.tables.join(', ') : ''}`,
              "The CRM's own tables and rows were not touched.",
            ].join('\n') + '\n',
          );
        } finally {
          db.close();
        }
      }),
    );
}
