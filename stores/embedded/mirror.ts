/**
 * The embedded store's in-memory search index for one generation: a dense matrix
 * (normalised Float32, brute-force cosine) and a sparse inverted index with exact
 * document frequencies, built from the SQLite blobs and then maintained point by
 * point.
 *
 * Invariant: `df(t)` and `live` always equal what a fresh load of the table would
 * give, so sparse scores match Qdrant's `modifier: idf` exactly:
 *   score(d) = Σ_t q_t · idf(t) · d_t,  idf(t) = ln((N - df + 0.5) / (df + 0.5) + 1).
 *
 * Layout (why: the first search of every process pays the build, and a build of
 * 12M postings pushed one by one into per-term JS arrays took tens of seconds):
 * - terms map to dense term slots through an open-addressing Int32 hash table;
 * - the postings of the points present at build time are one CSR (offsets,
 *   slots, values: exact-size typed arrays filled in two passes); points added
 *   later go to small per-term delta lists;
 * - a point that is overwritten or deleted leaves a dead slot (skipped while
 *   scoring; its terms are kept in a forward list so df can be decremented);
 *   `needsCompaction` tells the owner when dead slots or delta postings grow too
 *   large, and the owner rebuilds from the table;
 * - filter columns are dictionary codes (Int32Array) so a filter is a per-slot
 *   mask computed with one array lookup per column.
 */
import type { SearchFilter } from '../types.js';
import { instantMs, normaliseDateFrom, normaliseDateTo } from '../dates.js';
import { DenseMatrix } from './dense.js';

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
  /** Dense vector (already normalised), `dim` floats. */
  dense: Float32Array;
  sparseIdx: Uint32Array;
  sparseVal: Float32Array;
}

export interface Hit {
  slot: number;
  score: number;
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

/** Uint32 term id → dense term slot; open addressing, linear probing. */
class TermTable {
  private keys = new Int32Array(1 << 14);
  private vals = new Int32Array(1 << 14).fill(-1);
  private mask = (1 << 14) - 1;
  size = 0;

  /** Slot of `term`, or -1. */
  get(term: number): number {
    const k = term | 0;
    let h = Math.imul(k, 0x9e3779b1) & this.mask;
    for (;;) {
      const v = this.vals[h]!;
      if (v < 0) return -1;
      if (this.keys[h] === k) return v;
      h = (h + 1) & this.mask;
    }
  }

  /** Slot of `term`, adding it (as the next slot) when new. */
  intern(term: number): number {
    const k = term | 0;
    let h = Math.imul(k, 0x9e3779b1) & this.mask;
    for (;;) {
      const v = this.vals[h]!;
      if (v < 0) break;
      if (this.keys[h] === k) return v;
      h = (h + 1) & this.mask;
    }
    const slot = this.size++;
    this.keys[h] = k;
    this.vals[h] = slot;
    if (this.size * 2 > this.mask) this.rehash();
    return slot;
  }

  private rehash(): void {
    const oldK = this.keys;
    const oldV = this.vals;
    const cap = oldK.length * 2;
    this.keys = new Int32Array(cap);
    this.vals = new Int32Array(cap).fill(-1);
    this.mask = cap - 1;
    for (let i = 0; i < oldK.length; i++) {
      const v = oldV[i]!;
      if (v < 0) continue;
      let h = Math.imul(oldK[i]!, 0x9e3779b1) & this.mask;
      while (this.vals[h]! >= 0) h = (h + 1) & this.mask;
      this.keys[h] = oldK[i]!;
      this.vals[h] = v;
    }
  }
}

/** A string column as dictionary codes (-1 = null). */
class CodedColumn {
  codes: Int32Array;
  private readonly dict = new Map<string, number>();
  constructor(cap: number) {
    this.codes = new Int32Array(cap);
  }
  set(slot: number, v: string | null): void {
    if (v === null || v === undefined) {
      this.codes[slot] = -1;
      return;
    }
    let c = this.dict.get(v);
    if (c === undefined) this.dict.set(v, (c = this.dict.size));
    this.codes[slot] = c;
  }
  grow(cap: number): void {
    const c = new Int32Array(cap);
    c.set(this.codes);
    this.codes = c;
  }
  /** Per-code allow list for a filter's values. */
  allowed(values: string[]): Uint8Array {
    const ok = new Uint8Array(this.dict.size);
    for (const v of values) {
      const c = this.dict.get(v);
      if (c !== undefined) ok[c] = 1;
    }
    return ok;
  }
}

function growF32(a: Float32Array, min: number): Float32Array {
  if (min <= a.length) return a;
  const b = new Float32Array(Math.max(min, a.length * 2));
  b.set(a);
  return b;
}
function growI32(a: Int32Array, min: number): Int32Array {
  if (min <= a.length) return a;
  const b = new Int32Array(Math.max(min, a.length * 2));
  b.set(a);
  return b;
}

interface Delta {
  slots: number[];
  vals: number[];
}

export class Mirror {
  private cap: number;
  /** Slots used so far (live + dead). */
  n = 0;
  live = 0;
  dead = 0;
  /** Highest `_store_changes.seq` applied. */
  lastSeq = 0;
  /** The owner's local write counter when this mirror last caught up. */
  localSeen = 0;

