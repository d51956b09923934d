/**
 * `crm-index install`: validate the source map against the CRM database and
 * install (or repair, or upgrade) change capture. Idempotent: safe to run after
 * every CRM migration.
 */
import type { Command } from 'commander';
import { action, configFrom } from '../context.js';

export function register(program: Command): void {
  program
    .command('install')
    .description('validate the source map and install or repair the change-capture triggers (idempotent)')
    .option('--json', 'print the report as JSON')
    .action(
      action(async (opts: { json?: boolean }, cmd: Command) => {
        const config = configFrom(cmd);
        const { openCrm } = await import('../../crm/db.js');
        const { loadSourceMap } = await import('../../crm/loadSourceMap.js');
        const { installCapture } = await import('../../triggers/install.js');
        const map = loadSourceMap(config.sourceMapPath);
        const db = openCrm(config.dbPath, { busyTimeoutMs: config.busyTimeoutMs });
        try {
          const r = installCapture(db, map, { replaceMap: true });
          if (opts.json) {
            process.stdout.write(JSON.stringify(r, null, 2) + '\n');
            return;
          }
          const lines = [`Capture on ${config.dbPath} (${r.tables.length} tables: ${r.tables.join(', ')}):`];
          if (!r.changed) lines.push('  already installed and up to date; nothing changed.');
          if (r.upgradedFrom && r.upgradedFrom.version !== r.version)
            lines.push(
              `  upgraded capture from version ${r.upgradedFrom.version ?? 'unknown'} to ${r.version}.`,
            );
          else if (r.upgradedFrom) lines.push(`  rebuilt every trigger: the watched columns changed.`);
          if (r.replacedMap)
            lines.push(
              `  replaced source map ${r.replacedMap.identity} (${r.replacedMap.origin}); a running follow reloads the new map or stops, and \`crm-index rebuild\` re-renders every record.`,
            );
          if (r.tablesCreated.length)
            lines.push(`  created missing capture table(s): ${r.tablesCreated.join(', ')}`);
          if (r.highWater)
            lines.push(
              `  the changelog restarted below the cursors (max seq ${r.highWater.previousMax}, cursor ${r.highWater.cursor}): moved ${r.highWater.moved} change(s) above the cursor. Changes removed with the old rows are not in the log: run \`crm-index refresh\` (its sweep repairs the index), or let a running follow do it.`,
            );
          if (r.created.length)
            lines.push(`  created ${r.created.length} trigger(s): ${r.created.join(', ')}`);
          if (r.replaced.length)
            lines.push(`  replaced ${r.replaced.length} trigger(s): ${r.replaced.join(', ')}`);
          if (r.dropped.length)
            lines.push(
              `  dropped ${r.dropped.length} trigger(s) no longer in the map: ${r.dropped.join(', ')}`,
            );
          lines.push(
            `  capture version ${r.version}, fingerprint ${r.fingerprint}, source map ${r.map.identity} (${r.map.origin})`,
          );
          process.stdout.write(lines.join('\n') + '\n');
        } finally {
          db.close();
        }
      }),
    );
}
