/**
 * What every MCP server instance shares: the CRM connections, the source map
 * and the search engine. The stateless HTTP transport builds a fresh McpServer
 * per request; this context outlives them, so connections are opened once.
 *
 * Invariant: reads use a connection opened `readonly` with `PRAGMA query_only`,
 * so no read tool can change the CRM even by mistake; writes use a separate
 * normal connection, so the CRM's capture triggers see them like any write.
 */
import type { Db } from '../crm/db.js';
import { openCrm } from '../crm/db.js';
import type { SourceMap } from '../crm/sourceMap.js';
import type { SearchEngine } from '../search/engine.js';
import { ensureWriteLog } from './audit.js';
import { CrmReader } from './crm.js';
import { errorMessage } from '../config/errors.js';
import { logger } from '../config/log.js';

export interface McpContextOptions {
  dbPath: string;
  sourceMap: SourceMap;
  /** The search engine, built lazily (opening the store and loading the embedder is slow). */
  engine: () => Promise<SearchEngine>;
  readOnly?: boolean;
  busyTimeoutMs?: number;
}

export interface McpContext {
  readonly sourceMap: SourceMap;
  readonly readOnly: boolean;
  reader(): CrmReader;
  writer(): Db;
  engine(): Promise<SearchEngine>;
  /**
   * Load the embedder and the search index in the background, so the first
   * search does not wait for them (2-7 s at 100k chunks on the embedded store).
   * A failure (no index yet) is logged and left for the first search to report.
   */
  warm(): void;
  close(): void;
}

export function createMcpContext(opts: McpContextOptions): McpContext {
  const log = logger('mcp');
  let reader: CrmReader | undefined;
  let writer: Db | undefined;
  let engine: Promise<SearchEngine> | undefined;
  const readOnly = opts.readOnly ?? false;
  return {
    sourceMap: opts.sourceMap,
    readOnly,
    reader() {
      if (!reader) {
        const db = openCrm(opts.dbPath, { readonly: true, busyTimeoutMs: opts.busyTimeoutMs });
        db.pragma('query_only = 1');
        reader = new CrmReader(db, opts.sourceMap);
      }
      return reader;
    },
    writer() {
      if (readOnly) throw new Error('the MCP server runs read-only (--read-only); writes are disabled.');
      if (!writer) {
        writer = openCrm(opts.dbPath, { busyTimeoutMs: opts.busyTimeoutMs });
        ensureWriteLog(writer);
      }
      return writer;
    },
    engine() {
      engine ??= opts.engine().catch((err: unknown) => {
        // Let a later call retry (the index may be built meanwhile).
        engine = undefined;
        throw err;
      });
      return engine;
    },
    warm() {
      // After the current turn of the event loop: a transport's handshake answers first.
      setImmediate(() => {
        this.engine()
          .then((e) => e.warm())
          .then(
            () => log.debug('search index loaded'),
            (err: unknown) =>
              log.info({ err: errorMessage(err) }, `search index not loaded yet: ${errorMessage(err)}`),
          );
      });
    },
    close() {
      reader?.db.close();
      writer?.close();
      reader = undefined;
      writer = undefined;
    },
  };
}
