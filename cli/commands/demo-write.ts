/**
 * `crm-index demo-write`: make realistic writes to the demo CRM (as the CRM's
 * web server would) and print what changed, so a user can watch the index
 * follow. Each write is its own transaction.
 */
import type { Command } from 'commander';
import { action, configFrom } from '../context.js';

interface DemoWriteFlags {
  kind: string;
  count: string;
  seed?: string;
}

export function register(program: Command): void {
  program
    .command('demo-write')
    .description(
      'make random realistic writes to the demo CRM and print each change (record key and new text)',
    )
    .option('--kind <kind>', 'insert | update | delete | rename-org | link', 'update')
    .option('--count <n>', 'number of writes, each committed on its own', '1')
    .option('--seed <s>', 'integer seed for reproducible changes (default: random)')
    .action(
      action(async (opts: DemoWriteFlags, cmd: Command) => {
        const { ConfigError, int } = await import('../../config/index.js');
        const { DEMO_WRITE_KINDS, MAX_DEMO_WRITES, demoWrite } = await import('../../crm/demo/write.js');
        const kind = DEMO_WRITE_KINDS.find((k) => k === opts.kind.trim().toLowerCase());
        if (!kind) {
          throw new ConfigError(
            `--kind="${opts.kind}" is not one of ${DEMO_WRITE_KINDS.join(', ')}; use one of those.`,
          );
        }
        const count = int(1, MAX_DEMO_WRITES)(opts.count, '--count');
        let seed: number | undefined;
        if (opts.seed !== undefined) {
          if (!/^[+-]?\d+$/.test(opts.seed.trim()) || !Number.isSafeInteger(Number(opts.seed))) {
            throw new ConfigError(`--seed="${opts.seed}" is not a whole number; give an integer such as 7.`);
          }
          seed = Number(opts.seed);
        }
        const config = configFrom(cmd);
        const { openCrm } = await import('../../crm/db.js');
        const db = openCrm(config.dbPath, { busyTimeoutMs: config.busyTimeoutMs });
        try {
          for (const change of demoWrite(db, { kind, count, seed })) {
            process.stdout.write(`${change.op.padEnd(6)} ${change.summary}\n`);
          }
        } finally {
          db.close();
        }
      }),
    );
}
