import type { Command } from 'commander';
import { action, configFrom } from '../context.js';

export function register(program: Command): void {
  program
    .command('config')
    .description('print the effective configuration (secrets masked) and exit; fails on a bad value')
    .action(
      action(async (_opts: unknown, cmd: Command) => {
        const { describeConfig } = await import('../../config/index.js');
        process.stdout.write(JSON.stringify(describeConfig(configFrom(cmd)), null, 2) + '\n');
      }),
    );
}
