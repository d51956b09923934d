/**
 * The embedded store's in-memory search index for one generation: a dense matrix
 * (normalised Float32, brute-force cosine) and a sparse inverted index (term →
 * postings) with exact document frequencies, both built from the SQLite blobs and
 * then maintained point by point.
 *
 * Invariant: `df(t)` and `live` always equal what a fresh load of the table would
 * give, so sparse scores match Qdrant's `modifier: idf` exactly:
 *   score(d) = Σ_t q_t · idf(t) · d_t,  idf(t) = ln((N - df + 0.5) / (df + 0.5) + 1).
 *
 * A point that is overwritten or deleted leaves a dead slot (skipped while scoring)
 * instead of editing postings in place; `needsCompaction` tells the owner when
 * dead slots outnumber live ones, and the owner then rebuilds from the table.
 */
import type { SearchFilter } from '../types.js';
import { normaliseDateTo } from '../qdrantRequests.js';

export interface MirrorRow {
  rid: number;
  id: string;
  recordKey: string;
  table: string;
  kind: string | null;
  stage: string | null;
  organizationId: string | null;
  date: string | null;
  owner: string | null;
  entityIds: string[];
  /** Normalised dense vector, `dim` floats. */
  dense: Float32Array;
  sparseIdx: Uint32Array;
  sparseVal: Float32Array;
}

export interface Hit {
  slot: number;
  score: number;
}

/** Plain arrays: V8 keeps them packed (SMI / double) and pushes are far cheaper than growing typed arrays. */
interface Postings {
  slots: number[];
  vals: number[];
  /** Live points holding the term. */
  df: number;
}

/** Qdrant's IDF (BM25.md "IDF"). */
export function idf(n: number, df: number): number {
  return Math.log((n - df + 0.5) / (df + 0.5) + 1);
}

/** Keeps the k best (score, slot) pairs; a binary min-heap on score. */
export class TopK {
  private readonly scores: Float64Array;
  private readonly slots: Int32Array;
  size = 0;
  constructor(private readonly k: number) {
    this.scores = new Float64Array(Math.max(k, 1));
    this.slots = new Int32Array(Math.max(k, 1));
  }
  /** Lowest score kept, or -Infinity while not full. */
  get floor(): number {
    return this.size < this.k ? -Infinity : this.scores[0]!;
  }
  push(slot: number, score: number): void {
    if (this.k === 0) return;
    if (this.size < this.k) {
      let i = this.size++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (this.scores[p]! <= score) break;
        this.scores[i] = this.scores[p]!;
        this.slots[i] = this.slots[p]!;
        i = p;
      }
      this.scores[i] = score;
      this.slots[i] = slot;
      return;
    }
    if (score <= this.scores[0]!) return;
    let i = 0;
    const n = this.size;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.scores[r]! < this.scores[l]! ? r : l;
      if (this.scores[c]! >= score) break;
      this.scores[i] = this.scores[c]!;
      this.slots[i] = this.slots[c]!;
      i = c;
    }
    this.scores[i] = score;
    this.slots[i] = slot;
  }
  /** Best first; equal scores by slot (insertion order) for determinism. */
  result(): Hit[] {
    const out: Hit[] = [];
    for (let i = 0; i < this.size; i++) out.push({ slot: this.slots[i]!, score: this.scores[i]! });
    return out.sort((a, b) => b.score - a.score || a.slot - b.slot);
  }
}

export class Mirror {
  private cap = 0;
  /** Slots used so far (live + dead). */
  n = 0;
  live = 0;
  dead = 0;
  /** Highest `_store_log.seq` applied. */
  lastSeq = 0;
  /** The owner's local write counter when this mirror last caught up. */
  localSeen = 0;

  private alive = new Uint8Array(0);
  private dense = new Float32Array(0);
  readonly rids: number[] = [];
  readonly ids: string[] = [];
  private readonly recordKeys: string[] = [];
  private readonly tables: string[] = [];
  private readonly kinds: (string | null)[] = [];
  private readonly stages: (string | null)[] = [];
  private readonly orgs: (string | null)[] = [];
  private readonly dates: (string | null)[] = [];
  private readonly owners: (string | null)[] = [];
  private readonly entityIds: string[][] = [];
  private readonly sparseIdx: (Uint32Array | null)[] = [];
  private readonly postings = new Map<number, Postings>();
  private readonly ridToSlot = new Map<number, number>();

  constructor(readonly dim: number) {}

  get needsCompaction(): boolean {
    return this.dead > 1024 && this.dead > this.live;
  }

  private grow(min: number): void {
    if (min <= this.cap) return;
    const cap = Math.max(min, this.cap * 2, 1024);
    const alive = new Uint8Array(cap);
    alive.set(this.alive);
    const dense = new Float32Array(cap * this.dim);
    dense.set(this.dense);
    this.alive = alive;
    this.dense = dense;
    this.cap = cap;
  }

