/**
 * The query engine: turns a query string into store searches (dense, sparse or
 * hybrid), collapses the chunks of one record into one hit, and optionally
 * fetches the best chunk's neighbours as context.
 *
 * Invariant: at most one hit per record key, ordered by the store's score for
 * the record's best chunk; a hit's `text` is always the chunk that matched.
 * Dependencies are injected (store, dense embedder, sparse encoder), so the
 * engine runs the same over the embedded store and Qdrant.
 */
import { ConfigError } from '../config/errors.js';
import type { DenseEmbedder, SparseEncoder } from '../encoders/types.js';
import { instantMs, normaliseDateFrom, normaliseDateTo } from '../stores/dates.js';
import { FILTER_FIELD_NAMES } from '../stores/filterFields.js';
import { RRF_K, rrf } from '../stores/fusion.js';
import type {
  ChunkPayload,
  Fusion,
  ScoredChunk,
  SearchFilter,
  SearchMode,
  SearchRequest,
  VectorStore,
} from '../stores/types.js';

export type { Fusion, SearchFilter, SearchMode };

export const SEARCH_MODES: readonly SearchMode[] = ['dense', 'sparse', 'hybrid'];
export const FUSIONS: readonly Fusion[] = ['rrf', 'dbsf'];

/** Hard ceiling on hits per query: agents page by narrowing filters, not by huge limits. */
export const MAX_LIMIT = 100;
export const DEFAULT_LIMIT = 10;
/** Neighbour chunks on each side of the best chunk at most; more than a few is a document, not context. */
export const MAX_CONTEXT = 3;
/**
 * Chunks fetched per wanted hit before collapsing: long records contribute
 * several chunks to the top of a ranking, so asking for exactly `limit` chunks
 * would return fewer than `limit` records. 4 covers a record with 4 matching
 * chunks per slot; measured rankings rarely need more.
 */
export const OVERFETCH = 4;
/** Bound on chunks read to find neighbours without a getChunks fast path (records of thousands of chunks). */
export const MAX_NEIGHBOUR_SCAN = 5_000;
/** Candidates each hybrid leg brings to the fusion (per wanted chunk), as Qdrant's prefetch. */
export const PREFETCH_FACTOR = 2;

export interface SearchOptions {
  mode?: SearchMode;
  filter?: SearchFilter;
  limit?: number;
  fusion?: Fusion;
  /** Neighbour chunks to return on each side of the best chunk (0 = none). */
  context?: number;
  /**
   * Hybrid RRF only: the dense leg's weight against the sparse leg's 1 (weighted
   * RRF). 1 is plain RRF, fused by the store exactly as Qdrant fuses; any other
   * value fuses the two legs here. Default: the engine's `hybridDenseWeight`.
   */
  denseWeight?: number;
}

export interface Hit {
  key: string;
  table: string;
  title: string;
  text: string;
  score: number;
  chunkIndex: number;
  payload: ChunkPayload;
  context?: { before?: string; after?: string };
}

export interface SearchEngine {
  search(query: string, opts?: SearchOptions): Promise<Hit[]>;
  /** Load the dense embedder and the store's search index now rather than on the first search. */
  warm(): Promise<void>;
}

/**
 * Optional fast path a store may offer: the payloads of given chunks by
 * (record key, chunk index). Without it, neighbours are found with a dense
 * search restricted to the hit's records (every chunk has a dense vector, so
 * all of them come back).
 */
export interface ChunkLookup {
  getChunks(refs: { recordKey: string; chunkIndex: number }[]): Promise<ChunkPayload[]>;
}

export interface EngineDeps {
  store: VectorStore & Partial<ChunkLookup>;
  dense: DenseEmbedder;
  sparse: SparseEncoder;
  /** Default `denseWeight` for hybrid RRF (1 = plain RRF); see `defaultDenseWeight` in search/open.ts. */
  hybridDenseWeight?: number;
}

/** Bound on a leg weight: beyond this one leg simply decides alone, which `mode` already says better. */
export const MAX_LEG_WEIGHT = 10;

