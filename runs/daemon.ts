/**
 * The follow process: open the pipeline, start the stream, the metrics and
 * the HTTP endpoint, and shut down gracefully on the first signal.
 *
 * It also supervises itself against the CRM database going away: a file that
 * is deleted or replaced while followed (a restore from backup, a CRM
 * reinstall) is detected by its inode, reported clearly, and reopened once a
 * file is back there; a file that cannot be opened is retried. The cursor
 * lives in the database itself, so nothing acked is lost, and a sweep right
 * after the reopen reconciles the index with whatever the new file holds.
 */
import fs from 'node:fs';
import type { Config } from '../config/index.js';
import { CrmIndexError, errorMessage, SourceMapError } from '../config/errors.js';
import { logger } from '../config/log.js';
import { shutdownSignal, sleep } from '../pipeline/signals.js';
import { openPipeline } from './context.js';
import { startFollow } from './follow.js';
import { startHttp, type ExtraRoute } from './http.js';
import { createMetrics } from './metrics.js';
import { INDEX_CONSUMER } from './context.js';

type Routes = (ctx: Awaited<ReturnType<typeof openPipeline>>) => ExtraRoute;

/** How often the database file's identity is checked. */
const WATCHDOG_MS = 1000;
/** Wait before retrying a database that exists but cannot be opened. */
const REOPEN_RETRY_MS = 5000;

function identity(file: string): string | null {
  try {
    const st = fs.statSync(file);
    return `${st.dev}:${st.ino}`;
  } catch {
    return null;
  }
}

export async function runFollow(config: Config, extraRoutes?: Routes): Promise<void> {
  const log = logger('follow');
  const signal = shutdownSignal();
  let reopened = false;
  while (!signal.aborted) {
    let outcome: 'stopped' | 'reopen';
    try {
      outcome = await followOnce(config, extraRoutes, signal, reopened);
    } catch (err) {
      // Only problems with the database file itself are retried; bad settings stop the daemon.
      if (
        signal.aborted ||
        !(err instanceof CrmIndexError) ||
        (err.kind !== 'source' && err.kind !== 'transient')
      ) {
        throw err;
      }
      log.error({ err: errorMessage(err) }, `${errorMessage(err)} Retrying in ${REOPEN_RETRY_MS / 1000} s.`);
      process.stderr.write(
        `crm-index follow: ${errorMessage(err)} Retrying in ${REOPEN_RETRY_MS / 1000} s.\n`,
      );
      await sleep(REOPEN_RETRY_MS, signal);
      reopened = true;
      continue;
    }
    if (outcome === 'stopped') break;
    reopened = true;
    let told = false;
    while (!signal.aborted && identity(config.dbPath) === null) {
      if (!told) process.stderr.write(`crm-index follow: waiting for ${config.dbPath} to exist again\n`);
      told = true;
      await sleep(WATCHDOG_MS, signal);
    }
  }
  log.info('stopped');
}

async function followOnce(
  config: Config,
  extraRoutes: Routes | undefined,
  signal: AbortSignal,
  reopened: boolean,
): Promise<'stopped' | 'reopen'> {
  const log = logger('follow');
  const ctx = await openPipeline(config, { longRunning: true });
  const opened = identity(config.dbPath);
  let outcome: 'stopped' | 'reopen' = 'stopped';
  try {
    const follow = await startFollow(ctx);
    if (reopened) follow.kick('sweep');
    const registry = createMetrics(ctx, INDEX_CONSUMER);
    let http: Awaited<ReturnType<typeof startHttp>>;
    try {
      http = await startHttp(ctx, follow, registry, config.httpHost, config.httpPort, extraRoutes?.(ctx));
    } catch (err) {
      // A port in use: stop the stream before the database closes under it.
      await follow.stop();
      throw err;
    }
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
    const onAbort = () => void follow.stop();
    signal.addEventListener('abort', onAbort, { once: true });
    const watchdog = setInterval(() => {
      if (identity(config.dbPath) === opened) return;
      const msg = `The CRM database ${config.dbPath} was deleted or replaced while following; closing it and reopening the file that is there now (the cursor lives in the database, so nothing acknowledged is lost).`;
      log.error(msg);
      process.stderr.write(`crm-index follow: ${msg}\n`);
      outcome = 'reopen';
      clearInterval(watchdog);
      void follow.stop();
    }, WATCHDOG_MS);
    await follow.done;
    clearInterval(watchdog);
    signal.removeEventListener('abort', onAbort);
    await http.close();
    // The installed source map changed under us (runs/mapHandover.ts): reopen with it, or stop.
    const handover = follow.state().mapHandover;
    if (handover?.action === 'stop') throw new SourceMapError(handover.message);
    if (handover?.action === 'reload') {
      process.stderr.write(`crm-index follow: ${handover.message}\n`);
      outcome = 'reopen';
    }
  } finally {
    await ctx.close();
  }
  return outcome;
}
