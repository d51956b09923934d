import type { Command } from 'commander';
import { ConfigError } from '../../config/errors.js';
import { action, configFrom } from '../context.js';

export function register(program: Command): void {
  program
    .command('search')
    .description('one query against the current index; --json prints one hit per line')
    .argument('<query...>', 'what to search for')
    .option('--mode <mode>', 'dense | sparse | hybrid', 'hybrid')
    .option('--fusion <fusion>', 'hybrid fusion: rrf | dbsf', 'rrf')
    .option('--limit <n>', 'hits to return (1-100)', '10')
    .option('--table <tables>', 'only these tables (comma-separated)')
    .option('--kind <kinds>', 'only these kinds (comma-separated)')
    .option('--stage <stages>', 'only deals in these stages (comma-separated)')
    .option('--organization <ids>', 'only records of these organization ids (comma-separated)')
    .option('--entity <ids>', 'only records linked to these entity ids (comma-separated)')
    .option('--from <date>', 'on or after this ISO date')
    .option('--to <date>', 'on or before this ISO date')
    .option('--context <n>', 'neighbour chunks to show around the best chunk', '0')
    .option('--json', 'one JSON object per hit per line: key, table, title, score, text, payload')
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
        const { ISO_DATE } = await import('../../mcp/tools/common.js');
        for (const flag of ['from', 'to'] as const) {
          const v = opts[flag];
          if (typeof v === 'string' && !ISO_DATE.test(v)) {
            throw new ConfigError(
              `--${flag}="${v}" is not an ISO date; give YYYY-MM-DD or an ISO datetime (for example 2024-05-01).`,
            );
          }
        }
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
        // The same engine MCP and the page use: same weights, read-only, never creates the index.
        const { openSearchEngine } = await import('../../search/open.js');
        const opened = await openSearchEngine(config);
        try {
          const hits = await opened.engine.search(words.join(' '), {
            mode: opts.mode as 'dense' | 'sparse' | 'hybrid',
            fusion: opts.fusion as 'rrf' | 'dbsf',
            limit,
            context: Number(opts.context),
            filter: {
              tables: list(opts.table),
              kinds: list(opts.kind),
              stages: list(opts.stage),
              organizationIds: list(opts.organization),
              entityIds: list(opts.entity),
              dateFrom: typeof opts.from === 'string' ? opts.from : undefined,
              dateTo: typeof opts.to === 'string' ? opts.to : undefined,
            },
          });
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
          await opened.close();
        }
      }),
    );
}
