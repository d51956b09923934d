/**
 * The Qdrant `VectorStore`: generations are collections `${alias}_g${stamp}` behind
 * the alias (config `collection`, default `crm_chunks`); every request body comes
 * from stores/qdrantRequests.ts.
 *
 * Invariants:
 * - Ack after write: every write carries `wait: true`, so it resolves once the
 *   points are searchable.
 * - Searches keep working during a rebuild: the main handle always addresses the
 *   alias; `activateGeneration` re-points it in one `updateCollectionAliases`
 *   call (delete_alias + create_alias are applied atomically) and only then drops
 *   the old collection.
 * - Errors have a kind: network failures, timeouts, 429 and 5xx are
 *   TransientError (retry); other 4xx on writes are PermanentError; schema
 *   problems and a server older than MIN_SERVER are StoreError.
 * - Every request has a deadline (`timeoutMs`, QDRANT_TIMEOUT_MS), not the
 *   client's 300 s default.
 */
import { QdrantClient, type Schemas } from '@qdrant/js-client-rest';
import { PermanentError, StoreError, TransientError } from '../config/index.js';
import {
  MIN_SERVER,
  checkClusterSettings,
  createCollectionBody,
  parseVersion,
  versionAtLeast,
  deleteChunksFromBody,
  deleteRecordsBody,
  denseSizeOf,
  generationName,
  isGenerationOf,
  payloadIndexBodies,
  queryBody,
  recordStatesScrollBody,
  scrollStatesBody,
  swapAliasActions,
  upsertBody,
  type ClusterSettings,
} from './qdrantRequests.js';
import type {
  ChunkPayload,
  ChunkPoint,
  CollectionSpec,
  RecordState,
  ScoredChunk,
  SearchRequest,
  VectorStore,
} from './types.js';

export interface QdrantStoreOptions {
  url: string;
  apiKey?: string;
  /** The alias searches and writes address (config `collection`). */
  alias: string;
  cluster: ClusterSettings;
  /** Per-request timeout in ms (default DEFAULT_TIMEOUT_MS). */
  timeoutMs?: number;
}

/**
 * A request that has not answered in this long is abandoned (a TransientError: writes retry).
 * Generous for a `wait: true` upsert of a batch on a busy cluster; the client's own 300 s would
 * hold a search, and the agent waiting on it, for five minutes.
 */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** Keys per scroll request when fetching record states (keeps the filter small). */
const STATE_BATCH = 1_000;
const DEFAULT_SCROLL_PAGE = 1_000;

/** Classify a client failure; `doing` says what we were doing, for the message. */
export function qdrantError(err: unknown, url: string, doing: string): Error {
  if (err instanceof StoreError || err instanceof TransientError || err instanceof PermanentError) return err;
  const e = err as {
    status?: unknown;
    retry_after?: unknown;
    name?: unknown;
    message?: unknown;
    data?: unknown;
  };
  const msg = typeof e?.message === 'string' ? e.message : String(err);
  const detail = e?.data ? ` ${JSON.stringify(e.data).slice(0, 300)}` : '';
  const status = typeof e?.status === 'number' ? e.status : undefined;
  if (typeof e?.retry_after === 'number') {
    return new TransientError(`Qdrant at ${url} is rate-limiting (while ${doing}); retrying.`, {
      cause: err,
      retryAfterMs: e.retry_after * 1000,
    });
  }
  if (status === undefined || status === 429 || status >= 500) {
    return new TransientError(`Qdrant at ${url} failed while ${doing}: ${msg}${detail}; will retry.`, {
      cause: err,
    });
  }
  if (status === 401 || status === 403) {
    return new StoreError(
      `Qdrant at ${url} refused the request (HTTP ${status}) while ${doing}; check QDRANT_API_KEY.`,
      { cause: err },
    );
  }
  // A search is not a record: nothing is retried or dead-lettered for it.
  if (doing.startsWith('searching')) {
    return new PermanentError(
      `Qdrant at ${url} rejected the request (HTTP ${status}) while ${doing}: ${msg}${detail}. Check the search arguments, the Qdrant version and QDRANT_COLLECTION.`,
      { cause: err },
    );
  }
  return new PermanentError(
    `Qdrant at ${url} rejected the request (HTTP ${status}) while ${doing}: ${msg}${detail}. Check the Qdrant version and QDRANT_COLLECTION; the record is retried and then dead-lettered.`,
    { cause: err },
  );
}

