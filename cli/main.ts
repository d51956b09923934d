#!/usr/bin/env node
/**
 * The `crm-index` command. Each subcommand lives in `cli/commands/<name>.ts`
 * and exports `register(program)`; this file loads them all, so adding a
 * command never edits a shared file. Command modules keep their top-level
 * imports light and import heavy layers inside their action.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { addGlobalOptions, EXIT } from './context.js';
import { VERSION } from '../config/version.js';

export async function buildProgram(): Promise<Command> {
  const program = new Command('crm-index')
    .description('Keeps a hybrid search index of a CRM SQLite database fresh, and serves it over MCP.')
    .version(VERSION)
    .showHelpAfterError('(run crm-index help <command> for its options)')
    // A usage mistake (unknown command or option, missing argument) exits 2, like a bad setting;
    // help and --version exit 0. Subcommands inherit this.
    .exitOverride((err) => {
      const ok = ['commander.helpDisplayed', 'commander.help', 'commander.version'].includes(err.code);
      process.exit(ok ? 0 : EXIT.config);
    });
  addGlobalOptions(program);
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'commands');
  const files = fs
    .readdirSync(dir)
    .filter((f) => /\.(js|ts)$/.test(f) && !f.endsWith('.d.ts') && !f.endsWith('.map'))
    .sort();
  for (const f of files) {
    const mod = (await import(pathToFileURL(path.join(dir, f)).href)) as {
      register?: (p: Command) => void;
    };
    mod.register?.(program);
  }
  return program;
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1]);
if (isMain) {
  // A reader that closed the pipe (`search --json | head -3`) ends the command quietly, not with a stack.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  const program = await buildProgram();
  await program.parseAsync(process.argv);
}
