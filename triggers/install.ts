/**
 * Installing, verifying and removing capture on a CRM database.
 *
 * Invariants kept here:
 * - install is idempotent and atomic (one IMMEDIATE transaction): after it,
 *   every mapped table has exactly the generated triggers, or nothing changed;
 * - install repairs what a CRM migration did: a table rebuild (create new,
 *   copy, drop old, rename) silently drops that table's triggers, and a
 *   rename rewrites trigger text; verify reports both, install restores them;
 * - uninstall removes only what we own (triggers and tables named _cdc_*, plus
 *   the other layers' tables listed in OWNED_TABLES) and never touches a CRM row.
 */
import { SourceMapError } from '../config/errors.js';
import type { Db } from '../crm/db.js';
import { restoreHighWater, type HighWaterRepair } from './changelog.js';
import { classifySqliteError } from '../crm/db.js';
import { sourceMapOrigin } from '../crm/loadSourceMap.js';
import { sourceMapIdentity, type SourceMap } from '../crm/sourceMap.js';
import { inspectTable, validateSourceMap } from '../crm/validate.js';
import {
  assignTableIds,
  CAPTURE_VERSION,
  captureFingerprint,
  captureTriggers,
  CDC_TABLES,
  CHANGELOG_SCHEMA_SQL,
  quoteIdent,
  type CapturePlan,
  type TriggerDef,
} from './sql.js';

export interface VerifyReport {
  /** True when every expected trigger and table is present and identical, and the metadata matches. */
  ok: boolean;
  /** Expected triggers (or _cdc_ tables) that do not exist. */
  missing: string[];
  /** Our triggers whose stored SQL differs from what would be generated now. */
  stale: string[];
  /** _cdc_ triggers that the current map would not create. */
  extra: string[];
  installedVersion: number | null;
  installedFingerprint: string | null;
  expectedFingerprint: string;
  /** The map capture was installed for (null: installed before maps were recorded, or not installed). */
  installedMap: InstalledMap | null;
  /** The map this process has. */
  map: { identity: string; origin: string };
  /** True when capture was installed for another map than this process's. */
  mapMismatch: boolean;
  /** True when capture is installed but records no map (an older version installed it). */
  mapUnrecorded: boolean;
}

/** The source map capture was installed for, as recorded in `_cdc_meta`. */
export interface InstalledMap {
  identity: string;
  /** The file it was loaded from, or "the built-in map". */
  origin: string;
  installedAt: string | null;
}

export interface InstallReport {
  /** False when capture was already installed exactly as the map asks. */
  changed: boolean;
  created: string[];
  replaced: string[];
  dropped: string[];
  /** Set when the installed version/fingerprint differed: every trigger was rebuilt. */
  upgradedFrom: { version: number | null; fingerprint: string | null } | null;
  /** Our _cdc_ tables that were missing (dropped by hand or by a migration) and were created. */
  tablesCreated: string[];
  /**
   * Set when the changelog's seq had fallen below a cursor (it was emptied or
   * re-created) and was moved back above it; the index then needs a sweep.
   */
  highWater: HighWaterRepair | null;
  version: number;
  fingerprint: string;
  tables: string[];
  /** The map installed now. */
  map: { identity: string; origin: string };
  /** The map that was installed before, when it was another one. */
  replacedMap: InstalledMap | null;
}

export interface InstallOptions {
  /**
   * Install even though capture was installed for another source map. Only
   * `crm-index install` and `demo` (an operator's explicit choice) pass it:
   * a follower or one-shot run with another map must never rewrite the
   * triggers, or an old process would undo a new map.
   */
  replaceMap?: boolean;
}

export interface UninstallReport {
  triggers: string[];
  tables: string[];
}

/** Tables other layers create in the CRM database; uninstall drops them when present, and nothing else. */
export const OWNED_TABLE_NAMES = [
  'entities',
  'entity_links',
  'entity_keys',
  'entity_overrides',
  'mcp_write_log',
] as const;
/** GLOB patterns (not LIKE: '_' is a LIKE wildcard and would match CRM tables such as "xcdcx..."). */
export const OWNED_TABLE_GLOBS = ['_cdc_*', '_index_*'] as const;

const META_VERSION = 'capture_version';
const META_FINGERPRINT = 'schema_fingerprint';
const META_MAP_IDENTITY = 'source_map_identity';
const META_MAP_ORIGIN = 'source_map_origin';
const META_MAP_AT = 'source_map_installed_at';

function tableExists(db: Db, name: string): boolean {
  return db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(name) !== undefined;
}

function readTableIds(db: Db): Map<string, number> {
  if (!tableExists(db, '_cdc_tables')) return new Map();
  const rows = db.prepare(`SELECT id, name FROM _cdc_tables`).all() as { id: number; name: string }[];
  return new Map(rows.map((r) => [r.name, r.id]));
}

