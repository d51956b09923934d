/**
 * `status`: everything an operator asks first — backlog, lag, cursors,
 * trigger health, the last sweep, dead letters, the store's point count.
 * Reads only; safe while follow runs.
 */
import type { Config } from '../config/index.js';
import { errorMessage, maskCredentials } from '../config/errors.js';
import type { Db } from '../crm/db.js';
import type { SourceMap } from '../crm/sourceMap.js';
import { backlog, listConsumers, maxSeq, oldestPendingAt } from '../triggers/changelog.js';
import { describeMapMismatch, verifyCapture } from '../triggers/install.js';
import type { VectorStore } from '../stores/types.js';
import type { SweepReport } from './events.js';
import { countDeadLetters, ensureFailureTables, getState, listDeadLetters } from './failures.js';
import { INDEX_CONSUMER } from './context.js';

export interface StatusReport {
  database: string;
  store: {
    kind: string;
    location: string;
    generation: string | null;
    points: number | null;
    error?: string;
    /** Damage found in the store's own files (empty: none); what to do is a rebuild. */
    integrity: string[];
  };
  embedder: { kind: string; model: string };
  changelog: { maxSeq: number; backlog: number; lagSeconds: number };
  consumers: ReturnType<typeof listConsumers>;
  triggers: {
    ok: boolean;
    missing: string[];
    stale: string[];
    extra: string[];
    /** Set when capture was installed for another source map than this process's. */
    mapMismatch?: string;
  };
  lastSweep: SweepReport | null;
  deadLetters: { count: number; newest: ReturnType<typeof listDeadLetters> };
}

export async function collectStatus(
  config: Config,
  db: Db,
  map: SourceMap,
  store: VectorStore | null,
  storeError?: string,
  /** Read every page of the index file (seconds on a large one): `crm-index status` does, the page does not. */
  opts: { integrity?: boolean } = {},
): Promise<StatusReport> {
  ensureFailureTables(db);
  const consumers = listConsumers(db);
  const has = consumers.some((c) => c.name === INDEX_CONSUMER);
  const oldest = has ? oldestPendingAt(db, INDEX_CONSUMER) : null;
  const v = verifyCapture(db, map);
  let points: number | null = null;
  let error = storeError;
  let integrity: string[] = [];
  if (store) {
    try {
      points = await store.count();
    } catch (err) {
      error = (err as Error).message;
    }
    if (opts.integrity) integrity = await store.checkIntegrity().catch((err: unknown) => [errorMessage(err)]);
  }
  return {
    database: config.dbPath,
    store: {
      kind: config.storeKind,
      location:
        config.storeKind === 'qdrant'
          ? `${maskCredentials(config.qdrantUrl)} (${config.collection})`
          : config.resolvedIndexPath,
      generation: store?.generation ?? null,
      points,
      ...(error ? { error } : {}),
      integrity,
    },
    embedder: { kind: config.embedderKind, model: config.resolvedModel },
    changelog: {
      maxSeq: maxSeq(db),
      backlog: has ? backlog(db, INDEX_CONSUMER) : 0,
      lagSeconds: oldest === null ? 0 : Math.max(0, (Date.now() - oldest) / 1000),
    },
    consumers,
    triggers: {
      ok: v.ok,
      missing: v.missing,
      stale: v.stale,
      extra: v.extra,
      ...(v.mapMismatch && v.installedMap ? { mapMismatch: describeMapMismatch(v.installedMap, map) } : {}),
    },
    lastSweep: getState<SweepReport>(db, 'last_sweep') ?? null,
    deadLetters: { count: countDeadLetters(db), newest: listDeadLetters(db).slice(0, 10) },
  };
}

export function formatStatus(s: StatusReport): string {
  const lines = [
    `database     ${s.database}`,
    `store        ${s.store.kind} at ${s.store.location}${s.store.generation ? ` [${s.store.generation}]` : ''}; points: ${s.store.points ?? 'unknown'}${s.store.error ? ` (error: ${s.store.error})` : ''}`,
    ...(s.store.integrity.length > 0
      ? [
          `index file   DAMAGED: ${s.store.integrity.slice(0, 3).join('; ')}. Run crm-index rebuild (with follow stopped, move the damaged file aside first).`,
        ]
      : []),
    `embedder     ${s.embedder.kind} (${s.embedder.model})`,
    `changelog    max seq ${s.changelog.maxSeq}; backlog ${s.changelog.backlog}; lag ${s.changelog.lagSeconds.toFixed(1)} s`,
    `triggers     ${s.triggers.ok ? 'ok' : s.triggers.mapMismatch ? `NOT OK: ${s.triggers.mapMismatch} (give this command the installed map with CRM_SOURCE_MAP, or run crm-index install with this one)` : `NOT OK: missing ${s.triggers.missing.join(', ') || '-'}; stale ${s.triggers.stale.join(', ') || '-'} (run crm-index install)`}`,
    `last sweep   ${s.lastSweep ? `${s.lastSweep.at}: checked ${s.lastSweep.checked}, repaired ${s.lastSweep.missing + s.lastSweep.stale + s.lastSweep.orphans} (missing ${s.lastSweep.missing}, stale ${s.lastSweep.stale}, orphans ${s.lastSweep.orphans})` : 'never'}`,
    `dead letters ${s.deadLetters.count}${s.deadLetters.count > 0 ? ' (crm-index dead-letters)' : ''}`,
    'cursors:',
    ...s.consumers.map(
      (c) =>
        `  ${c.name.padEnd(10)} seq ${c.seq}${c.leaseOwner && (c.leaseExpiresAt ?? 0) > Date.now() ? `; lease held by ${c.leaseOwner}` : ''}`,
    ),
  ];
  return lines.join('\n');
}
