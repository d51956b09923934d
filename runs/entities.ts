/**
 * Entity resolution inside the pipeline: canonical entity ids go into every
 * chunk's payload (so search can filter by entity), and the incremental
 * resolver runs before each drain page, so a merge or split re-indexes the
 * records whose entity ids changed (queued as due retries, which the drain
 * expands to their dependents like any change).
 *
 * Entity resolution needs the reference CRM's people and organizations; on a
 * CRM whose source map has no such tables it is switched off with one warning.
 */
import { ConfigError, CrmIndexError, errorMessage } from '../config/errors.js';
import { resolveFullInWorker } from '../entities/fullInWorker.js';
import type { Logger } from '../config/log.js';
import { CaptureMissingError, type Db } from '../crm/db.js';
import type { SourceMap } from '../crm/sourceMap.js';
import { ENTITIES_CONSUMER, entityIdsFor, resolveIncremental } from '../entities/index.js';
import { hasEntityLinks } from '../entities/lookup.js';
import { DEFAULT_ENTITY_SOURCE } from '../entities/source.js';
import { enqueueKeys } from './failures.js';
import { ensureConsumer } from '../triggers/changelog.js';

export interface EntityHooks {
  /** Entity ids per record key (empty until entity resolution has run). */
  idsFor(keys: string[]): Map<string, string[]>;
  /** One incremental pass; queues re-indexing of records whose entity ids changed. Returns how many. */
  sync(): number;
  /**
   * Full recompute (the first step of rebuild), in a child process with its own heap limit
   * (entities/fullInWorker.ts). A CRM too large for that limit is reported and skipped: the
   * entity ids of the last resolution stay.
   */
  fullInWorker(opts: { dbPath: string; busyTimeoutMs: number; heapMb: number }): Promise<number>;
  /** False once entity resolution switched itself off for this run. */
  active(): boolean;
}

export function entityHooks(db: Db, map: SourceMap, log: Logger, owner: string): EntityHooks {
  // A map without the people and organizations the resolver reads: nothing is wrong, resolution simply does not apply.
  const src = DEFAULT_ENTITY_SOURCE;
  const mapped = new Set(map.tables.map((t) => t.table));
  if (!mapped.has(src.people.table) || !mapped.has(src.organizations.table)) {
    log.info(
      `entity resolution is off for this map: it reads the tables ${src.people.table} and ${src.organizations.table}, which the source map does not index; records are indexed without entity ids.`,
    );
    return {
      active: () => false,
      idsFor: () => new Map(),
      sync: () => 0,
      fullInWorker: () => Promise.resolve(0),
    };
  }
  let enabled = true;
  const disable = (err: unknown): void => {
    enabled = false;
    log.warn({ err: errorMessage(err) }, `entity resolution is off: ${errorMessage(err)}`);
  };
  const queue = (keys: string[]): number => {
    if (keys.length > 0) enqueueKeys(db, keys, 'entity ids changed');
    return keys.length;
  };
  return {
    active: () => enabled,
    idsFor(keys) {
      if (!enabled || keys.length === 0 || !hasEntityLinks(db)) return new Map();
      return entityIdsFor(db, keys, { map });
    },
    sync() {
      if (!enabled) return 0;
      try {
        // The very first pass resolves everything: every linked record's entity ids are new.
        const first =
          db.prepare(`SELECT 1 FROM _cdc_consumers WHERE name = ?`).get(ENTITIES_CONSUMER) === undefined;
        const changed = resolveIncremental(db, { owner }).changedRecordKeys;
        if (!first) return queue(changed);
        return queue(db.prepare('SELECT record_key FROM entity_links').pluck().all() as string[]);
      } catch (err) {
        // A schema without people/organizations, or capture missing: say so once, index without entity ids.
        // A missing _cdc_ table is repaired by follow's capture check: skip this pass, stay on.
        if (
          err instanceof CrmIndexError &&
          err.kind !== 'transient' &&
          err.kind !== 'lease' &&
          !(err instanceof CaptureMissingError)
        )
          disable(err);
        else log.warn({ err: errorMessage(err) }, `entity resolution pass skipped: ${errorMessage(err)}`);
        return 0;
      }
    },
    async fullInWorker(opts) {
      if (!enabled) return 0;
      try {
        // Start the incremental consumer here, so the next pass picks up only what changes from now on.
        if (
          db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_cdc_consumers'").get()
        ) {
          ensureConsumer(db, ENTITIES_CONSUMER, 'now');
        }
        return queue((await resolveFullInWorker(opts)).changedRecordKeys);
      } catch (err) {
        if (err instanceof ConfigError) {
          log.error({ err: errorMessage(err) }, `entity resolution skipped: ${errorMessage(err)}`);
          return 0;
        }
        if (err instanceof CrmIndexError && err.kind !== 'transient') disable(err);
        else throw err;
        return 0;
      }
    },
  };
}