function readMeta(db: Db): { version: number | null; fingerprint: string | null } {
  if (!tableExists(db, '_cdc_meta')) return { version: null, fingerprint: null };
  const get = (k: string): string | null =>
    (db.prepare(`SELECT value FROM _cdc_meta WHERE key = ?`).get(k) as { value: string } | undefined)
      ?.value ?? null;
  const v = get(META_VERSION);
  return { version: v === null ? null : Number(v), fingerprint: get(META_FINGERPRINT) };
}

/** The map capture was installed for, or null (not installed, or installed before maps were recorded). */
export function installedSourceMap(db: Db): InstalledMap | null {
  if (!tableExists(db, '_cdc_meta')) return null;
  const get = (k: string): string | null =>
    (db.prepare(`SELECT value FROM _cdc_meta WHERE key = ?`).get(k) as { value: string } | undefined)
      ?.value ?? null;
  const identity = get(META_MAP_IDENTITY);
  if (identity === null) return null;
  return { identity, origin: get(META_MAP_ORIGIN) ?? 'an unnamed map', installedAt: get(META_MAP_AT) };
}

/** One sentence naming the installed map and the one this process has. */
export function describeMapMismatch(installed: InstalledMap, map: SourceMap): string {
  return (
    `capture is installed for source map ${installed.identity} (${installed.origin}${installed.installedAt ? `, installed ${installed.installedAt}` : ''}), ` +
    `but this process has source map ${sourceMapIdentity(map)} (${sourceMapOrigin(map)})`
  );
}