export function createSearchEngine(deps: EngineDeps): SearchEngine {
  const { store, dense, sparse } = deps;
  const defaultWeight = deps.hybridDenseWeight ?? 1;
  let ready: Promise<void> | undefined;

  return {
    async warm() {
      ready ??= dense.init();
      await ready;
      await store.warm?.();
    },
    async search(query, opts = {}) {
      const o = normaliseOptions(query, { denseWeight: defaultWeight, ...opts });
      const needDense = o.mode !== 'sparse' || o.context > 0;
      let denseVec: Float32Array | undefined;
      if (needDense) {
        ready ??= dense.init();
        await ready;
        const [v] = await dense.embed([o.query]);
        denseVec = v;
      }
      const req = buildRequest(o, {
        dense: o.mode === 'sparse' ? undefined : denseVec,
        sparse: o.mode === 'dense' ? undefined : sparse.encodeQuery(o.query),
      });
      const chunks =
        o.mode === 'hybrid' && o.fusion === 'rrf' && o.denseWeight !== 1
          ? await weightedHybrid(store, req, o.denseWeight)
          : await store.search(req);
      const hits = collapseByRecord(chunks, o.limit).map(toHit);
      if (o.context > 0 && hits.length > 0) {
        const wanted = neighbourRefs(hits, o.context);
        const total = hits.reduce((n, h) => n + h.payload.chunk_count, 0);
        const found = await fetchChunks(store, wanted, denseVec, total);
        attachContext(hits, found, o.context);
      }
      return hits;
    },
  };
}

interface Normalised {
  query: string;
  mode: SearchMode;
  filter: SearchFilter | undefined;
  limit: number;
  fusion: Fusion;
  context: number;
  denseWeight: number;
}

/** Validate and default the options; errors name the bad argument. */
export function normaliseOptions(query: string, opts: SearchOptions): Normalised {
  const q = typeof query === 'string' ? query.trim() : '';
  if (q === '') throw new ConfigError('search: the query is empty; give some words to search for.');
  const mode = opts.mode ?? 'hybrid';
  if (!SEARCH_MODES.includes(mode)) {
    throw new ConfigError(
      `search: mode "${String(mode)}" is not one of ${SEARCH_MODES.join(', ')}; use one of those.`,
    );
  }
  const fusion = opts.fusion ?? 'rrf';
  if (!FUSIONS.includes(fusion)) {
    throw new ConfigError(
      `search: fusion "${String(fusion)}" is not one of ${FUSIONS.join(', ')}; use one of those.`,
    );
  }
  const limit = opts.limit ?? DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new ConfigError(
      `search: limit=${limit} is out of range; give a whole number from 1 to ${MAX_LIMIT}.`,
    );
  }
  const context = opts.context ?? 0;
  if (!Number.isInteger(context) || context < 0 || context > MAX_CONTEXT) {
    throw new ConfigError(
      `search: context=${context} is out of range; give a whole number from 0 to ${MAX_CONTEXT}.`,
    );
  }
  const denseWeight = opts.denseWeight ?? 1;
  if (!Number.isFinite(denseWeight) || denseWeight < 0 || denseWeight > MAX_LEG_WEIGHT) {
    throw new ConfigError(
      `search: denseWeight=${denseWeight} is out of range; give a number from 0 to ${MAX_LEG_WEIGHT} (1 = plain RRF).`,
    );
  }
  return { query: q, mode, filter: cleanFilter(opts.filter), limit, fusion, context, denseWeight };
}

/**
 * Drop empty lists and blank bounds so the store never sees "match none of []",
 * and normalise the date bounds to RFC 3339 UTC (stores/dates.ts): a bound that
 * names no instant is a ConfigError naming it, from the CLI, the web form or MCP.
 */
