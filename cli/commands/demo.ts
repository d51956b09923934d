import type { Command } from 'commander';
import { action, configFrom } from '../context.js';

/** MAX_CHUNKS_PER_RECORD for the demo unless set: above the demo's largest planted body. */
const DEMO_MAX_CHUNKS_PER_RECORD = 4096;

export function register(program: Command): void {
  program
    .command('demo')
    .description(
      'the main job on embedded defaults: build a demo CRM (if missing), install capture, index it, then follow',
    )
    .option('--records <n>', 'demo CRM size when it has to be created', '2000')
    .option('--seed <n>', 'demo data seed', '31')
    .option('--fresh', 'delete the demo CRM and its index first')
    .option('--no-follow', 'stop after indexing')
    .action(
      action(
        async (opts: { records: string; seed: string; fresh?: boolean; follow: boolean }, cmd: Command) => {
          // The demo CRM plants a 1-2 MB interaction (about 1,400 chunks) at 2,000 records; index it whole
          // rather than greet a first run with the truncation warning meant for real data.
          const config = configFrom(
            cmd,
            process.env.MAX_CHUNKS_PER_RECORD ? {} : { maxChunksPerRecord: DEMO_MAX_CHUNKS_PER_RECORD },
          );
          const fs = await import('node:fs');
          const { openCrm } = await import('../../crm/db.js');
          if (opts.fresh) {
            for (const f of [config.dbPath, config.resolvedIndexPath]) {
              for (const suffix of ['', '-wal', '-shm']) fs.rmSync(f + suffix, { force: true });
            }
          }
          if (!fs.existsSync(config.dbPath)) {
            const { REFERENCE_SCHEMA_SQL } = await import('../../crm/schema.js');
            const { generateDemo, checkDemoArgs } = await import('../../crm/demo/generate.js');
            const { writeFacts, defaultFactsPath } = await import('../../crm/demo/facts.js');
            const records = Number(opts.records);
            const seed = Number(opts.seed);
            checkDemoArgs(records, seed);
            const db = openCrm(config.dbPath, { create: true });
            db.exec(REFERENCE_SCHEMA_SQL);
            process.stderr.write(`demo: creating a ${records}-record demo CRM at ${config.dbPath}\n`);
            const facts = generateDemo(db, { records, seed });
            writeFacts(defaultFactsPath(config.dbPath), facts);
            db.close();
          }
          const { loadSourceMap } = await import('../../crm/loadSourceMap.js');
          const { validateSourceMap } = await import('../../crm/validate.js');
          const { installCapture } = await import('../../triggers/install.js');
          const db = openCrm(config.dbPath, { busyTimeoutMs: config.busyTimeoutMs });
          const map = loadSourceMap(config.sourceMapPath);
          validateSourceMap(db, map);
          installCapture(db, map, { replaceMap: true });
          db.close();
          process.stderr.write(
            'demo: capture installed; building the index (first run converts the GloVe vectors once)\n',
          );
          const { runRebuild } = await import('../../runs/runs.js');
          const { attachProgress } = await import('../progress.js');
          let stop = () => {};
          const r = await runRebuild(config, {
            waitMs: 30_000,
            onContext: (ctx) => void attachProgress(ctx.events).then((s) => (stop = s)),
          });
          stop();
          process.stderr.write(
            `demo: indexed ${r.records} records into ${r.counts.chunks} chunks in ${(r.ms / 1000).toFixed(1)} s\n`,
          );
          if (!opts.follow) return;
          const cli = 'node dist/cli/main.js';
          const page =
            config.httpPort === 0
              ? 'the page at / of the address follow prints below'
              : `http://${config.httpHost.includes(':') ? `[${config.httpHost}]` : config.httpHost}:${config.httpPort}/`;
          process.stderr.write(
            [
              `demo: status page and search: ${page}`,
              'demo: following changes. In another terminal try:',
              `  ${cli} demo-write                      # change a record`,
              `  ${cli} search "lightning custody" --mode hybrid`,
              `  ${cli} status`,
              'Ctrl-C stops.',
              '',
            ].join('\n'),
          );
          const { runFollow } = await import('../../runs/daemon.js');
          const { webRoutes } = await import('../../web/routes.js');
          await runFollow(config, webRoutes);
        },
      ),
    );
}