  private alive: Uint8Array;
  private readonly matrix: DenseMatrix;
  rids: Float64Array;
  readonly ids: string[] = [];
  private readonly recordKeys: string[] = [];
  /** The instant of each point's `date` in epoch ms (NaN: none, or not a date; never matches a range). */
  private dates: Float64Array;
  private readonly entityIds: (string[] | null)[] = [];
  private readonly tables: CodedColumn;
  private readonly kinds: CodedColumn;
  private readonly stages: CodedColumn;
  private readonly orgs: CodedColumn;
  private readonly ridToSlot = new Map<number, number>();

  private readonly terms = new TermTable();
  /** Live points per term slot. */
  private df: Int32Array = new Int32Array(1024);
  /** Forward lists: the term slots of each point (for df on removal), [fwdStart[s], fwdEnd[s]). */
  private fwd: Int32Array = new Int32Array(1024);
  private fwdLen = 0;
  private fwdStart: Int32Array;
  private fwdEnd: Int32Array;
  /** Base postings (CSR over term slots < baseTerms). */
  private baseTerms = 0;
  private postOff = new Int32Array(1);
  private postSlot = new Int32Array(0);
  private postVal = new Float32Array(0);
  private readonly delta = new Map<number, Delta>();
  private deltaPostings = 0;

  /** Per-query scratch, reused: scores and marks are reset for touched slots only. */
  private acc = new Float64Array(0);
  private mark = new Uint8Array(0);
  private touched = new Int32Array(0);

  constructor(
    readonly dim: number,
    capacity = 1024,
    useWasm = true,
  ) {
    this.cap = Math.max(capacity, 16);
    this.alive = new Uint8Array(this.cap);
    this.matrix = new DenseMatrix(dim, this.cap, useWasm);
    this.rids = new Float64Array(this.cap);
    this.dates = new Float64Array(this.cap);
    this.fwdStart = new Int32Array(this.cap);
    this.fwdEnd = new Int32Array(this.cap);
    this.tables = new CodedColumn(this.cap);
    this.kinds = new CodedColumn(this.cap);
    this.stages = new CodedColumn(this.cap);
    this.orgs = new CodedColumn(this.cap);
  }

  /**
   * Build from rows in one go: every point's postings land in one CSR filled in
   * two passes (count per term, then place). Only valid on an empty mirror.
   */
  static build(dim: number, capacity: number, rows: Iterable<MirrorRow>, useWasm = true): Mirror {
    // Slack so the first writes after a load do not double every array (and the WASM memory).
    const m = new Mirror(dim, capacity + (capacity >> 4) + 64, useWasm);
    const vals: { a: Float32Array } = { a: new Float32Array(1024) as Float32Array };
    for (const row of rows) {
      if (m.n === 0) {
        // Size the forward lists from the first point: doublings of 50 MB arrays cost ~100 ms at 100k.
        const est = Math.ceil(row.sparseIdx.length * capacity * 1.1) + 1024;
        m.fwd = new Int32Array(est);
        vals.a = new Float32Array(est);
      }
      m.addSlot(row, vals);
    }
    // Pass 2: exact-size CSR from the forward lists.
    const T = m.terms.size;
    const off = new Int32Array(T + 1);
    for (let t = 0; t < T; t++) off[t + 1] = off[t]! + m.df[t]!;
    const nnz = off[T]!;
    const slots = new Int32Array(nnz);
    const pv = new Float32Array(nnz);
    const cursor = off.slice(0, T);
    const fwd = m.fwd;
    const fv = vals.a;
    for (let s = 0; s < m.n; s++) {
      for (let p = m.fwdStart[s]!, end = m.fwdEnd[s]!; p < end; p++) {
        const t = fwd[p]!;
        const at = cursor[t]!++;
        slots[at] = s;
        pv[at] = fv[p]!;
      }
    }
    m.baseTerms = T;
    m.postOff = off;
    m.postSlot = slots;
    m.postVal = pv;
    return m;
  }

  get needsCompaction(): boolean {
    return (
      (this.dead > 1024 && this.dead > this.live) ||
      (this.deltaPostings > 1_000_000 && this.deltaPostings > this.postSlot.length)
    );
  }