function installedTriggers(db: Db): Map<string, string> {
  const rows = db
    .prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name GLOB '_cdc_*'`)
    .all() as { name: string; sql: string }[];
  return new Map(rows.map((r) => [r.name, r.sql]));
}

/** The plan for `map` given the table ids already assigned in this database. */
export function planCapture(
  db: Db,
  map: SourceMap,
  existingIds: ReadonlyMap<string, number> = readTableIds(db),
): CapturePlan {
  const ids = assignTableIds(map, existingIds);
  return {
    ids,
    tables: map.tables.map((t) => {
      const info = inspectTable(db, t.table);
      const rowidAlias =
        info.kind === 'table' && t.key.length === 1 && info.rowidAlias === t.key[0] ? info.rowidAlias : null;
      return { map: t, id: ids.get(t.table)!, rowidAlias };
    }),
  };
}

function diff(expected: readonly TriggerDef[], installed: ReadonlyMap<string, string>) {
  const want = new Map(expected.map((t) => [t.name, t]));
  const missing = expected.filter((t) => !installed.has(t.name)).map((t) => t.name);
  const stale = expected
    .filter((t) => installed.has(t.name) && installed.get(t.name) !== t.sql)
    .map((t) => t.name);
  const extra = [...installed.keys()].filter((n) => !want.has(n)).sort();
  return { missing, stale, extra };
}

/**
 * Compare what is installed with what `map` would install. Read-only. A table
 * rebuilt by a CRM migration shows up as missing triggers; a renamed one as
 * stale (SQLite rewrites trigger text on rename) plus missing.
 */
export function verifyCapture(db: Db, map: SourceMap): VerifyReport {
  try {
    const plan = planCapture(db, map);
    const expected = captureTriggers(plan);
    const fingerprint = captureFingerprint(expected);
    const { missing, stale, extra } = diff(expected, installedTriggers(db));
    const missingTables = CDC_TABLES.filter((t) => !tableExists(db, t));
    const meta = readMeta(db);
    const installedMap = installedSourceMap(db);
    const identity = sourceMapIdentity(map);
    const mapMismatch = installedMap !== null && installedMap.identity !== identity;
    // Installed by a version that did not record the map: not current until install records it.
    const mapUnrecorded = installedMap === null && meta.version !== null;
    const ok =
      !mapMismatch &&
      !mapUnrecorded &&
      missing.length === 0 &&
      stale.length === 0 &&
      extra.length === 0 &&
      missingTables.length === 0 &&
      meta.version === CAPTURE_VERSION &&
      meta.fingerprint === fingerprint;
    return {
      ok,
      missing: [...missingTables, ...missing],
      stale,
      extra,
      installedVersion: meta.version,
      installedFingerprint: meta.fingerprint,
      expectedFingerprint: fingerprint,
      installedMap,
      map: { identity, origin: sourceMapOrigin(map) },
      mapMismatch,
      mapUnrecorded,
    };
  } catch (err) {
    throw classifySqliteError(err, 'verifying capture triggers');
  }
}

/**
 * Validate the map against the database, then create our tables and make the
 * installed triggers exactly the generated ones, in one transaction. A version
 * or fingerprint change (an upgrade, or an edited map) rebuilds every trigger;
 * otherwise only missing and stale ones are (re)created and extra ones dropped.
 */
export function installCapture(db: Db, map: SourceMap, opts: InstallOptions = {}): InstallReport {
  validateSourceMap(db, map);
  const identity = sourceMapIdentity(map);
  const origin = sourceMapOrigin(map);
  const run = db.transaction((): InstallReport => {
    const tablesCreated = CDC_TABLES.filter((t) => !tableExists(db, t));
    const before = installedSourceMap(db);
    const otherMap = before !== null && before.identity !== identity;
    if (otherMap && !opts.replaceMap) {
      throw new SourceMapError(
        `${describeMapMismatch(before, map)}. This process will not rewrite the triggers for its map: ` +
          `run \`crm-index install\` with the map you want (CRM_SOURCE_MAP), then restart follow; or start this command with CRM_SOURCE_MAP set to the installed map.`,
      );
    }
    for (const s of CHANGELOG_SCHEMA_SQL) db.exec(s);
    const highWater = restoreHighWater(db);
    const existingIds = readTableIds(db);
    const plan = planCapture(db, map, existingIds);
    const addId = db.prepare(`INSERT INTO _cdc_tables (id, name) VALUES (?, ?)`);
    for (const [name, id] of plan.ids) if (!existingIds.has(name)) addId.run(id, name);

    const expected = captureTriggers(plan);
    const fingerprint = captureFingerprint(expected);
    const installed = installedTriggers(db);
    const meta = readMeta(db);
    const upgrade = meta.version !== CAPTURE_VERSION || meta.fingerprint !== fingerprint;
    const { missing, stale, extra } = diff(expected, installed);
    // On an upgrade every trigger is rebuilt, even one whose text happens to match.
    const replaced = upgrade ? expected.filter((t) => installed.has(t.name)).map((t) => t.name) : stale;
    const toDrop = [...replaced, ...extra];
    for (const name of toDrop) db.exec(`DROP TRIGGER IF EXISTS ${quoteIdent(name)}`);
    const toCreate = new Set([...missing, ...replaced]);
    for (const t of expected) if (toCreate.has(t.name)) db.exec(t.sql);

    const setMeta = db.prepare(
      `INSERT INTO _cdc_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
    );
    if (upgrade) {
      setMeta.run(META_VERSION, String(CAPTURE_VERSION));
      setMeta.run(META_FINGERPRINT, fingerprint);
    }
    const mapChanged = before === null || before.identity !== identity || before.origin !== origin;
    const changed =
      upgrade ||
      mapChanged ||
      toDrop.length > 0 ||
      toCreate.size > 0 ||
      tablesCreated.length > 0 ||
      highWater !== null;
    const now = new Date().toISOString();
    if (changed) setMeta.run('installed_at', now);
    if (mapChanged) {
      setMeta.run(META_MAP_IDENTITY, identity);
      setMeta.run(META_MAP_ORIGIN, origin);
      setMeta.run(META_MAP_AT, now);
    }
    return {
      changed,
      created: missing,
      replaced,
      dropped: extra,
      upgradedFrom: upgrade && meta.version !== null ? meta : null,
      tablesCreated: [...tablesCreated],
      highWater,
      version: CAPTURE_VERSION,
      fingerprint,
      tables: map.tables.map((t) => t.table),
      map: { identity, origin },
      replacedMap: otherMap ? before : null,
    };
  });
  try {
    // IMMEDIATE: take the write lock up front so the check-then-create cannot interleave with another install.
    return run.immediate();
  } catch (err) {
    throw classifySqliteError(err, 'installing capture triggers');
  }
}

function dropAll(db: Db, globs: readonly string[], names: readonly string[]): UninstallReport {
  const run = db.transaction((): UninstallReport => {
    const where = globs.map(() => 'name GLOB ?').join(' OR ');
    const triggers = (
      db
        .prepare(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND name GLOB '_cdc_*' ORDER BY name`)
        .all() as {
        name: string;
      }[]
    ).map((r) => r.name);
    for (const t of triggers) db.exec(`DROP TRIGGER IF EXISTS ${quoteIdent(t)}`);
    const byGlob = db
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND (${where}) ORDER BY name`)
      .all(...globs) as { name: string }[];
    const byName =
      names.length === 0
        ? []
        : (db
            .prepare(
              `SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (${names.map(() => '?').join(', ')}) ORDER BY name`,
            )
            .all(...names) as { name: string }[]);
    const tables = [...byGlob, ...byName].map((r) => r.name);
    for (const t of tables) db.exec(`DROP TABLE IF EXISTS ${quoteIdent(t)}`);
    return { triggers, tables };
  });
  try {
    return run.immediate();
  } catch (err) {
    throw classifySqliteError(err, 'removing capture');
  }
}

/** Drop our triggers and _cdc_* tables. CRM tables and rows are untouched. */
export function uninstallCapture(db: Db): UninstallReport {
  return dropAll(db, ['_cdc_*'], []);
}

/**
 * Drop everything crm-index adds to the CRM database: capture, plus the
 * _index_* tables and the entity and MCP audit tables of the other layers.
 */
export function uninstallEverything(db: Db): UninstallReport {
  return dropAll(db, OWNED_TABLE_GLOBS, OWNED_TABLE_NAMES);
}
