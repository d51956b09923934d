import type { Command } from 'commander';
import { action, configFrom } from '../context.js';

export function register(program: Command): void {
  const dl = program
    .command('dead-letters')
    .description('list records that kept failing (with their error and failing step); requeue puts them back')
    .option('--json', 'print JSON')
    .action(
      action(async (opts: { json?: boolean }, cmd: Command) => {
        const config = configFrom(cmd);
        const { openCrm } = await import('../../crm/db.js');
        const { ensureFailureTables, listDeadLetters } = await import('../../runs/failures.js');
        const db = openCrm(config.dbPath, { busyTimeoutMs: config.busyTimeoutMs });
        try {
          ensureFailureTables(db);
          const rows = listDeadLetters(db);
          if (opts.json) process.stdout.write(JSON.stringify(rows) + '\n');
          else if (rows.length === 0) process.stdout.write('no dead letters\n');
          else
            for (const r of rows)
              process.stdout.write(
                `${r.recordKey}\t${r.step}\t${r.attempts} attempts\tlast ${new Date(r.lastFailedAt).toISOString()}\t${r.error}\n`,
              );
        } finally {
          db.close();
        }
      }),
    );
  dl.command('requeue')
    .description('put dead letters back in the queue (all, or the given record keys like people:12)')
    .argument('[keys...]', 'record keys; none means all')
    .action(
      action(async (keys: string[], _opts: unknown, cmd: Command) => {
        const config = configFrom(cmd);
        const { openCrm } = await import('../../crm/db.js');
        const { ensureFailureTables, requeueDeadLetters } = await import('../../runs/failures.js');
        const db = openCrm(config.dbPath, { busyTimeoutMs: config.busyTimeoutMs });
        try {
          ensureFailureTables(db);
          const n = requeueDeadLetters(db, keys.length ? keys : 'all');
          process.stdout.write(`requeued ${n} record(s); follow or the next refresh retries them\n`);
        } finally {
          db.close();
        }
      }),
    );
}
