/**
 * Progress for long runs: a bar on a TTY, one line every few seconds otherwise
 * (logs in a StartOS action or CI stay readable). Subscribes to pipeline events.
 */
import type { PipelineEmitter } from '../runs/events.js';

export async function attachProgress(events: PipelineEmitter): Promise<() => void> {
  if (process.stderr.isTTY) {
    const { default: cliProgress } = await import('cli-progress');
    const bar = new cliProgress.SingleBar(
      { format: '{table} [{bar}] {value}/{total} records | {eta_formatted} left', stream: process.stderr },
      cliProgress.Presets.shades_classic,
    );
    let table = '';
    events.on('rebuild:progress', (p) => {
      if (p.table !== table) {
        if (table) bar.stop();
        table = p.table;
        bar.start(p.total, 0, { table });
      }
      bar.update(p.done, { table });
    });
    return () => bar.stop();
  }
  let last = 0;
  events.on('rebuild:progress', (p) => {
    if (Date.now() - last > 2000 || p.done === p.total) {
      last = Date.now();
      process.stderr.write(`rebuild: ${p.table} ${p.done}/${p.total}\n`);
    }
  });
  return () => undefined;
}
