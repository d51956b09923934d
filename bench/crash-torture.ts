/**
 * The long crash torture (npm test runs a short one): `crm-index follow` in a
 * child process, a writer mutating the CRM at random, SIGKILL of the
 * follower at random moments and a restart, --kills times. At the end the
 * store must equal a fresh full index of the final database: the sweep finds
 * nothing missing, stale or orphaned. Exits non-zero if it does.
 *
 *   npm run build && npx tsx bench/crash-torture.ts [--kills 50] [--seed 7]
 */
import { runRefresh } from '../runs/runs.js';
import { makeWorld } from '../test/pipeline/harness.js';
import { torture } from '../test/pipeline/torture.js';
import { arg, printTable } from './lib/pipeline.js';

const kills = Number(arg('kills', '50'));
const seed = Number(arg('seed', '7'));

const world = await makeWorld();
try {
  await runRefresh(world.config, { waitMs: 5000 });
  const t = performance.now();
  const { report, writes } = await torture(world, {
    kills,
    seed,
    log: (s) => process.stderr.write(s + '\n'),
  });
  const s = (performance.now() - t) / 1000;
  printTable(
    `Crash torture: ${kills} x kill -9 of follow while a writer mutates the CRM (seed ${seed})`,
    ['kills', 'writes', 'seconds', 'records checked', 'missing', 'stale', 'orphans', 'verdict'],
    [
      [
        kills,
        writes,
        s,
        report.checked,
        report.missing,
        report.stale,
        report.orphans,
        report.missing + report.stale + report.orphans === 0 ? 'store == fresh index' : 'DRIFT',
      ],
    ],
  );
  if (report.missing + report.stale + report.orphans > 0) process.exitCode = 1;
} finally {
  await world.close();
}