/**
 * A handle on the alias. Throws ConfigError for impossible cluster settings; the
 * server's version is checked before the first request (`checkServer`), and
 * `createStore` awaits that check, so a too-old server fails at open.
 */
export function openQdrantStore(opts: QdrantStoreOptions): QdrantStore {
  checkClusterSettings(opts.cluster);
  const client = new QdrantClient({
    url: opts.url,
    ...(opts.apiKey ? { apiKey: opts.apiKey } : {}),
    timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    // Our own check (checkServer) states the minimum this store needs; the client's compares
    // client and server minor versions, which says nothing about the requests we send.
    checkCompatibility: false,
  });
  return new QdrantStore(client, opts);
}

/** Server version facts for the store: refuses one older than MIN_SERVER.any. */
export function serverVersionError(url: string, version: unknown): StoreError | undefined {
  const v = parseVersion(version);
  if (!v) return undefined; // a build without a version string: let the requests speak
  if (versionAtLeast(v, MIN_SERVER.any)) return undefined;
  return new StoreError(
    `Qdrant at ${url} is version ${String(version)}; crm-index needs ${MIN_SERVER.any.join('.')} or newer (the Query API and the idf modifier), and ${MIN_SERVER.dbsf.join('.')} for DBSF fusion. Upgrade Qdrant, or unset QDRANT_URL to use the embedded store.`,
  );
}

let stampCounter = 0;
/** Unique, sortable generation stamps even when two begin in the same millisecond. */
function nextStamp(): string {
  stampCounter = (stampCounter + 1) % 1000;
  return `${Date.now()}${String(stampCounter).padStart(3, '0')}`;
}

export class QdrantStore implements VectorStore {
  readonly kind = 'qdrant' as const;
  /** The collection currently behind the alias, as last seen (for `generation`). */
  private resolved: string | undefined;
  /** The server's version check, run once before the first request. */
  private server: Promise<[number, number, number] | undefined> | undefined;

  constructor(
    private readonly client: QdrantClient,
    private readonly opts: QdrantStoreOptions,
    private readonly pinned?: string,
  ) {}

  get generation(): string {
    return this.pinned ?? this.resolved ?? this.opts.alias;
  }

  /** What requests address: the pinned collection, or the alias (so activation is seen at once). */
  private get target(): string {
    return this.pinned ?? this.opts.alias;
  }

  private async call<T>(doing: string, fn: () => Promise<T>): Promise<T> {
    await this.checkServer();
    try {
      return await fn();
    } catch (err) {
      throw qdrantError(err, this.opts.url, doing);
    }
  }

  /**
   * Read the server's version (GET /) once and refuse one older than MIN_SERVER with a
   * StoreError; a failed read throws a TransientError and is tried again on the next call.
   */
  async checkServer(): Promise<void> {
    this.server ??= (async () => {
      let info: { version?: unknown };
      try {
        info = await this.client.versionInfo();
      } catch (err) {
        this.server = undefined;
        throw qdrantError(err, this.opts.url, 'reading the server version');
      }
      const bad = serverVersionError(this.opts.url, info.version);
      if (bad) throw bad;
      return parseVersion(info.version);
    })();
    await this.server;
  }

  private async aliasTarget(): Promise<string | undefined> {
    const res = await this.call('reading aliases', () => this.client.getAliases());
    return res.aliases.find((a) => a.alias_name === this.opts.alias)?.collection_name;
  }