  /** Insert or overwrite the point stored at `row.rid`. */
  upsert(row: MirrorRow): void {
    this.remove(row.rid);
    if (row.dense.length !== this.dim) {
      throw new RangeError(`point ${row.id} has ${row.dense.length} dims; this generation has ${this.dim}`);
    }
    this.grow(this.n + 1);
    const slot = this.n++;
    this.alive[slot] = 1;
    this.dense.set(row.dense, slot * this.dim);
    this.rids[slot] = row.rid;
    this.ids[slot] = row.id;
    this.recordKeys[slot] = row.recordKey;
    this.tables[slot] = row.table;
    this.kinds[slot] = row.kind;
    this.stages[slot] = row.stage;
    this.orgs[slot] = row.organizationId;
    this.dates[slot] = row.date;
    this.owners[slot] = row.owner;
    this.entityIds[slot] = row.entityIds;
    this.sparseIdx[slot] = row.sparseIdx;
    for (let i = 0; i < row.sparseIdx.length; i++) {
      const t = row.sparseIdx[i]!;
      let p = this.postings.get(t);
      if (!p) {
        p = { slots: [], vals: [], df: 0 };
        this.postings.set(t, p);
      }
      p.slots.push(slot);
      p.vals.push(row.sparseVal[i]!);
      p.df++;
    }
    this.ridToSlot.set(row.rid, slot);
    this.live++;
  }

  remove(rid: number): void {
    const slot = this.ridToSlot.get(rid);
    if (slot === undefined) return;
    this.ridToSlot.delete(rid);
    this.alive[slot] = 0;
    const idx = this.sparseIdx[slot];
    if (idx) {
      for (let i = 0; i < idx.length; i++) {
        const p = this.postings.get(idx[i]!);
        if (p) p.df--;
      }
    }
    this.sparseIdx[slot] = null;
    this.entityIds[slot] = [];
    this.live--;
    this.dead++;
  }

  /** One byte per slot: 1 when live and matching the filter. Undefined filter → undefined (all live). */
  mask(filter: SearchFilter | undefined): Uint8Array | undefined {
    if (!filter) return undefined;
    const sets: [(string | null)[], Set<string>][] = [];
    const add = (col: (string | null)[], vals: string[] | undefined) => {
      if (vals?.length) sets.push([col, new Set(vals)]);
    };
    add(this.tables, filter.tables);
    add(this.kinds, filter.kinds);
    add(this.stages, filter.stages);
    add(this.orgs, filter.organizationIds);
    add(this.recordKeys, filter.recordKeys);
    const ents = filter.entityIds?.length ? new Set(filter.entityIds) : undefined;
    const from = filter.dateFrom;
    const to = filter.dateTo !== undefined ? normaliseDateTo(filter.dateTo) : undefined;
    if (!sets.length && !ents && from === undefined && to === undefined) return undefined;
    const m = new Uint8Array(this.n);
    outer: for (let s = 0; s < this.n; s++) {
      if (!this.alive[s]) continue;
      for (const [col, set] of sets) {
        const v = col[s];
        if (v === null || v === undefined || !set.has(v)) continue outer;
      }
      if (ents && !this.entityIds[s]!.some((e) => ents.has(e))) continue;
      if (from !== undefined || to !== undefined) {
        // ISO-8601 strings in one format compare like the instants they name.
        const d = this.dates[s];
        if (d === null || d === undefined) continue;
        if (from !== undefined && d < from) continue;
        if (to !== undefined && d > to) continue;
      }
      m[s] = 1;
    }
    return m;
  }

  /** Exact cosine top-k: query is normalised here, stored vectors were normalised on write. */
  searchDense(query: Float32Array, k: number, mask?: Uint8Array): Hit[] {
    const dim = this.dim;
    const q = normalise(query);
    const top = new TopK(k);
    const dense = this.dense;
    const alive = mask ?? this.alive;
    for (let s = 0; s < this.n; s++) {
      if (!alive[s]) continue;
      const base = s * dim;
      // Four accumulators: lets V8 pipeline the multiply-adds (≈2x over one).
      let a0 = 0,
        a1 = 0,
        a2 = 0,
        a3 = 0;
      let i = 0;
      for (; i + 3 < dim; i += 4) {
        a0 += q[i]! * dense[base + i]!;
        a1 += q[i + 1]! * dense[base + i + 1]!;
        a2 += q[i + 2]! * dense[base + i + 2]!;
        a3 += q[i + 3]! * dense[base + i + 3]!;
      }
      for (; i < dim; i++) a0 += q[i]! * dense[base + i]!;
      const score = a0 + a1 + a2 + a3;
      if (score > top.floor) top.push(s, score);
    }
    return top.result();
  }

  /** Qdrant-compatible sparse top-k; only points sharing at least one term score. */
  searchSparse(indices: number[], values: number[], k: number, mask?: Uint8Array): Hit[] {
    const alive = mask ?? this.alive;
    const scores = new Float64Array(this.n);
    const hit = new Uint8Array(this.n);
    const touched: number[] = [];
    const seen = new Set<number>();
    for (let qi = 0; qi < indices.length; qi++) {
      const t = indices[qi]! >>> 0;
      if (seen.has(t)) continue;
      seen.add(t);
      const p = this.postings.get(t);
      if (!p) continue;
      if (p.df === 0) continue;
      const w = (values[qi] ?? 1) * idf(this.live, p.df);
      const len = p.slots.length;
      for (let i = 0; i < len; i++) {
        const s = p.slots[i]!;
        if (!alive[s]) continue;
        if (!hit[s]) {
          hit[s] = 1;
          touched.push(s);
        }
        scores[s]! += w * p.vals[i]!;
      }
    }
    const top = new TopK(k);
    for (const s of touched) top.push(s, scores[s]!);
    return top.result();
  }

  slotOf(rid: number): number | undefined {
    return this.ridToSlot.get(rid);
  }
}

export function normalise(v: Float32Array | number[]): Float32Array {
  const out = Float32Array.from(v);
  let sum = 0;
  for (let i = 0; i < out.length; i++) sum += out[i]! * out[i]!;
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < out.length; i++) out[i]! /= norm;
  return out;
}
