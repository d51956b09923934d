import type { Command } from 'commander';
import { action, configFrom } from '../context.js';
import { parseWait } from './refresh.js';

export function register(program: Command): void {
  program
    .command('rebuild')
    .description(
      'entity resolution, then a full re-index into a new generation and an atomic switch (searches keep working)',
    )
    .option('--wait <seconds>', 'how long to wait for follow to hand over the cursor', '300')
    .option('--no-resolve', 'skip the entity resolution step')
    .option('--json', 'print the result as one JSON line')
    .action(
      action(async (opts: { wait: string; resolve: boolean; json?: boolean }, cmd: Command) => {
        const config = configFrom(cmd);
        const { runRebuild } = await import('../../runs/runs.js');
        const { shutdownSignal } = await import('../../pipeline/signals.js');
        const { attachProgress } = await import('../progress.js');
        let stopProgress = () => {};
        const r = await runRebuild(config, {
          waitMs: parseWait(opts.wait),
          signal: shutdownSignal(),
          onContext: (ctx) => void attachProgress(ctx.events).then((s) => (stopProgress = s)),
          resolve: opts.resolve,
        });
        stopProgress();
        // Peak resident memory of this process: what a container limit has to allow for.
        const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
        if (opts.json) process.stdout.write(JSON.stringify({ ...r, peakRssMb }) + '\n');
        else {
          const c = r.counts;
          process.stdout.write(
            `rebuild: ${r.records} records → ${c.chunks} chunks in generation ${r.generation} (failed ${c.failed}); replayed ${r.replayed.added + r.replayed.updated + r.replayed.deleted} changes made meanwhile; ${(r.ms / 1000).toFixed(1)} s, peak RSS ${peakRssMb} MB\n`,
          );
        }
      }),
    );
}
