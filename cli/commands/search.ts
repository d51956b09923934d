import type { Command } from 'commander';
import { ConfigError } from '../../config/errors.js';
import { normaliseDateFrom, normaliseDateTo } from '../../stores/dates.js';
import { FILTER_FIELDS, FILTER_FIELD_NAMES } from '../../stores/filterFields.js';
import type { SearchFilter } from '../../stores/types.js';
import type { SearchOptions } from '../../search/engine.js';
import { logger } from '../../config/log.js';
import { action, configFrom } from '../context.js';

/** The filter fields with an option (stores/filterFields.ts): [SearchFilter key, flag]. */
const CLI_FILTERS = FILTER_FIELD_NAMES.flatMap((k) => {
  const cli = (FILTER_FIELDS[k] as { cli?: string }).cli;
  return cli ? [[k, cli] as const] : [];
});

export function register(program: Command): void {
  program
    .command('search')
    .description('one query against the current index; --json prints one hit per line')
    .argument('<query...>', 'what to search for')
    .option('--mode <mode>', 'dense | sparse | hybrid', 'hybrid')
    .option('--fusion <fusion>', 'hybrid fusion: rrf | dbsf', 'rrf')
    .option('--limit <n>', 'hits to return (1-100)', '10')
    .option('--from <date>', 'on or after this date (YYYY-MM-DD or an ISO datetime; no offset = UTC)')
    .option('--to <date>', 'on or before this date (a bare date includes that whole day)')
    .option('--context <n>', 'neighbour chunks to show around the best chunk', '0')
    .option('--json', 'one JSON object per hit per line: key, table, title, score, text, payload')
    .option('--local', 'search the index in this process even when a follow on this database could answer')
    .action(
      action(async (words: string[], opts: Record<string, string | boolean | undefined>, cmd: Command) => {
        const config = configFrom(cmd);
        const list = (v: unknown) =>
          typeof v === 'string'
            ? v
                .split(',')
                .map((s) => s.trim())
                .filter(Boolean)
            : undefined;
        const limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
          throw new ConfigError(
            `--limit="${String(opts.limit)}" is not a whole number from 1 to 100; give one in that range.`,
          );
        }
        // Refused before anything opens, naming the option; normalised to RFC 3339 UTC.
        const filter: SearchFilter = {
          dateFrom: typeof opts.from === 'string' ? normaliseDateFrom(opts.from, '--from') : undefined,
          dateTo: typeof opts.to === 'string' ? normaliseDateTo(opts.to, '--to') : undefined,
        };
        for (const [k, flag] of CLI_FILTERS) filter[k] = list(opts[flag]);
        const { SEARCH_MODES, FUSIONS } = await import('../../search/engine.js');
        if (!(SEARCH_MODES as readonly unknown[]).includes(opts.mode)) {
          throw new ConfigError(
            `--mode="${String(opts.mode)}" is not a search mode; use one of ${SEARCH_MODES.join(', ')}.`,
          );
        }
        if (!(FUSIONS as readonly unknown[]).includes(opts.fusion)) {
          throw new ConfigError(
            `--fusion="${String(opts.fusion)}" is not a fusion; use one of ${FUSIONS.join(', ')}.`,
          );
        }
        const query = words.join(' ');
        const searchOpts: SearchOptions = {
          mode: opts.mode as 'dense' | 'sparse' | 'hybrid',
          fusion: opts.fusion as 'rrf' | 'dbsf',
          limit,
          context: Number(opts.context),
          filter,
        };
        // A running follow on this database holds the index loaded: ask it first (search/remote.ts).
        const { searchViaFollow } = await import('../../search/remote.js');
        const remote = opts.local ? undefined : await searchViaFollow(config, query, searchOpts);
        if (remote) logger('search').debug({ follow: remote.url }, `answered by follow at ${remote.url}`);
        // Otherwise the same engine MCP and the page use: same weights, read-only, never creates the index.
        const { openSearchEngine } = await import('../../search/open.js');
        const opened = remote ? undefined : await openSearchEngine(config);
        try {
          const hits = remote ? remote.hits : await opened!.engine.search(query, searchOpts);
          if (opts.json) {
            for (const h of hits) process.stdout.write(JSON.stringify(h) + '\n');
          } else if (hits.length === 0) {
            process.stdout.write('no hits\n');
          } else {
            hits.forEach((h, i) => {
              const snippet = h.text.replace(/\s+/g, ' ').slice(0, 240);
              process.stdout.write(
                `${i + 1}. ${h.key}  ${h.title}  (score ${h.score.toFixed(4)})\n   ${snippet}\n`,
              );
            });
          }
        } finally {
          await opened?.close();
        }
      }),
    );
  const search = program.commands.find((c) => c.name() === 'search')!;
  for (const [k, flag] of CLI_FILTERS)
    search.option(`--${flag} <values>`, `${FILTER_FIELDS[k].doc} (comma-separated)`);
}
