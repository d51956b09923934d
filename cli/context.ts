/**
 * Shared CLI plumbing: global options, building the Config from flags, and
 * turning errors into one clear stderr line and an exit code by kind.
 */
import type { Command } from 'commander';
import { CrmIndexError, loadConfig, setLogLevel, type Config } from '../config/index.js';
import { classifySqliteError } from '../crm/db.js';
import { isSqliteError } from '../config/sqliteErrors.js';
import { misspeltSettings } from '../config/settings.js';

export const EXIT = {
  ok: 0,
  unexpected: 1,
  config: 2,
  sourceMap: 3,
  source: 3,
  lease: 4,
  transient: 5,
  store: 5,
  permanent: 6,
} as const;

export function addGlobalOptions(program: Command): void {
  program
    .option('--db <path>', 'CRM SQLite database (env CRM_DB_PATH)')
    .option('--index <path>', 'embedded store file (env CRM_INDEX_PATH)')
    .option('--source-map <path>', 'JSON source map (env CRM_SOURCE_MAP)')
    .option('--embed-url <url>', 'OpenAI-compatible embeddings base URL (env SPARK_CONTROL_URL)')
    .option('--qdrant-url <url>', 'Qdrant URL (env QDRANT_URL)')
    .option('--env-file <path>', 'read settings from this .env file (default ./.env if present)')
    .option('--log-level <level>', 'trace|debug|info|warn|error|silent (env LOG_LEVEL)');
}

/** The last config a command built: error reporting needs to know whether a source map was given. */
let lastConfig: Config | undefined;

/** The config for a command: global options from the root program plus the command's own. */
export function configFrom(cmd: Command, extra: Record<string, unknown> = {}): Config {
  const globals = cmd.optsWithGlobals() as Record<string, unknown>;
  const flags: Record<string, unknown> = {
    db: globals.db,
    index: globals.index,
    'source-map': globals.sourceMap,
    'embed-url': globals.embedUrl,
    'qdrant-url': globals.qdrantUrl,
    'log-level': globals.logLevel,
    ...extra,
  };
  const config = loadConfig({ flags, envFile: (globals.envFile as string | undefined) ?? undefined });
  setLogLevel(config.logLevel);
  if (!lastConfig) {
    for (const w of misspeltSettings(process.env)) process.stderr.write(`crm-index: warning: ${w}\n`);
  }
  lastConfig = config;
  return config;
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof CrmIndexError) {
    switch (err.kind) {
      case 'config':
        return EXIT.config;
      case 'source-map':
        return EXIT.sourceMap;
      case 'source':
        return EXIT.source;
      case 'lease':
        return EXIT.lease;
      case 'transient':
        return EXIT.transient;
      case 'store':
        return EXIT.store;
      case 'permanent':
        return EXIT.permanent;
    }
  }
  return EXIT.unexpected;
}

/** Wrap a command action: known errors print as one line `crm-index: <message>`; others with a stack. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void) {
  return async (...args: A): Promise<void> => {
    try {
      await fn(...args);
    } catch (caught) {
      // A SQLite error no layer classified (a lock, a full disk) still gets the one-line message and its kind.
      const err =
        !(caught instanceof CrmIndexError) && isSqliteError(caught)
          ? classifySqliteError(caught, 'running the command')
          : caught;
      if (err instanceof CrmIndexError) {
        process.stderr.write(`crm-index: ${err.message}${builtInMapHint(err)}\n`);
      } else {
        process.stderr.write(
          `crm-index: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
        );
      }
      process.exitCode = exitCodeFor(err);
    }
  };
}

/**
 * A database that does not fit the map, when no map was given: say that the
 * built-in demo map was used and how to point at the right one, on the same line.
 */
function builtInMapHint(err: CrmIndexError): string {
  if (err.kind !== 'source-map' || !lastConfig || lastConfig.sourceMapPath !== undefined) return '';
  if (/capture is installed for source map/.test(err.message)) return '';
  return " (No CRM_SOURCE_MAP is set, so the built-in demo CRM map was used: set CRM_SOURCE_MAP or --source-map to your CRM's map; `crm-index source-map > my-map.json` gives a starting point, see docs/source-map.md.)";
}
