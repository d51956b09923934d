/**
 * The embedded `VectorStore`: one SQLite file (WAL, synchronous=NORMAL) holding
 * every point as one row with compact dense and sparse blobs, searched through an
 * in-memory index (stores/embedded/mirror.ts) that the first search of a process
 * loads from its snapshot beside the file (stores/embedded/snapshot.ts), or builds
 * from the table and then saves, loading only the halves (dense, sparse) it needs.
 *
 * Invariants:
 * - Ack after write: every write method commits before it resolves (WAL +
 *   synchronous=NORMAL: durable across a process crash, searchable at once).
 * - Readers see fresh data: each write batch appends its changed row ids (one
 *   row, one blob) to `_store_changes` in the same transaction; a search first
 *   checks `PRAGMA data_version` (moves when another connection commits) and
 *   replays the log since its mirror's last seq, or reloads in full when the log
 *   was pruned past it.
 * - Searches keep working during a rebuild: a generation is a table; activation
 *   flips `_store_meta.active` and drops the old table in one transaction, and a
 *   search resolves the active generation and reads it inside one read
 *   transaction, so it sees either the old generation or the new, never neither.
 * - Sparse scores use Qdrant's IDF over all points of the generation, and hybrid
 *   uses Qdrant's RRF/DBSF (stores/fusion.ts), so rankings match a one-shard
 *   Qdrant collection. Qdrant counts IDF per shard: with several shards its
 *   sparse scores differ slightly from these (docs/stores.md).
 * - The WAL is always checkpointed: by SQLite inside commits until a connection
 *   has written in bulk, then by a worker thread (stores/embedded/checkpointer.ts),
 *   and by SQLite again if that worker fails.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import Database from 'better-sqlite3';
import { PermanentError, StoreError, TransientError } from '../config/index.js';
import {
  isBusy,
  isBusyOrLocked,
  isCorrupt,
  isDiskFull,
  isIoError,
  isNotADatabase,
  isNotWritable,
  isUniqueViolation,
  sqliteCode,
} from '../config/sqliteErrors.js';
import { logger } from '../config/log.js';
import { FILTER_FIELDS, FILTER_FIELD_NAMES, MEMORY_FIELDS } from './filterFields.js';
import { defaultPrefetchLimit, fuse } from './fusion.js';
import { Mirror, normaliseInto, type Hit, type RowReader } from './embedded/mirror.js';
import { Snapshot, snapshotPath, straySnapshots, writeSnapshot } from './embedded/snapshot.js';
import { startCheckpointer, type Checkpointer } from './embedded/checkpointer.js';
import {
  GenStatements,
  PAGE_SIZE,
  SCHEMA_SQL,
  createGenerationSql,
  decodeDense,
  decodeRids,
  decodeSparse,
  encodeDense,
  encodeRids,
  encodeSparseAt,
  pointsTable,
  uniqueKeySql,
  payloadFromRow,
  payloadJsons,
  type MirrorRawRow,
} from './embedded/sql.js';
import type {
  ChunkPayload,
  ChunkPoint,
  CollectionSpec,
  RecordState,
  ScoredChunk,
  SearchRequest,
  VectorStore,
} from './types.js';

/** Logged point changes kept for other connections to catch up from; a reader further behind reloads in full. */
const LOG_KEEP = 200_000;
/** Prune the log after this many logged point changes (amortises the DELETE). */
const PRUNE_EVERY = 20_000;
const DEFAULT_BUSY_TIMEOUT_MS = 5_000;
const DEFAULT_SCROLL_PAGE = 1_000;
/**
 * How often the background checkpointer copies the WAL into the database while writes arrive.
 * Whatever is left when the store closes is checkpointed by the close, on the caller's thread: at
 * 1 s, closing after a long-notes rebuild took 477-575 ms; at 250 ms, 143-287 ms (docs/stores.md).
 */
const CHECKPOINT_INTERVAL_MS = 250;
/**
 * Points a connection writes before it starts the checkpoint worker: a handful of
 * small writes (a CLI run, a test) is not worth a thread; a bulk load or a daemon is.
 */
const CHECKPOINT_WORKER_AFTER = 4_096;
/**
 * WAL frames (64 MB at 16 KiB pages, the journal_size_limit) from which the checkpoint worker, when
 * commits come too close together for its PASSIVE passes to catch up, asks the writer to checkpoint
 * before its next transaction, so the WAL starts over (stores/embedded/checkpointer.ts).
 */
const WAL_RESTART_FRAMES = 4_096;
/** SQLite's own default, used until the worker starts and if it fails. */
const AUTO_CHECKPOINT_PAGES = 1_000;
/**
 * Points changed since a mirror was built or loaded after which the process that holds it writes
 * a fresh snapshot: well below LOG_KEEP, so a fresh process finds a snapshot whose changes the log
 * still holds (replaying 50,000 rows takes about a second; a rebuild from the table at 1.25M
 * points about 20 s).
 */
const SNAPSHOT_REFRESH = 50_000;
/** From this many points a build from the table is announced: it takes seconds to a minute. */
const ANNOUNCE_BUILD = 100_000;

