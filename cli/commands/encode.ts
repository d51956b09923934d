/**
 * `crm-index encode`: prints the vectors this tool would index or query with,
 * one JSON line per text, so operators can compare them with other tools
 * (for example fastembed's `Qdrant/bm25` in Python).
 */
import type { Command } from 'commander';
import { action, configFrom } from '../context.js';

interface EncodeOpts {
  sparse?: boolean;
  dense?: boolean;
  query?: boolean;
}

export function register(program: Command): void {
  program
    .command('encode')
    .description(
      'print BM25 sparse (default) or dense vectors as JSON lines, one per TEXT (or per stdin line)',
    )
    .argument('[text...]', 'texts to encode; read from stdin lines when none are given')
    .option('--sparse', 'BM25 sparse vector {"indices":[...],"values":[...]} (default)')
    .option('--dense', 'dense vector {"dense":[...]} from the configured embedder')
    .option('--query', 'encode as a search query (sparse: distinct ids with value 1)')
    .action(
      action(async (texts: string[], opts: EncodeOpts, cmd: Command) => {
        const { ConfigError } = await import('../../config/index.js');
        if (opts.sparse && opts.dense) throw new ConfigError('encode: give --sparse or --dense, not both.');
        const input = texts.length > 0 ? texts : await readStdinLines();
        const write = (obj: unknown) => process.stdout.write(JSON.stringify(obj) + '\n');
        if (opts.dense) {
          const { createDenseEmbedder } = await import('../../encoders/factory.js');
          const embedder = await createDenseEmbedder(configFrom(cmd));
          try {
            await embedder.init();
            // Dense embedders treat queries and documents alike; --query is accepted for symmetry.
            const vectors = await embedder.embed(input);
            for (const v of vectors) write({ dense: Array.from(v) });
          } finally {
            await embedder.close();
          }
          return;
        }
        const { Bm25Encoder } = await import('../../encoders/bm25.js');
        const enc = new Bm25Encoder();
        for (const text of input) write(opts.query ? enc.encodeQuery(text) : enc.encodeDocument(text));
      }),
    );
}

async function readStdinLines(): Promise<string[]> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}