export function cleanFilter(f: SearchFilter | undefined): SearchFilter | undefined {
  if (!f) return undefined;
  const out: SearchFilter = {};
  for (const k of FILTER_FIELD_NAMES) {
    const v = f[k]?.map(String).filter((s) => s !== '');
    if (v && v.length > 0) out[k] = v;
  }
  if (f.dateFrom?.trim()) out.dateFrom = normaliseDateFrom(f.dateFrom, 'search: dateFrom');
  if (f.dateTo?.trim()) out.dateTo = normaliseDateTo(f.dateTo, 'search: dateTo');
  if (out.dateFrom && out.dateTo && instantMs(out.dateFrom) > instantMs(out.dateTo)) {
    throw new ConfigError(`search: dateFrom ${f.dateFrom} is after dateTo ${f.dateTo}; swap them.`);
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

export function buildRequest(
  o: Normalised,
  vectors: { dense?: Float32Array; sparse?: { indices: number[]; values: number[] } },
): SearchRequest {
  const chunkLimit = o.limit * OVERFETCH;
  const req: SearchRequest = { mode: o.mode, limit: chunkLimit };
  if (vectors.dense) req.dense = vectors.dense;
  if (vectors.sparse) req.sparse = vectors.sparse;
  if (o.filter) req.filter = o.filter;
  if (o.mode === 'hybrid') {
    req.fusion = o.fusion;
    req.prefetchLimit = chunkLimit * PREFETCH_FACTOR;
  }
  return req;
}

/**
 * Hybrid with a weighted RRF: each leg searched on its own with the hybrid
 * request's prefetch, then score = sum of weight / (rank + k) with Qdrant's k,
 * so a weight of 1 on both legs ranks exactly as the store's own RRF.
 */
async function weightedHybrid(
  store: VectorStore,
  req: SearchRequest,
  denseWeight: number,
): Promise<ScoredChunk[]> {
  const k = req.prefetchLimit ?? req.limit;
  const base = req.filter ? { filter: req.filter } : {};
  const [sparseLeg, denseLeg] = await Promise.all([
    store.search({ ...base, mode: 'sparse', sparse: req.sparse, limit: k }),
    store.search({ ...base, mode: 'dense', dense: req.dense, limit: k }),
  ]);
  return rrf([sparseLeg, denseLeg], RRF_K, [1, denseWeight]).slice(0, req.limit);
}

/** Keep the best-scoring chunk of each record, in ranking order, up to `limit` records. */
export function collapseByRecord(chunks: ScoredChunk[], limit: number): ScoredChunk[] {
  const sorted = [...chunks].sort((a, b) => b.score - a.score);
  const seen = new Set<string>();
  const out: ScoredChunk[] = [];
  for (const c of sorted) {
    if (seen.has(c.payload.record_key)) continue;
    seen.add(c.payload.record_key);
    out.push(c);
    if (out.length >= limit) break;
  }
  return out;
}

export function toHit(c: ScoredChunk): Hit {
  const p = c.payload;
  return {
    key: p.record_key,
    table: p.table,
    title: p.title,
    text: p.text,
    score: c.score,
    chunkIndex: p.chunk_index,
    payload: p,
  };
}

export function neighbourRefs(hits: Hit[], context: number): { recordKey: string; chunkIndex: number }[] {
  const refs: { recordKey: string; chunkIndex: number }[] = [];
  for (const h of hits) {
    for (let d = -context; d <= context; d++) {
      const i = h.chunkIndex + d;
      if (d !== 0 && i >= 0 && i < h.payload.chunk_count) refs.push({ recordKey: h.key, chunkIndex: i });
    }
  }
  return refs;
}

async function fetchChunks(
  store: EngineDeps['store'],
  refs: { recordKey: string; chunkIndex: number }[],
  denseVec: Float32Array | undefined,
  totalChunks: number,
): Promise<ChunkPayload[]> {
  if (refs.length === 0) return [];
  if (typeof store.getChunks === 'function') return store.getChunks(refs);
  if (!denseVec) return [];
  const keys = [...new Set(refs.map((r) => r.recordKey))];
  const wanted = new Set(refs.map((r) => `${r.recordKey}#${r.chunkIndex}`));
  // A dense search restricted to these records returns every one of their chunks (all have a
  // dense vector); the limit covers them all, so none is cut off by score.
  const found = await store.search({
    mode: 'dense',
    dense: denseVec,
    filter: { recordKeys: keys },
    limit: Math.min(Math.max(totalChunks, refs.length), MAX_NEIGHBOUR_SCAN),
  });
  return found.map((c) => c.payload).filter((p) => wanted.has(`${p.record_key}#${p.chunk_index}`));
}

/**
 * Join neighbour chunks around each hit's text, in chunk order. Chunks overlap
 * by a few tokens (CHUNK_OVERLAP_TOKENS); the repeat is left in rather than
 * guessed away, since a wrong de-duplication would drop real words.
 */
export function attachContext(hits: Hit[], chunks: ChunkPayload[], context: number): void {
  const byKey = new Map<string, Map<number, string>>();
  for (const c of chunks) {
    let m = byKey.get(c.record_key);
    if (!m) byKey.set(c.record_key, (m = new Map()));
    m.set(c.chunk_index, c.text);
  }
  for (const h of hits) {
    const m = byKey.get(h.key);
    if (!m) continue;
    const before: string[] = [];
    const after: string[] = [];
    for (let i = h.chunkIndex - context; i < h.chunkIndex; i++) {
      const t = m.get(i);
      if (t !== undefined) before.push(t);
    }
    for (let i = h.chunkIndex + 1; i <= h.chunkIndex + context; i++) {
      const t = m.get(i);
      if (t !== undefined) after.push(t);
    }
    if (before.length || after.length) {
      h.context = {};
      if (before.length) h.context.before = before.join('\n');
      if (after.length) h.context.after = after.join('\n');
    }
  }
}