export interface EmbeddedOptions {
  /** Open without writing (e.g. a search-only process); the file must exist. */
  readonly?: boolean;
  busyTimeoutMs?: number;
  /** Change-log tuning in points (tests shrink these to exercise the full-reload path). */
  logKeep?: number;
  pruneEvery?: number;
  /**
   * Checkpoint the WAL from a worker thread instead of inside commits (default
   * true; stores/embedded/checkpointer.ts). Off: SQLite's automatic checkpoints.
   */
  backgroundCheckpoints?: boolean;
  /** Points written before the checkpoint worker starts (default 4,096; tests use 0). */
  checkpointWorkerAfter?: number;
  /**
   * Keep the search index's snapshot beside the file (default true): a fresh process loads it
   * instead of rebuilding the index from every row (stores/embedded/snapshot.ts).
   */
  snapshots?: boolean;
  /** Points changed after which a process holding the index refreshes its snapshot (tests shrink it). */
  snapshotRefresh?: number;
  /** WAL frames from which the worker forces the WAL to start over (default 4,096; tests shrink it). */
  walRestartFrames?: number;
}

interface GenInfo {
  dim: number;
  model: string;
  created_at: string;
}

/** A generation's search index in this process, and the snapshot its missing half loads from. */
type MirrorState = Mirror & { dataVersion?: number; snapshot?: Snapshot; loadedFrom?: 'snapshot' | 'table' };

/** Which halves of the index a search needs. */
interface Need {
  dense: boolean;
  sparse: boolean;
}

/** Per-connection state shared by the main handle and the generation handles it begins. */
class Connection {
  readonly stmts = new Map<string, GenStatements>();
  readonly mirrors = new Map<string, MirrorState>();
  snapshots = true;
  snapshotRefresh = SNAPSHOT_REFRESH;
  readonly gens = new Map<string, GenInfo>();
  /** Bumped after each local commit: `data_version` does not move for our own writes. */
  localWrites = 0;
  loggedSincePrune = 0;
  closed = false;
  /** Started on the first commit (a handle that only reads never needs it); null once failed. */
  private checkpointer: Checkpointer | null | undefined;
  private pointsWritten = 0;
  constructor(
    readonly db: Database.Database,
    readonly path: string,
    readonly logKeep: number,
    readonly pruneEvery: number,
    backgroundCheckpoints: boolean,
    private readonly checkpointWorkerAfter: number,
    private readonly walRestartFrames: number,
  ) {
    if (!backgroundCheckpoints) this.checkpointer = null;
  }

  /** Whether a checkpoint worker is running for this connection. */
  get backgroundCheckpoints(): boolean {
    return !!this.checkpointer;
  }

  afterCommit(points: number): void {
    this.localWrites++;
    this.pointsWritten += points;
    if (this.checkpointer === undefined && this.pointsWritten >= this.checkpointWorkerAfter) {
      this.db.pragma('wal_autocheckpoint = 0');
      const opts = { intervalMs: CHECKPOINT_INTERVAL_MS, restartFrames: this.walRestartFrames };
      this.checkpointer = startCheckpointer(this.path, opts, () => {
        this.checkpointer = null;
        if (!this.closed) this.db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
      });
    }
    this.checkpointer?.notify();
  }

  /**
   * When the checkpoint worker could not catch up with a stream of commits, checkpoint here, between
   * two transactions of the only writer: that copies the few frames the worker has not, and the next
   * transaction starts the WAL over (stores/embedded/checkpointer.ts). A busy checkpoint (a reader
   * of an older snapshot) is left to the worker's next wake-up.
   */
  beforeWrite(): void {
    if (!this.checkpointer?.takeBehind()) return;
    try {
      this.db.pragma('wal_checkpoint(PASSIVE)');
    } catch (err) {
      if (!isBusy(err)) throw err;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const m of this.mirrors.values()) m.snapshot?.close();
    await this.checkpointer?.close();
    this.db.close();
  }

  gen(gen: string): GenStatements {
    let s = this.stmts.get(gen);
    if (!s) {
      s = new GenStatements(this.db, gen);
      this.stmts.set(gen, s);
    }
    return s;
  }

  info(gen: string): GenInfo | undefined {
    let i = this.gens.get(gen);
    if (!i) {
      const row = this.db
        .prepare('SELECT dim, model, created_at FROM _store_generations WHERE name = ?')
        .get(gen) as GenInfo | undefined;
      if (row) this.gens.set(gen, (i = row));
    }
    return i;
  }

  private activeStmt: Database.Statement | undefined;
  /** The served generation. Asked by every read and write: the statement is prepared once. */
  active(): string | undefined {
    this.activeStmt ??= this.db.prepare("SELECT value FROM _store_meta WHERE key = 'active'").pluck();
    return this.activeStmt.get() as string | undefined;
  }

  forget(gen: string): void {
    this.mirrors.get(gen)?.snapshot?.close();
    this.stmts.delete(gen);
    this.mirrors.delete(gen);
    this.gens.delete(gen);
    if (this.snapshots) fs.rmSync(snapshotPath(this.path, gen), { force: true });
  }
}