  private async checkDim(collection: string, spec: CollectionSpec): Promise<void> {
    const info = await this.call(`reading collection ${collection}`, () =>
      this.client.getCollection(collection),
    );
    const have = denseSizeOf(info);
    if (have === undefined) {
      throw new StoreError(
        `Qdrant collection ${collection} at ${this.opts.url} has no "dense" vector; it was not built by crm-index. Run \`crm-index rebuild\` (it creates a new generation behind the alias ${this.opts.alias}).`,
      );
    }
    if (have !== spec.dim) {
      throw new StoreError(
        `Qdrant collection ${collection} at ${this.opts.url} holds ${have}-dimensional dense vectors, but the embedder produces ${spec.dim}; run \`crm-index rebuild\` to re-index with the current model, or set EMBEDDING_DIM=${have} / use the model that built it.`,
      );
    }
  }

  private async createGeneration(spec: CollectionSpec): Promise<string> {
    const name = generationName(this.opts.alias, nextStamp());
    await this.call(`creating collection ${name}`, () =>
      this.client.createCollection(name, createCollectionBody(spec, this.opts.cluster)),
    );
    for (const idx of payloadIndexBodies()) {
      await this.call(`indexing ${idx.field_name} on ${name}`, () =>
        this.client.createPayloadIndex(name, { ...idx, wait: true }),
      );
    }
    return name;
  }

  async ensure(spec: CollectionSpec): Promise<void> {
    if (this.pinned) return this.checkDim(this.pinned, spec);
    const current = await this.aliasTarget();
    if (current) {
      await this.checkDim(current, spec);
      this.resolved = current;
      return;
    }
    const plain = await this.call('checking collections', () =>
      this.client.collectionExists(this.opts.alias),
    );
    if (plain.exists) {
      // A plain collection under the alias name (e.g. made by the older Python tools): serve it as is.
      await this.checkDim(this.opts.alias, spec);
      this.resolved = this.opts.alias;
      return;
    }
    const gen = await this.createGeneration(spec);
    await this.call('creating the alias', () =>
      this.client.updateCollectionAliases(swapAliasActions(this.opts.alias, gen, false)),
    );
    this.resolved = gen;
  }

  async upsert(points: ChunkPoint[]): Promise<void> {
    if (points.length === 0) return;
    await this.call(`writing ${points.length} points`, () =>
      this.client.upsert(this.target, upsertBody(points)),
    );
  }

  async deleteRecords(recordKeys: string[]): Promise<void> {
    if (recordKeys.length === 0) return;
    await this.call('deleting records', () => this.client.delete(this.target, deleteRecordsBody(recordKeys)));
  }

  async deleteChunksFrom(entries: { recordKey: string; fromIndex: number }[]): Promise<void> {
    if (entries.length === 0) return;
    await this.call('deleting chunks', () => this.client.delete(this.target, deleteChunksFromBody(entries)));
  }

  async getRecordStates(recordKeys: string[]): Promise<Map<string, RecordState>> {
    const out = new Map<string, RecordState>();
    for (let i = 0; i < recordKeys.length; i += STATE_BATCH) {
      const batch = recordKeys.slice(i, i + STATE_BATCH);
      const res = await this.call('reading record states', () =>
        this.client.scroll(this.target, recordStatesScrollBody(batch)),
      );
      for (const p of res.points) {
        const s = stateOf(p.payload);
        if (s) out.set(s.recordKey, s);
      }
    }
    return out;
  }

  async *scrollRecordStates(pageSize: number = DEFAULT_SCROLL_PAGE): AsyncIterable<RecordState[]> {
    let offset: Schemas['ExtendedPointId'] | null | undefined;
    for (;;) {
      const res = await this.call('scrolling record states', () =>
        this.client.scroll(this.target, scrollStatesBody(pageSize, offset)),
      );
      const page = res.points.map((p) => stateOf(p.payload)).filter((s): s is RecordState => s !== undefined);
      if (page.length) yield page;
      offset = res.next_page_offset as Schemas['ExtendedPointId'] | null | undefined;
      if (offset === null || offset === undefined) return;
    }
  }

