/**
 * `crm-index demo-data`: create a demo CRM (reference schema + deterministic
 * data) at the configured database path, and the facts file beside it. It
 * never replaces a non-empty database without --force. Progress goes to
 * stderr, the summary to stdout.
 */
import type { Command } from 'commander';
import { action, configFrom } from '../context.js';

interface DemoDataFlags {
  records: string;
  seed: string;
  force?: boolean;
  facts?: string;
}

export function register(program: Command): void {
  program
    .command('demo-data')
    .description(
      'create a demo CRM database filled with deterministic venture-CRM data, and a file of planted facts',
    )
    .option(
      '--records <n>',
      'total rows across organizations, people, deals, interactions and notes (100 to 1000000)',
      '10000',
    )
    .option('--seed <s>', 'integer seed; the same seed gives the same data', '42')
    .option('--force', 'replace an existing non-empty database (deletes it)')
    .option('--facts <path>', 'where to write the planted facts (default: <db>.facts.json)')
    .action(
      action(async (opts: DemoDataFlags, cmd: Command) => {
        const { ConfigError, int } = await import('../../config/index.js');
        const records = int(100, 1_000_000)(opts.records, '--records');
        if (!/^[+-]?\d+$/.test(opts.seed.trim()) || !Number.isSafeInteger(Number(opts.seed))) {
          throw new ConfigError(`--seed="${opts.seed}" is not a whole number; give an integer such as 42.`);
        }
        const seed = Number(opts.seed);
        const config = configFrom(cmd);
        const { createDemoDatabase } = await import('../../crm/demo/create.js');
        let nextReport = 0.1;
        const { facts, factsPath, ms } = createDemoDatabase({
          dbPath: config.dbPath,
          records,
          seed,
          force: opts.force ?? false,
          factsPath: opts.facts,
          busyTimeoutMs: config.busyTimeoutMs,
          onProgress: (p) => {
            if (p.done / p.total + 1e-9 < nextReport && p.done < p.total) return;
            while (nextReport <= p.done / p.total + 1e-9) nextReport += 0.1;
            process.stderr.write(
              `demo-data: ${Math.round((100 * p.done) / p.total)}% (${p.done}/${p.total} rows, ${p.table})\n`,
            );
          },
        });
        const lines = [
          `Demo CRM ${config.dbPath} created in ${(ms / 1000).toFixed(1)} s (records ${records}, seed ${seed}):`,
          ...Object.entries(facts.counts).map(([t, n]) => `  ${t.padEnd(20)} ${String(n).padStart(9)}`),
          `Facts ${factsPath}: ${facts.retrieval.length} retrieval facts, ${facts.duplicates.organizations.length} duplicate organization groups, ${facts.duplicates.people.length} duplicate people groups, ${facts.distinct.length} lookalike pairs, ${facts.largeBodies.length} very large bodies.`,
        ];
        process.stdout.write(lines.join('\n') + '\n');
      }),
    );
}