/** Map SQLite and file-system failures to errors that say where and what to do. */
export function storeError(err: unknown, path: string, doing: string): Error {
  if (err instanceof StoreError || err instanceof TransientError || err instanceof PermanentError) return err;
  const code = sqliteCode(err);
  const msg = err instanceof Error ? err.message : String(err);
  if (isDiskFull(err)) {
    return new StoreError(
      `The disk holding the embedded index ${path} is full (while ${doing}); free space or set CRM_INDEX_PATH to a larger disk.`,
      { cause: err },
    );
  }
  if (isNotWritable(err)) {
    return new StoreError(
      `The embedded index ${path} cannot be written (${code}: ${msg}) while ${doing}; fix the permissions of the file and its folder, or set CRM_INDEX_PATH to a writable location.`,
      { cause: err },
    );
  }
  if (isBusyOrLocked(err)) {
    return new TransientError(
      `The embedded index ${path} is locked by another process (while ${doing}); retrying.`,
      {
        cause: err,
      },
    );
  }
  if (isCorrupt(err) || isNotADatabase(err)) {
    return new StoreError(
      `The embedded index ${path} is not a valid index database (${code}) while ${doing}; move it aside and run \`crm-index rebuild\`.`,
      { cause: err },
    );
  }
  if (isIoError(err)) {
    return new StoreError(
      `I/O error on the embedded index ${path} (${code}) while ${doing}; check the disk.`,
      {
        cause: err,
      },
    );
  }
  return err instanceof Error ? err : new Error(msg);
}