  async search(req: SearchRequest): Promise<ScoredChunk[]> {
    const body = queryBody(req);
    if (req.mode === 'hybrid' && req.fusion === 'dbsf') {
      await this.checkServer();
      const v = await this.server;
      if (v && !versionAtLeast(v, MIN_SERVER.dbsf)) {
        throw new StoreError(
          `Qdrant at ${this.opts.url} is version ${v.join('.')}; DBSF fusion needs ${MIN_SERVER.dbsf.join('.')} or newer. Use fusion rrf, or upgrade Qdrant.`,
        );
      }
    }
    const res = await this.call(`searching (${req.mode})`, () => this.client.query(this.target, body));
    return res.points.map((p) => ({
      id: String(p.id),
      score: p.score,
      payload: (p.payload ?? {}) as ChunkPayload,
    }));
  }

  async count(): Promise<number> {
    const res = await this.call('counting points', () => this.client.count(this.target, { exact: true }));
    return res.count;
  }

  async beginGeneration(spec: CollectionSpec): Promise<VectorStore> {
    const name = await this.createGeneration(spec);
    const gen = new QdrantStore(this.client, this.opts, name);
    gen.server = this.server;
    return gen;
  }

  private generationOf(other: VectorStore, doing: string): string {
    if (!(other instanceof QdrantStore) || !other.pinned || other.opts.alias !== this.opts.alias) {
      throw new StoreError(
        `Cannot ${doing}: the handle is not a generation begun behind the alias ${this.opts.alias} (use beginGeneration on the same store).`,
      );
    }
    return other.pinned;
  }

  async activateGeneration(next: VectorStore): Promise<void> {
    const gen = this.generationOf(next, 'activate a generation');
    const old = await this.aliasTarget();
    if (!old) {
      const plain = await this.call('checking collections', () =>
        this.client.collectionExists(this.opts.alias),
      );
      if (plain.exists) {
        // An alias cannot share a name with a collection, so a plain collection must go
        // first: the one moment searches can fail, and only on the first migration.
        await this.call(`dropping the plain collection ${this.opts.alias}`, () =>
          this.client.deleteCollection(this.opts.alias),
        );
      }
    }
    await this.call('switching the alias', () =>
      this.client.updateCollectionAliases(swapAliasActions(this.opts.alias, gen, old !== undefined)),
    );
    this.resolved = gen;
    if (old && old !== gen) {
      await this.call(`dropping the old generation ${old}`, () => this.client.deleteCollection(old));
    }
  }

  async dropGeneration(g: VectorStore): Promise<void> {
    const gen = this.generationOf(g, 'drop a generation');
    if ((await this.aliasTarget()) === gen) {
      throw new StoreError(
        `Generation ${gen} is the one served under ${this.opts.alias}; it cannot be dropped; activate another generation first.`,
      );
    }
    await this.call(`dropping generation ${gen}`, () => this.client.deleteCollection(gen));
  }

  async checkIntegrity(): Promise<string[]> {
    // Qdrant checks its own storage; nothing of it is visible to a client.
    return [];
  }

  async dropOrphanGenerations(): Promise<string[]> {
    const served = await this.aliasTarget();
    if (!served) return []; // nothing served yet (or a plain collection): nothing is known to be an orphan
    const res = await this.call('listing collections', () => this.client.getCollections());
    const orphans = res.collections
      .map((c) => c.name)
      .filter((n) => isGenerationOf(this.opts.alias, n) && n !== served && n !== this.pinned);
    for (const n of orphans) {
      await this.call(`dropping generation ${n} left by an unfinished rebuild`, () =>
        this.client.deleteCollection(n),
      );
    }
    return orphans;
  }

  async close(): Promise<void> {
    // The REST client holds no connection that needs closing.
  }
}

function stateOf(payload: Record<string, unknown> | null | undefined): RecordState | undefined {
  if (!payload || typeof payload.record_key !== 'string') return undefined;
  return {
    recordKey: payload.record_key,
    fingerprint: String(payload.fingerprint ?? ''),
    chunkCount: Number(payload.chunk_count ?? 0),
  };
}