  private grow(min: number): void {
    if (min <= this.cap) return;
    const cap = Math.max(min, this.cap * 2, 1024);
    const alive = new Uint8Array(cap);
    alive.set(this.alive);
    this.alive = alive;
    this.matrix.grow(cap);
    const rids = new Float64Array(cap);
    rids.set(this.rids);
    this.rids = rids;
    const dates = new Float64Array(cap);
    dates.set(this.dates);
    this.dates = dates;
    this.fwdStart = growI32(this.fwdStart, cap);
    this.fwdEnd = growI32(this.fwdEnd, cap);
    for (const c of [this.tables, this.kinds, this.stages, this.orgs]) c.grow(cap);
    this.cap = cap;
  }

  /** Appends the point as a new slot; postings go to `vals` (build) or the delta lists. */
  private addSlot(row: MirrorRow, vals?: { a: Float32Array }): void {
    if (row.dense.length !== this.dim) {
      throw new RangeError(`point ${row.id} has ${row.dense.length} dims; this generation has ${this.dim}`);
    }
    this.grow(this.n + 1);
    const slot = this.n++;
    this.alive[slot] = 1;
    this.matrix.set(slot, row.dense);
    this.rids[slot] = row.rid;
    this.ids[slot] = row.id;
    this.recordKeys[slot] = row.recordKey;
    this.dates[slot] = instantMs(row.date);
    this.entityIds[slot] = row.entityIds.length ? row.entityIds : null;
    this.tables.set(slot, row.table);
    this.kinds.set(slot, row.kind);
    this.stages.set(slot, row.stage);
    this.orgs.set(slot, row.organizationId);
    const idx = row.sparseIdx;
    const sv = row.sparseVal;
    const k = idx.length;
    const start = this.fwdLen;
    const fwd = (this.fwd = growI32(this.fwd, start + k));
    const terms = this.terms;
    let df = this.df;
    if (vals) {
      const va = (vals.a = growF32(vals.a, start + k));
      for (let i = 0; i < k; i++) {
        const t = terms.intern(idx[i]!);
        if (t >= df.length) df = this.df = growI32(df, t + 1);
        df[t]!++;
        fwd[start + i] = t;
        va[start + i] = sv[i]!;
      }
    } else {
      for (let i = 0; i < k; i++) {
        const t = terms.intern(idx[i]!);
        if (t >= df.length) df = this.df = growI32(df, t + 1);
        df[t]!++;
        fwd[start + i] = t;
        let d = this.delta.get(t);
        if (!d) this.delta.set(t, (d = { slots: [], vals: [] }));
        d.slots.push(slot);
        d.vals.push(sv[i]!);
      }
    }
    if (!vals) this.deltaPostings += k;
    this.fwdLen = start + k;
    this.fwdStart[slot] = start;
    this.fwdEnd[slot] = start + k;
    this.ridToSlot.set(row.rid, slot);
    this.live++;
  }

  /** Insert or overwrite the point stored at `row.rid`. */
  upsert(row: MirrorRow): void {
    this.remove(row.rid);
    this.addSlot(row);
  }

  remove(rid: number): void {
    const slot = this.ridToSlot.get(rid);
    if (slot === undefined) return;
    this.ridToSlot.delete(rid);
    this.alive[slot] = 0;
    for (let p = this.fwdStart[slot]!, end = this.fwdEnd[slot]!; p < end; p++) this.df[this.fwd[p]!]!--;
    this.fwdEnd[slot] = this.fwdStart[slot]!;
    this.entityIds[slot] = null;
    this.live--;
    this.dead++;
  }

  /** One byte per slot: 1 when live and matching the filter. No filter → undefined (all live). */
  mask(filter: SearchFilter | undefined): Uint8Array | undefined {
    if (!filter) return undefined;
    const coded: [Int32Array, Uint8Array][] = [];
    const add = (col: CodedColumn, vals: string[] | undefined) => {
      if (vals?.length) coded.push([col.codes, col.allowed(vals)]);
    };
    add(this.tables, filter.tables);
    add(this.kinds, filter.kinds);
    add(this.stages, filter.stages);
    add(this.orgs, filter.organizationIds);
    const keys = filter.recordKeys?.length ? new Set(filter.recordKeys) : undefined;
    const ents = filter.entityIds?.length ? new Set(filter.entityIds) : undefined;
    // Instants, as Qdrant's datetime index compares them (not ISO text, which orders only one form).
    const from = filter.dateFrom !== undefined ? instantMs(normaliseDateFrom(filter.dateFrom)) : undefined;
    const to = filter.dateTo !== undefined ? instantMs(normaliseDateTo(filter.dateTo)) : undefined;
    if (!coded.length && !keys && !ents && from === undefined && to === undefined) return undefined;
    const m = new Uint8Array(this.n);
    const alive = this.alive;
    outer: for (let s = 0; s < this.n; s++) {
      if (!alive[s]) continue;
      for (let c = 0; c < coded.length; c++) {
        const [codes, ok] = coded[c]!;
        const code = codes[s]!;
        if (code < 0 || !ok[code]) continue outer;
      }
      if (keys && !keys.has(this.recordKeys[s]!)) continue;
      if (ents) {
        const e = this.entityIds[s];
        if (!e || !e.some((x) => ents.has(x))) continue;
      }
      if (from !== undefined || to !== undefined) {
        const d = this.dates[s]!;
        if (Number.isNaN(d)) continue;
        if (from !== undefined && d < from) continue;
        if (to !== undefined && d > to) continue;
      }
      m[s] = 1;
    }
    return m;
  }

