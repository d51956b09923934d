/**
 * `crm-index verify`: compare the installed capture triggers with what the
 * source map asks for. Exit 0 when they match; exit 3 naming what is missing,
 * stale or extra (a CRM migration that rebuilt a table drops its triggers).
 */
import type { Command } from 'commander';
import { action, configFrom, EXIT } from '../context.js';

export function register(program: Command): void {
  program
    .command('verify')
    .description('check that the change-capture triggers are installed and current (exit 3 if not)')
    .option('--json', 'print the report as JSON')
    .action(
      action(async (opts: { json?: boolean }, cmd: Command) => {
        const config = configFrom(cmd);
        const { openCrm } = await import('../../crm/db.js');
        const { loadSourceMap } = await import('../../crm/loadSourceMap.js');
        const { verifyCapture } = await import('../../triggers/install.js');
        const map = loadSourceMap(config.sourceMapPath);
        const db = openCrm(config.dbPath, { readonly: true, busyTimeoutMs: config.busyTimeoutMs });
        let r;
        try {
          const { validateSourceMap } = await import('../../crm/validate.js');
          validateSourceMap(db, map);
          r = verifyCapture(db, map);
        } finally {
          db.close();
        }
        if (opts.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
        if (r.ok) {
          if (!opts.json)
            process.stdout.write(
              `Capture on ${config.dbPath} is installed and current (fingerprint ${r.expectedFingerprint}).\n`,
            );
          return;
        }
        if (r.mapMismatch && r.installedMap) {
          const { describeMapMismatch } = await import('../../triggers/install.js');
          process.stderr.write(
            `crm-index: ${describeMapMismatch(r.installedMap, map)}. Run crm-index install with the map you want (CRM_SOURCE_MAP or --source-map), or verify with the installed one.\n`,
          );
          process.exitCode = EXIT.source;
          return;
        }
        if (r.missing.includes('_cdc_changelog')) {
          process.stderr.write(
            `crm-index: capture is not installed on ${config.dbPath}: changes are not being captured. Run crm-index install.\n`,
          );
          process.exitCode = EXIT.source;
          return;
        }
        const problems = [
          r.missing.length ? `missing triggers: ${r.missing.join(', ')}` : '',
          r.stale.length ? `stale triggers: ${r.stale.join(', ')}` : '',
          r.extra.length ? `extra triggers: ${r.extra.join(', ')}` : '',
          r.mapUnrecorded
            ? 'the installed source map is not recorded (an older crm-index installed capture)'
            : '',
          r.installedFingerprint !== r.expectedFingerprint
            ? `installed fingerprint ${r.installedFingerprint ?? 'none'} (version ${r.installedVersion ?? 'none'}) differs from ${r.expectedFingerprint}`
            : '',
        ].filter(Boolean);
        process.stderr.write(
          `crm-index: capture on ${config.dbPath} is not current (${problems.join('; ')}). Writes to those tables may not be captured (a CRM migration that rebuilds a table drops its triggers): run crm-index install.\n`,
        );
        process.exitCode = EXIT.source;
      }),
    );
}
