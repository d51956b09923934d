import type { Command } from 'commander';
import { ConfigError } from '../../config/errors.js';
import { action, configFrom } from '../context.js';

export function register(program: Command): void {
  program
    .command('refresh')
    .description('one incremental pass: drain the changelog, then a reconciliation sweep; prints counts')
    .option('--once', 'one pass and exit (the old scheduler flag; refresh always does one pass)')
    .option('--no-sweep', 'skip the reconciliation sweep')
    .option('--wait <seconds>', 'how long to wait for follow to hand over the cursor', '120')
    .option('--json', 'print the result as one JSON line')
    .action(
      action(async (opts: { sweep: boolean; wait: string; json?: boolean }, cmd: Command) => {
        const config = configFrom(cmd);
        const wait = parseWait(opts.wait);
        const { runRefresh } = await import('../../runs/runs.js');
        const { shutdownSignal } = await import('../../pipeline/signals.js');
        const r = await runRefresh(config, { waitMs: wait, sweep: opts.sweep, signal: shutdownSignal() });
        if (opts.json) {
          process.stdout.write(JSON.stringify(r) + '\n');
        } else {
          const c = r.counts;
          process.stdout.write(
            `refresh: added ${c.added}, updated ${c.updated}, unchanged ${c.unchanged}, deleted ${c.deleted}, failed ${c.failed} (${c.chunks} chunks) up to seq ${r.seq} in ${r.ms} ms\n`,
          );
          if (r.sweep) {
            const s = r.sweep;
            process.stdout.write(
              `sweep: checked ${s.checked} records; repaired missing ${s.missing}, stale ${s.stale}, orphans ${s.orphans}; failed ${s.failed}${s.triggersRepaired.length ? `; re-installed triggers ${s.triggersRepaired.join(', ')}` : ''} in ${s.ms} ms\n`,
            );
          }
        }
      }),
    );
}

export function parseWait(raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) {
    throw new ConfigError(`--wait="${raw}" is not a number of seconds; give 0 or more.`);
  }
  return n * 1000;
}
