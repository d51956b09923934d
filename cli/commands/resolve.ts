/**
 * `crm-index resolve [--full]`: entity resolution. Without --full, one
 * incremental pass over the changelog (consumer 'entities'); with --full, a
 * recompute over every person and organization (the first step of rebuild).
 */
import type { Command } from 'commander';
import { action, configFrom } from '../context.js';

export function register(program: Command): void {
  program
    .command('resolve')
    .description(
      'resolve people and organizations into entities (incremental pass; --full recomputes everything)',
    )
    .option('--full', 'recompute all entities from the CRM instead of following the changelog')
    .option('--json', 'print the summary as JSON')
    .action(
      action(async (opts: { full?: boolean; json?: boolean }, cmd: Command) => {
        const config = configFrom(cmd);
        const { openCrm } = await import('../../crm/db.js');
        const { resolveFull, resolveIncremental } = await import('../../entities/index.js');
        const db = openCrm(config.dbPath, { busyTimeoutMs: config.busyTimeoutMs });
        try {
          if (opts.full) {
            const s = resolveFull(db, { writeBatch: config.entityWriteBatch });
            const summary = {
              mode: 'full',
              organizations: s.organizations,
              people: s.people,
              entities: s.organizations.entities + s.people.entities,
              mergedClusters: s.organizations.merged + s.people.merged,
              changedRecords: s.changedRecordKeys.length,
              seconds: Number((s.ms / 1000).toFixed(3)),
            };
            if (opts.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
            else
              process.stdout.write(
                `resolved ${s.organizations.records} organizations into ${s.organizations.entities} entities (${s.organizations.merged} merged clusters), ` +
                  `${s.people.records} people into ${s.people.entities} entities (${s.people.merged} merged clusters); ` +
                  `${s.changedRecordKeys.length} records changed entity, in ${summary.seconds}s\n`,
              );
          } else {
            const t0 = performance.now();
            const r = resolveIncremental(db, { writeBatch: config.entityWriteBatch });
            const summary = {
              mode: 'incremental',
              changes: r.changes,
              resolvedRecords: r.resolvedRecords,
              changedRecords: r.changedRecordKeys.length,
              cursor: r.cursor,
              seconds: Number(((performance.now() - t0) / 1000).toFixed(3)),
            };
            if (opts.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
            else
              process.stdout.write(
                `consumed ${r.changes} changes, re-resolved ${r.resolvedRecords} records, ${r.changedRecordKeys.length} changed entity (cursor ${r.cursor}) in ${summary.seconds}s\n`,
              );
          }
        } finally {
          db.close();
        }
      }),
    );
}
