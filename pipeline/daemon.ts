/**
 * The follow process: open the pipeline, start the stream, the metrics and
 * the HTTP endpoint, and shut down gracefully on the first signal.
 */
import type { Config } from '../config/index.js';
import { logger } from '../config/log.js';
import { shutdownSignal } from './signals.js';
import { openPipeline } from './context.js';
import { startFollow } from './follow.js';
import { startHttp, type ExtraRoute } from './http.js';
import { createMetrics } from './metrics.js';
import { INDEX_CONSUMER } from './context.js';

export async function runFollow(
  config: Config,
  extraRoutes?: (ctx: Awaited<ReturnType<typeof openPipeline>>) => ExtraRoute,
): Promise<void> {
  const log = logger('follow');
  const ctx = await openPipeline(config);
  const follow = await startFollow(ctx);
  const registry = createMetrics(ctx, INDEX_CONSUMER);
  const http = await startHttp(ctx, follow, registry, config.httpHost, config.httpPort, extraRoutes?.(ctx));
  log.info(
    { url: http.url, db: config.dbPath, store: config.storeKind, embedder: config.embedderKind },
    `following ${config.dbPath}; health at ${http.url}/healthz`,
  );
  process.stderr.write(`crm-index follow: watching ${config.dbPath}; ${http.url}/healthz and /metrics\n`);
  ctx.events.on('batch:written', (e) =>
    log.debug(
      { records: e.records, chunks: e.counts.chunks, seq: e.seq, ms: Math.round(e.ms) },
      'batch written',
    ),
  );
  const signal = shutdownSignal();
  signal.addEventListener('abort', () => void follow.stop(), { once: true });
  await follow.done;
  await http.close();
  await ctx.close();
  log.info('stopped');
}