export function openEmbeddedStore(path: string, opts: EmbeddedOptions = {}): EmbeddedStore {
  const abs = nodePath.resolve(path);
  const readonly = opts.readonly ?? false;
  if (!readonly) {
    try {
      fs.mkdirSync(nodePath.dirname(abs), { recursive: true });
    } catch (err) {
      throw storeError(err, abs, 'creating its folder');
    }
  } else if (!fs.existsSync(abs)) {
    throw new StoreError(
      `No embedded index at ${abs}; run \`crm-index rebuild\` first or check CRM_INDEX_PATH.`,
    );
  }
  let db: Database.Database;
  try {
    db = new Database(abs, { readonly, fileMustExist: readonly });
  } catch (err) {
    throw storeError(err, abs, 'opening it');
  }
  try {
    db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS}`);
    // Negative: KiB. Holds the key index and the pages a batch touches; SQLite allocates lazily.
    db.pragma('cache_size = -8192');
    if (!readonly) {
      // Only takes effect on a new, empty file (before WAL is set).
      db.pragma(`page_size = ${PAGE_SIZE}`);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      // The upsert (ON CONFLICT DO UPDATE) keeps a statement journal of the pages each row
      // touches; on disk that was two 16 KiB temp-file writes per point (docs/stores.md).
      db.pragma('temp_store = MEMORY');
      // A WAL that grew during a burst is cut back to this when it restarts.
      db.pragma('journal_size_limit = 67108864');
      db.exec(SCHEMA_SQL);
      // Generations made by the first layout get the unique key the upsert needs.
      for (const g of db.prepare('SELECT name FROM _store_generations').pluck().all() as string[]) {
        db.exec(uniqueKeySql(g));
      }
      // SQLite silently falls back to read-only when the file is not writable: probe.
      db.exec('BEGIN IMMEDIATE; COMMIT;');
    }
  } catch (err) {
    db.close();
    throw storeError(err, abs, 'preparing it');
  }
  const conn = new Connection(
    db,
    abs,
    opts.logKeep ?? LOG_KEEP,
    opts.pruneEvery ?? PRUNE_EVERY,
    !readonly && (opts.backgroundCheckpoints ?? true),
    opts.checkpointWorkerAfter ?? CHECKPOINT_WORKER_AFTER,
    opts.walRestartFrames ?? WAL_RESTART_FRAMES,
  );
  conn.snapshots = opts.snapshots ?? true;
  conn.snapshotRefresh = opts.snapshotRefresh ?? SNAPSHOT_REFRESH;
  if (!readonly && conn.snapshots) {
    // Snapshots of generations that no longer exist (replaced, dropped, or a rebuild that failed).
    const gens = new Set(db.prepare('SELECT name FROM _store_generations').pluck().all() as string[]);
    for (const f of straySnapshots(abs, gens)) fs.rmSync(f, { force: true });
  }
  return new EmbeddedStore(conn);
}

function newGenerationName(): string {
  return `g${Date.now().toString(36)}_${Math.floor(Math.random() * 36 ** 4).toString(36)}`;
}

export class EmbeddedStore implements VectorStore {
  readonly kind = 'embedded' as const;

  constructor(
    private readonly conn: Connection,
    /** Set for a handle from beginGeneration; unset: follow the active generation. */
    private readonly pinned?: string,
  ) {}

  get path(): string {
    return this.conn.path;
  }

  /** Whether the served generation's in-memory search index is loaded (by `warm` or a search). */
  get indexLoaded(): boolean {
    return this.conn.mirrors.has(this.generation);
  }

  /**
   * The served generation's search index in this process: where it came from, which halves are
   * loaded, and the bytes its typed arrays hold; undefined until a search or `warm` loads it.
   */
  get indexState():
    | { from: 'snapshot' | 'table'; dense: boolean; sparse: boolean; points: number; bytes: Mirror['bytes'] }
    | undefined {
    const m = this.conn.mirrors.get(this.generation);
    if (!m) return undefined;
    return { from: m.loadedFrom!, dense: !!m.dense, sparse: !!m.sparse, points: m.live, bytes: m.bytes };
  }

  /** Whether WAL checkpoints currently run in the background worker (embedded/checkpointer.ts). */
  get backgroundCheckpoints(): boolean {
    return this.conn.backgroundCheckpoints;
  }

  get generation(): string {
    return this.pinned ?? this.conn.active() ?? '';
  }

  private read<T>(doing: string, fn: () => T): T {
    this.checkOpen();
    try {
      return this.conn.db.transaction(fn).deferred();
    } catch (err) {
      throw storeError(err, this.conn.path, doing);
    }
  }

  /** `points`: how many points the write changes (for the checkpoint worker's start). */
  private write<T>(doing: string, fn: () => T, points = 0): T {
    this.checkOpen();
    this.conn.beforeWrite();
    let out: T;
    try {
      out = this.conn.db.transaction(fn).immediate();
    } catch (err) {
      throw storeError(err, this.conn.path, doing);
    }
    this.conn.afterCommit(points);
    return out;
  }

  private checkOpen(): void {
    if (this.conn.closed)
      throw new StoreError(`The embedded index ${this.conn.path} was closed; open it again.`);
  }

  /** The generation to use inside a transaction; throws when there is none yet. */
  private current(): string {
    const gen = this.pinned ?? this.conn.active();
    if (!gen || !this.conn.info(gen)) {
      throw new StoreError(
        this.pinned
          ? `Generation ${this.pinned} of ${this.conn.path} no longer exists (dropped or replaced); begin a new one.`
          : `The embedded index ${this.conn.path} has no collection yet; call ensure() (the pipeline does) or run \`crm-index rebuild\`.`,
      );
    }
    return gen;
  }

  private dimMismatch(gen: string, have: number, want: number): StoreError {
    return new StoreError(
      `The embedded index ${this.conn.path} (generation ${gen}) holds ${have}-dimensional vectors, but the embedder produces ${want}; run \`crm-index rebuild\` to re-index with the current model, or set EMBEDDING_DIM=${have} / use the model that built it.`,
    );
  }

  async ensure(spec: CollectionSpec): Promise<void> {
    this.write('creating its schema', () => {
      if (this.pinned) {
        const info = this.conn.info(this.pinned);
        if (!info)
          throw new StoreError(
            `Generation ${this.pinned} of ${this.conn.path} no longer exists; a rebuild replaced it, so open the store again.`,
          );
        if (info.dim !== spec.dim) throw this.dimMismatch(this.pinned, info.dim, spec.dim);
        return;
      }
      const active = this.conn.active();
      const info = active ? this.conn.info(active) : undefined;
      if (active && info) {
        if (info.dim !== spec.dim) throw this.dimMismatch(active, info.dim, spec.dim);
        return;
      }
      const gen = this.createGeneration(spec);
      this.conn.db.prepare("INSERT OR REPLACE INTO _store_meta (key, value) VALUES ('active', ?)").run(gen);
    });
  }

  private createGeneration(spec: CollectionSpec): string {
    const gen = newGenerationName();
    this.conn.db.exec(createGenerationSql(gen));
    this.conn.db
      .prepare('INSERT INTO _store_generations (name, dim, model, created_at) VALUES (?, ?, ?, ?)')
      .run(gen, spec.dim, spec.model, new Date().toISOString());
    return gen;
  }

  async upsert(points: ChunkPoint[]): Promise<void> {
    if (points.length === 0) return;
    // Encode outside the write lock: the transaction only does inserts. All the points' vectors go into
    // one dense and one sparse allocation (views per point; SQLite copies what it binds).
    let denseLen = 0;
    let sparseLen = 0;
    for (const p of points) {
      if (p.sparse.indices.length !== p.sparse.values.length) {
        throw new PermanentError(
          `Point ${p.id} (${p.payload.record_key}#${p.payload.chunk_index}) has ${p.sparse.indices.length} sparse indices but ${p.sparse.values.length} values.`,
        );
      }
      denseLen += p.dense.length;
      sparseLen += p.sparse.indices.length;
    }
    const denseAll = new Float32Array(denseLen);
    const sparseAll = new ArrayBuffer(sparseLen * 8);
    let dOff = 0;
    let sOff = 0;
    const encoded = points.map((p) => {
      const dense = normaliseInto(p.dense, denseAll.subarray(dOff, dOff + p.dense.length));
      dOff += dense.length;
      for (let i = 0; i < dense.length; i++) {
        if (!Number.isFinite(dense[i]!)) {
          throw new PermanentError(
            `Point ${p.id} (${p.payload.record_key}) has a non-finite dense value; not stored.`,
          );
        }
      }
      const sparse = encodeSparseAt(sparseAll, sOff, p.sparse.indices, p.sparse.values);
      sOff += sparse.length;
      return { p, dense, sparse };
    });
    this.write(
      'writing points',
      () => {
        const gen = this.current();
        const dim = this.conn.info(gen)!.dim;
        const st = this.conn.gen(gen);
        // Each getter builds its SQL closure per call: read them once, not once per row.
        const { chunkRids, insert, update, upsert } = st;
        const json = payloadJsons(
          points.map((p) => p.payload),
          st.textColumn,
        );
        const rids: number[] = [];
        let record = '';
        // The record's stored chunks by index: those are rewritten by rid, the rest inserted. A record
        // with none stored (every record of a rebuild) costs one lookup in the unique key.
        let stored = new Map<number, number>();
        for (let k = 0; k < encoded.length; k++) {
          const { p, dense, sparse } = encoded[k]!;
          if (dense.length !== dim) {
            throw new PermanentError(
              `Point ${p.id} (${p.payload.record_key}#${p.payload.chunk_index}) has ${dense.length} dims; generation ${gen} of ${this.conn.path} holds ${dim}. Run \`crm-index rebuild\` after changing the embedder.`,
            );
          }
          if (k === 0 || p.payload.record_key !== record) {
            record = p.payload.record_key;
            stored = new Map(chunkRids.all(record) as [number, number][]);
          }
          const params = st.params(p.payload, p.id, encodeDense(dense), sparse, json[k]!);
          const rid = stored.get(p.payload.chunk_index);
          if (rid !== undefined) {
            params.splice(0, 2);
            params.push(rid);
            update.run(...params);
            rids.push(rid);
            continue;
          }
          try {
            rids.push(Number(insert.run(...params).lastInsertRowid));
          } catch (err) {
            // The same chunk twice in one call (or a row this lookup missed): the upsert rewrites it.
            if (!isUniqueViolation(err)) throw err;
            rids.push(upsert.get(...params) as number);
          }
        }
        st.logChanges.run(rids.length, encodeRids(rids));
      },
      points.length,
    );
    this.afterLogged(points.length);
  }

  async deleteRecords(recordKeys: string[]): Promise<void> {
    if (recordKeys.length === 0) return;
    const n = this.write('deleting records', () => {
      const st = this.conn.gen(this.current());
      const rids: number[] = [];
      for (const key of recordKeys) for (const rid of st.deleteRecord.all(key) as number[]) rids.push(rid);
      if (rids.length) st.logChanges.run(rids.length, encodeRids(rids));
      return rids.length;
    });
    this.afterLogged(n);
  }

  async deleteChunksFrom(entries: { recordKey: string; fromIndex: number }[]): Promise<void> {
    if (entries.length === 0) return;
    const n = this.write('deleting chunks', () => {
      const st = this.conn.gen(this.current());
      const rids: number[] = [];
      for (const e of entries) {
        for (const rid of st.deleteFrom.all(e.recordKey, e.fromIndex) as number[]) rids.push(rid);
      }
      if (rids.length) st.logChanges.run(rids.length, encodeRids(rids));
      return rids.length;
    });
    this.afterLogged(n);
  }

  /** Keep `_store_changes` bounded; readers behind the cut reload in full. */
  private afterLogged(n: number): void {
    this.conn.loggedSincePrune += n;
    if (this.conn.loggedSincePrune < this.conn.pruneEvery) return;
    this.conn.loggedSincePrune = 0;
    this.write('pruning its change log', () => {
      // The newest batch whose changes, counted from the newest down, pass logKeep: it and older go.
      const cut = (this.conn.db
        .prepare(
          `SELECT seq FROM (SELECT seq, sum(n) OVER (ORDER BY seq DESC) AS kept FROM _store_changes)
           WHERE kept > ? ORDER BY seq DESC LIMIT 1`,
        )
        .pluck()
        .get(this.conn.logKeep) ?? 0) as number;
      if (cut <= 0) return;
      const done = this.conn.db.prepare('DELETE FROM _store_changes WHERE seq <= ?').run(cut).changes;
      if (done > 0) {
        this.conn.db
          .prepare(
            `INSERT INTO _store_meta (key, value) VALUES ('log_pruned_through', ?)
             ON CONFLICT(key) DO UPDATE SET value = max(CAST(value AS INTEGER), excluded.value)`,
          )
          .run(cut);
      }
    });
  }

  async getRecordStates(recordKeys: string[]): Promise<Map<string, RecordState>> {
    const out = new Map<string, RecordState>();
    if (recordKeys.length === 0) return out;
    const rows = this.read('reading record states', () => {
      const active = this.pinned ?? this.conn.active();
      if (!active || !this.conn.info(active)) return [];
      return this.conn.gen(active).states.all(JSON.stringify(recordKeys)) as {
        record_key: string;
        fingerprint: string;
        chunk_count: number;
      }[];
    });
    for (const r of rows) {
      out.set(r.record_key, {
        recordKey: r.record_key,
        fingerprint: r.fingerprint,
        chunkCount: r.chunk_count,
      });
    }
    return out;
  }

  async *scrollRecordStates(pageSize: number = DEFAULT_SCROLL_PAGE): AsyncIterable<RecordState[]> {
    let after = '';
    for (;;) {
      // One short read transaction per page: never hold a snapshot across the sweep.
      const rows = this.read('scrolling record states', () => {
        const active = this.pinned ?? this.conn.active();
        if (!active || !this.conn.info(active)) return [];
        return this.conn.gen(active).scrollStates.all(after, pageSize) as {
          record_key: string;
          fingerprint: string;
          chunk_count: number;
        }[];
      });
      if (rows.length === 0) return;
      yield rows.map((r) => ({
        recordKey: r.record_key,
        fingerprint: r.fingerprint,
        chunkCount: r.chunk_count,
      }));
      if (rows.length < pageSize) return;
      after = rows[rows.length - 1]!.record_key;
    }
  }

  async checkIntegrity(): Promise<string[]> {
    this.checkOpen();
    try {
      // quick_check reads every page (not the indexes' contents against their tables): seconds on a large file.
      const rows = this.conn.db.prepare('PRAGMA quick_check(20)').pluck().all() as string[];
      return rows.length === 1 && rows[0] === 'ok' ? [] : rows;
    } catch (err) {
      // A file too damaged to check says so in the error itself.
      return [(err as Error).message];
    }
  }

  async count(): Promise<number> {
    return this.read('counting points', () => {
      const active = this.pinned ?? this.conn.active();
      if (!active || !this.conn.info(active)) return 0;
      return this.conn.gen(active).count.get() as number;
    });
  }

  /** Exact rescoring reads the candidates' f32 rows from the table (the mirror keeps int8 codes). */
  private rowReader(gen: string): RowReader {
    return (rids) => {
      const out = new Map<number, Float32Array>();
      const rows = this.conn.gen(gen).denseRows.all(JSON.stringify(rids)) as [number, Buffer][];
      for (const [rid, blob] of rows) out.set(rid, decodeDense(blob));
      return out;
    };
  }

  /**
   * The up-to-date mirror of `gen` with the halves `need` asks for; call inside a read
   * transaction. Loads the snapshot when it is usable, else builds from the table and
   * writes one; then replays the change log since the mirror's seq.
   */
  private mirror(gen: string, dataVersion: number, need: Need): Mirror {
    const c = this.conn;
    let m = c.mirrors.get(gen);
    const fresh = m && m.dataVersion === dataVersion && m.localSeen === c.localWrites && !m.needsCompaction;
    if (!fresh) {
      const prunedThrough = Number(
        c.db.prepare("SELECT value FROM _store_meta WHERE key = 'log_pruned_through'").pluck().get() ?? 0,
      );
      const lastSeq = (c.db
        .prepare("SELECT seq FROM sqlite_sequence WHERE name = '_store_changes'")
        .pluck()
        .get() ?? 0) as number;
      if (!m || m.lastSeq < prunedThrough || m.needsCompaction) {
        m?.snapshot?.close();
        // Compaction renumbers the slots, which only a build from the table does (a snapshot keeps them).
        m = this.loadMirror(gen, need, prunedThrough, lastSeq, m?.needsCompaction ?? false);
        c.mirrors.set(gen, m);
      }
      this.replay(m, gen);
    }
    const missing = (need.dense && !m!.dense) || (need.sparse && !m!.sparse);
    if (missing && !m!.snapshot?.isOpen) {
      // A half to add and no snapshot to add it from (its file went away): build the whole index.
      m = this.loadMirror(gen, { dense: true, sparse: true }, 0, 0, true);
      c.mirrors.set(gen, m);
      this.replay(m, gen);
    }
    this.completeHalves(m!, gen, need);
    m!.dataVersion = dataVersion;
    m!.localSeen = c.localWrites;
    if (c.snapshots && m!.changedSinceLoad >= c.snapshotRefresh && m!.dense && m!.sparse) {
      this.saveSnapshot(m!, gen);
    }
    return m!;
  }

  /** The snapshot when it matches this generation and the log still holds its changes; else a build. */
  private loadMirror(
    gen: string,
    need: Need,
    prunedThrough: number,
    lastSeq: number,
    fromTable = false,
  ): MirrorState {
    const c = this.conn;
    const info = c.info(gen)!;
    const rows = this.rowReader(gen);
    const snap = c.snapshots && !fromTable ? Snapshot.open(snapshotPath(c.path, gen)) : undefined;
    const h = snap?.header;
    if (
      snap &&
      h &&
      h.gen === gen &&
      h.genCreatedAt === info.created_at &&
      h.dim === info.dim &&
      h.lastSeq >= prunedThrough &&
      h.lastSeq <= lastSeq &&
      MEMORY_FIELDS.every((f) => f in h.columns)
    ) {
      const m: MirrorState = snap.loadBase({ rows });
      m.loadedFrom = 'snapshot';
      if (need.dense) snap.loadDense(m);
      if (need.sparse) snap.loadSparse(m);
      if (m.dense && m.sparse) snap.close();
      else m.snapshot = snap;
      return m;
    }
    snap?.close();
    const st = c.gen(gen);
    const n = st.count.get() as number;
    if (n >= ANNOUNCE_BUILD) {
      logger('stores').info(
        { points: n, index: c.path, generation: gen },
        c.snapshots
          ? 'building the search index from the table: the first search after a rebuild (8 s at 374k points, 30-80 s at 1.25M on a busy 2-core machine); it is saved beside the index, and later processes load it in 1-2 s. A running MCP server keeps it loaded and answers at once.'
          : 'building the search index from the table (snapshots are off)',
      );
    }
    const m: MirrorState = Mirror.build(
      info.dim,
      n,
      {
        rows: function* () {
          for (const r of st.all.iterate() as IterableIterator<MirrorRawRow>) yield st.mirrorRow(r);
        },
        sparse: function* () {
          for (const b of st.allSparse.iterate() as IterableIterator<Buffer>) yield decodeSparse(b).indices;
        },
      },
      { rows },
    );
    m.lastSeq = fromTable ? this.maxSeq() : lastSeq;
    m.loadedFrom = 'table';
    if (c.snapshots) this.saveSnapshot(m, gen);
    return m;
  }

  /** Write the mirror's snapshot; a folder that cannot take it only costs the next process a build. */
  private saveSnapshot(m: Mirror, gen: string): void {
    try {
      writeSnapshot(snapshotPath(this.conn.path, gen), m, gen, this.conn.info(gen)!.created_at);
      m.changedSinceLoad = 0;
    } catch {
      m.changedSinceLoad = 0; // not again for another SNAPSHOT_REFRESH points
    }
  }

  /** The newest change-log seq. */
  private maxSeq(): number {
    return (this.conn.db
      .prepare("SELECT seq FROM sqlite_sequence WHERE name = '_store_changes'")
      .pluck()
      .get() ?? 0) as number;
  }

  /** Apply the change log since the mirror's seq (a missing row is a delete). */
  private replay(m: Mirror, gen: string): void {
    const st = this.conn.gen(gen);
    const changed = this.conn.db
      .prepare('SELECT seq, rids FROM _store_changes WHERE seq > ? AND gen = ? ORDER BY seq')
      .raw(true)
      .all(m.lastSeq, gen) as [number, Buffer][];
    const rids = new Set<number>();
    for (const [seq, blob] of changed) {
      for (const rid of decodeRids(blob)) rids.add(rid);
      m.lastSeq = seq;
    }
    for (const rid of rids) {
      const row = st.byRid.get(rid) as MirrorRawRow | undefined;
      if (row) m.upsert(st.mirrorRow(row));
      else m.remove(rid);
    }
  }

  /**
   * Load a half a search needs that this process has not loaded yet, from the snapshot the
   * mirror came from: its slots as of the snapshot, then what changed since (slots appended
   * after it are read from the table; slots that died since leave the sparse counts).
   */
  private completeHalves(m: MirrorState, gen: string, need: Need): void {
    if ((!need.dense || m.dense) && (!need.sparse || m.sparse)) return;
    const snap = m.snapshot;
    if (!snap?.isOpen) return; // mirror() rebuilt the index from the table instead
    const st = this.conn.gen(gen);
    const base = snap.header.n;
    const later: number[] = [];
    for (let s = base; s < m.n; s++) if (m.alive[s]) later.push(s);
    const rowOf = (slot: number) => {
      const raw = st.byRid.get(m.rids[slot]!) as MirrorRawRow | undefined;
      return raw ? st.mirrorRow(raw) : undefined;
    };
    if (need.dense && !m.dense) {
      snap.loadDense(m);
      for (const s of later) {
        const row = rowOf(s);
        if (row) m.dense!.set(s, row.dense);
      }
    }
    if (need.sparse && !m.sparse) {
      snap.loadSparse(m);
      const was = snap.aliveAtSnapshot();
      for (let s = 0; s < base; s++) if (was[s] && !m.alive[s]) m.sparse!.remove(s);
      for (const s of later) {
        const row = rowOf(s);
        if (row) m.sparse!.add(s, row.sparseIdx, row.sparseVal);
      }
    }
    if (m.dense && m.sparse) {
      snap.close();
      m.snapshot = undefined;
    }
  }

  /**
   * `fn` on the up-to-date mirror of the served generation, in one read
   * transaction; `none` while there is no generation.
   */
  private withMirror<T>(doing: string, none: T, need: Need, fn: (m: Mirror, gen: string) => T): T {
    this.checkOpen();
    // Read before the snapshot starts: a commit after this read moves it again,
    // so the next search catches up (never records a version it has not seen).
    const dataVersion = this.conn.db.pragma('data_version', { simple: true }) as number;
    return this.read(doing, () => {
      const gen = this.pinned ?? this.conn.active();
      if (!gen || !this.conn.info(gen)) return none;
      return fn(this.mirror(gen, dataVersion, need), gen);
    });
  }

  async warm(): Promise<void> {
    this.withMirror('loading its search index', undefined, { dense: true, sparse: true }, () => undefined);
  }

  /** Row ids matching the filter fields evaluated in SQL (record keys); undefined when none is set. */
  private sqlRids(gen: string, filter: SearchRequest['filter']): number[] | undefined {
    let out: number[] | undefined;
    for (const f of FILTER_FIELD_NAMES) {
      const spec = FILTER_FIELDS[f];
      const values = filter?.[f];
      if (spec.evaluate !== 'sql' || !values?.length) continue;
      const rids = this.conn.gen(gen).ridsWhere(spec.column).all(JSON.stringify(values)) as number[];
      out = out ? rids.filter((r) => new Set(out).has(r)) : rids;
    }
    return out;
  }

  async search(req: SearchRequest): Promise<ScoredChunk[]> {
    if (req.limit <= 0) return [];
    const need = { dense: req.mode !== 'sparse', sparse: req.mode !== 'dense' };
    return this.withMirror('searching', [] as ScoredChunk[], need, (m, gen) => {
      const mask = m.mask(req.filter, this.sqlRids(gen, req.filter));
      const denseLeg = (k: number): Hit[] => {
        if (!req.dense)
          throw new TypeError(`search mode "${req.mode}" needs a dense query vector (req.dense)`);
        if (req.dense.length !== m.dim) throw this.dimMismatch(gen, m.dim, req.dense.length);
        return m.searchDense(Float32Array.from(req.dense), k, mask);
      };
      const sparseLeg = (k: number): Hit[] => {
        if (!req.sparse)
          throw new TypeError(`search mode "${req.mode}" needs a sparse query vector (req.sparse)`);
        return m.searchSparse(req.sparse.indices, req.sparse.values, k, mask);
      };
      let hits: Hit[];
      if (req.mode === 'dense') hits = denseLeg(req.limit);
      else if (req.mode === 'sparse') hits = sparseLeg(req.limit);
      else {
        const k = req.prefetchLimit ?? defaultPrefetchLimit(req.limit);
        // The slot names the point within this search; ids are read for the hits only.
        const asRanked = (h: Hit[]) => h.map((x) => ({ id: String(x.slot), score: x.score, slot: x.slot }));
        // Same leg order as the Qdrant query body (sparse, then dense).
        hits = fuse(req.fusion ?? 'rrf', [asRanked(sparseLeg(k)), asRanked(denseLeg(k))]).slice(0, req.limit);
      }
      if (hits.length === 0) return [];
      const rids = hits.map((h) => m.rids[h.slot]!);
      const found = new Map<number, { id: string; payload: ChunkPayload }>();
      const rows = this.conn.gen(gen).payloads.all(JSON.stringify(rids)) as [
        number,
        string,
        string,
        number,
        string | null,
      ][];
      for (const [rid, id, payload, chunkIndex, text] of rows) {
        found.set(rid, { id, payload: payloadFromRow(payload, chunkIndex, text) });
      }
      return hits.map((h) => {
        const f = found.get(m.rids[h.slot]!);
        return { id: f?.id ?? '', score: h.score, payload: f?.payload ?? (null as unknown as ChunkPayload) };
      });
    });
  }

  /**
   * Payloads of the given chunks (found ones, in the order asked; missing ones are
   * left out), by the (record_key, chunk_index) key: neighbour context without a search.
   */
  async getChunks(refs: { recordKey: string; chunkIndex: number }[]): Promise<ChunkPayload[]> {
    if (refs.length === 0) return [];
    const texts = this.read('reading chunks', () => {
      const gen = this.pinned ?? this.conn.active();
      if (!gen || !this.conn.info(gen)) return [];
      const st = this.conn.gen(gen).chunk;
      const out: [string, number, string | null][] = [];
      for (const r of refs) {
        const row = st.get(r.recordKey, r.chunkIndex) as [string, number, string | null] | undefined;
        if (row !== undefined) out.push(row);
      }
      return out;
    });
    return texts.map(([json, chunkIndex, text]) => payloadFromRow(json, chunkIndex, text));
  }

  async beginGeneration(spec: CollectionSpec): Promise<VectorStore> {
    const gen = this.write('creating a generation', () => this.createGeneration(spec));
    return new EmbeddedStore(this.conn, gen);
  }

  private ownGeneration(other: VectorStore, doing: string): string {
    if (!(other instanceof EmbeddedStore) || other.conn.path !== this.conn.path || !other.pinned) {
      throw new StoreError(
        `Cannot ${doing}: the handle is not a generation begun on the embedded index ${this.conn.path} (use beginGeneration on the same store).`,
      );
    }
    return other.pinned;
  }

  async activateGeneration(next: VectorStore): Promise<void> {
    const gen = this.ownGeneration(next, 'activate a generation');
    const old = this.write('switching generations', () => {
      if (!this.conn.info(gen))
        throw new StoreError(
          `Generation ${gen} of ${this.conn.path} does not exist any more; open the store again to use the one being served.`,
        );
      const prev = this.conn.active();
      this.conn.db.prepare("INSERT OR REPLACE INTO _store_meta (key, value) VALUES ('active', ?)").run(gen);
      if (prev && prev !== gen) this.dropTables(prev);
      return prev;
    });
    if (old && old !== gen) this.conn.forget(old);
  }

  async dropGeneration(g: VectorStore): Promise<void> {
    const gen = this.ownGeneration(g, 'drop a generation');
    this.write('dropping a generation', () => {
      if (this.conn.active() === gen) {
        throw new StoreError(
          `Generation ${gen} is the one being served from ${this.conn.path}; it cannot be dropped; activate another generation first.`,
        );
      }
      this.dropTables(gen);
    });
    this.conn.forget(gen);
  }

  async dropOrphanGenerations(): Promise<string[]> {
    const dropped = this.write('dropping generations left by an unfinished rebuild', () => {
      const active = this.conn.active();
      const all = this.conn.db.prepare('SELECT name FROM _store_generations').pluck().all() as string[];
      const orphans = all.filter((g) => g !== active && g !== this.pinned);
      for (const g of orphans) this.dropTables(g);
      return orphans;
    });
    for (const g of dropped) this.conn.forget(g);
    return dropped;
  }

  private dropTables(gen: string): void {
    this.conn.stmts.delete(gen);
    this.conn.db.exec(`DROP TABLE IF EXISTS ${pointsTable(gen)}`);
    this.conn.db.prepare('DELETE FROM _store_generations WHERE name = ?').run(gen);
    this.conn.db.prepare('DELETE FROM _store_changes WHERE gen = ?').run(gen);
  }

  async close(): Promise<void> {
    // Generation handles share the main handle's connection; only the main one closes it.
    if (this.pinned || this.conn.closed) return;
    await this.conn.close();
  }
}