  /** Whether the dense scan runs in the WASM kernel. */
  get wasm(): boolean {
    return this.matrix.wasm;
  }

  /**
   * Cosine top-k: query is normalised here, stored vectors were normalised on
   * write. The scan may score in f32 (the WASM kernel) or, from QUANT_MIN_DIM
   * dimensions, estimate in int8 and keep max(4k, k + 64) candidates; the kept
   * are rescored in f64, so scores and their order do not depend on the path.
   */
  searchDense(query: Float32Array, k: number, mask?: Uint8Array): Hit[] {
    const q = normalise(query);
    // Int8 estimates (high dimensions): keep more candidates than asked, rescore them exactly, cut to k.
    const keep = this.matrix.approximate ? Math.max(4 * k, k + 64) : k;
    const top = new TopK(keep);
    const ok = mask ?? this.alive;
    const n = this.n;
    const sc = this.matrix.scores(q, n);
    let floor = top.floor;
    for (let s = 0; s < n; s++) {
      if (!ok[s]) continue;
      const score = sc[s]!;
      if (score > floor) {
        top.push(s, score);
        floor = top.floor;
      }
    }
    const hits = top.result();
    for (const h of hits) h.score = this.matrix.dot(q, h.slot);
    hits.sort((a, b) => b.score - a.score || a.slot - b.slot);
    return hits.length > k ? hits.slice(0, k) : hits;
  }

  /** Qdrant-compatible sparse top-k; only points sharing at least one term score. */
  searchSparse(indices: ArrayLike<number>, values: ArrayLike<number>, k: number, mask?: Uint8Array): Hit[] {
    const alive = mask ?? this.alive;
    if (this.acc.length < this.n) {
      this.acc = new Float64Array(this.cap);
      this.mark = new Uint8Array(this.cap);
      this.touched = new Int32Array(this.cap);
    }
    const acc = this.acc;
    const mark = this.mark;
    const touched = this.touched;
    let nt = 0;
    const seen = new Set<number>();
    for (let qi = 0; qi < indices.length; qi++) {
      const term = indices[qi]! >>> 0;
      if (seen.has(term)) continue;
      seen.add(term);
      const t = this.terms.get(term);
      if (t < 0) continue;
      const df = this.df[t]!;
      if (df === 0) continue;
      const w = (values[qi] ?? 1) * idf(this.live, df);
      if (t < this.baseTerms) {
        const slots = this.postSlot;
        const vals = this.postVal;
        for (let i = this.postOff[t]!, end = this.postOff[t + 1]!; i < end; i++) {
          const s = slots[i]!;
          if (!alive[s]) continue;
          if (!mark[s]) {
            mark[s] = 1;
            touched[nt++] = s;
          }
          acc[s]! += w * vals[i]!;
        }
      }
      const d = this.delta.get(t);
      if (d) {
        for (let i = 0; i < d.slots.length; i++) {
          const s = d.slots[i]!;
          if (!alive[s]) continue;
          if (!mark[s]) {
            mark[s] = 1;
            touched[nt++] = s;
          }
          acc[s]! += w * d.vals[i]!;
        }
      }
    }
    const top = new TopK(k);
    for (let i = 0; i < nt; i++) {
      const s = touched[i]!;
      const score = acc[s]!;
      if (score > top.floor) top.push(s, score);
      acc[s] = 0;
      mark[s] = 0;
    }
    return top.result();
  }

  slotOf(rid: number): number | undefined {
    return this.ridToSlot.get(rid);
  }
}

export function normalise(v: Float32Array | number[]): Float32Array {
  return normaliseInto(v, new Float32Array(v.length));
}

/** `v` scaled to unit length, written to `out` (same length; a view of a larger buffer is fine). */
export function normaliseInto(v: Float32Array | number[], out: Float32Array): Float32Array {
  out.set(v);
  let sum = 0;
  for (let i = 0; i < out.length; i++) sum += out[i]! * out[i]!;
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < out.length; i++) out[i]! /= norm;
  return out;
}
