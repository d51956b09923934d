/**
 * The embedded store's in-memory search index for one generation: int8 codes
 * of the dense vectors, a sparse inverted index with exact document
 * frequencies, and the filter columns as dictionary codes. Built from the
 * SQLite rows or loaded from a snapshot (stores/embedded/snapshot.ts), then
 * maintained point by point.
 *
 * Invariant: `df(t)` and `live` always equal what a fresh load of the table would
 * give, so sparse scores match Qdrant's `modifier: idf` (one shard) exactly:
 *   score(d) = Σ_t q_t · idf(t) · d_t,  idf(t) = ln((N - df + 0.5) / (df + 0.5) + 1).
 *
 * Memory is bounded by what a search reads, not by what a point stores
 * (decision record docs/decisions/040-bounded-embedded-search-index.md):
 * - dense: int8 codes and a scale per point; the f32 rows of the final
 *   candidates are read from SQLite (`RowReader`) and rescored exactly, so
 *   scores do not depend on the codes. (Without a reader, as in unit tests,
 *   the f32 rows stay in memory, as stores/embedded/dense.ts always did.)
 * - sparse: one CSR of the postings (slot, value) by term, filled in two
 *   passes (count, then place) so a build never holds a second copy; points
 *   added later go to small per-term delta lists. No per-point term list is
 *   kept for the CSR's points: removing them is batched into one pass over the
 *   CSR before the next sparse search.
 * - no point id, record key or payload strings: the store reads those for the
 *   hits only. A filter on a field evaluated in SQL (record keys) arrives as
 *   a set of row ids.
 * - the two halves are optional: a process loads the dense half only when a
 *   dense leg runs, the sparse half when a sparse leg does.
 */
import type { SearchFilter } from '../types.js';
import { instantMs, normaliseDateFrom, normaliseDateTo } from '../dates.js';
import { FILTER_FIELDS, MEMORY_FIELDS, type FilterFieldName } from '../filterFields.js';
import { DenseMatrix } from './dense.js';

export interface MirrorRow {
  rid: number;
  /** Values of the memory filter fields (stores/filterFields.ts): one value, or a list for a `many` field. */
  fields: Partial<Record<FilterFieldName, string | null | string[]>>;
  date: string | null;
  /** Dense vector (already normalised), `dim` floats; unused when the dense half is not loaded. */
  dense: Float32Array;
  sparseIdx: Uint32Array;
  sparseVal: Float32Array;
}

/** The stored f32 rows of some points, read inside the caller's read transaction (exact rescoring). */
export type RowReader = (rids: number[]) => Map<number, Float32Array>;

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
export class TermTable {
  private keys = new Int32Array(1 << 14);
  private vals = new Int32Array(1 << 14).fill(-1);
  private mask = (1 << 14) - 1;
  size = 0;
  /** Term id of each slot, in slot order (what a snapshot stores). */
  ids = new Uint32Array(1 << 13);

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
    if (slot >= this.ids.length) {
      const ids = new Uint32Array(this.ids.length * 2);
      ids.set(this.ids);
      this.ids = ids;
    }
    this.ids[slot] = term >>> 0;
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

function grown<T extends Int32Array | Float32Array | Float64Array | Uint8Array>(a: T, min: number): T {
  if (min <= a.length) return a;
  const b = new (a.constructor as new (n: number) => T)(Math.max(min, a.length * 2, 16));
  b.set(a);
  return b;
}

/** A one-valued string column as dictionary codes (-1 = null). */
export class CodedColumn {
  codes: Int32Array;
  /** Code → value, in code order (what a snapshot stores). */
  readonly values: string[] = [];
  /** Value → code; built on first use, so a loaded snapshot does not pay for a filter it never sees. */
  private dict: Map<string, number> | undefined = new Map();
  constructor(cap: number) {
    this.codes = new Int32Array(cap);
  }
  private lookup(): Map<string, number> {
    if (!this.dict) {
      this.dict = new Map();
      this.values.forEach((v, c) => this.dict!.set(v, c));
    }
    return this.dict;
  }
  code(v: string): number {
    const dict = this.lookup();
    let c = dict.get(v);
    if (c === undefined) {
      c = this.values.length;
      dict.set(v, c);
      this.values.push(v);
    }
    return c;
  }
  /** Take a snapshot's dictionary (its codes are already in place). */
  restore(values: string[]): void {
    this.values.length = 0;
    for (const v of values) this.values.push(v);
    this.dict = undefined;
  }
  /** The last value set and its code: a record's chunks are adjacent and share their values. */
  private last: string | null | undefined;
  private lastCode = -1;
  set(slot: number, v: string | null | undefined): void {
    if (v !== this.last || v === undefined) {
      this.last = v;
      this.lastCode = v === null || v === undefined ? -1 : this.code(String(v));
    }
    this.codes[slot] = this.lastCode;
  }
  grow(cap: number): void {
    this.codes = grown(this.codes, cap);
  }
  /** Per-code allow list for a filter's values. */
  allowed(values: string[]): Uint8Array {
    const dict = this.lookup();
    const ok = new Uint8Array(this.values.length);
    for (const v of values) {
      const c = dict.get(v);
      if (c !== undefined) ok[c] = 1;
    }
    return ok;
  }
  matches(slot: number, ok: Uint8Array): boolean {
    const c = this.codes[slot]!;
    return c >= 0 && ok[c] === 1;
  }
}

/**
 * A list-valued column (entity ids) as one growing CSR of codes: slots are only ever
 * appended, so slot s's codes are pool[off[s] .. off[s + 1]).
 */
export class ManyColumn {
  off: Int32Array;
  pool = new Int32Array(1024);
  private readonly coded = new CodedColumn(0);
  constructor(cap: number) {
    this.off = new Int32Array(cap + 1);
  }
  get values(): string[] {
    return this.coded.values;
  }
  /** Appends slot `slot`'s values (slots arrive in order). */
  set(slot: number, v: string | null | string[] | undefined): void {
    const list = Array.isArray(v) ? v : v === null || v === undefined ? [] : [v];
    let end = this.off[slot]!;
    this.pool = grown(this.pool, end + list.length);
    for (const x of list) this.pool[end++] = this.coded.code(String(x));
    this.off[slot + 1] = end;
  }
  grow(cap: number): void {
    this.off = grown(this.off, cap + 1);
  }
  allowed(values: string[]): Uint8Array {
    return this.coded.allowed(values);
  }
  matches(slot: number, ok: Uint8Array): boolean {
    for (let i = this.off[slot]!, end = this.off[slot + 1]!; i < end; i++) if (ok[this.pool[i]!]) return true;
    return false;
  }
  /** Take a snapshot's dictionary (codes already in the pool). */
  restore(values: string[]): void {
    this.coded.restore(values);
  }
}

export type Column = CodedColumn | ManyColumn;

interface Delta {
  slots: number[];
  vals: number[];
}

/**
 * The sparse half: term slots, exact df, the CSR of the postings of slots
 * [0, baseN) and delta lists for slots added after.
 */
export class SparseIndex {
  readonly terms = new TermTable();
  df: Int32Array = new Int32Array(1024);
  baseN = 0;
  postOff: Int32Array = new Int32Array(1);
  postSlot: Int32Array = new Int32Array(0);
  postVal: Float32Array = new Float32Array(0);
  private readonly delta = new Map<number, Delta>();
  /** Term slots of each slot added after the CSR was built (for df on removal). */
  private readonly deltaTerms = new Map<number, Int32Array>();
  deltaPostings = 0;
  /** CSR slots removed since the last flush (their df is decremented in one pass). */
  private pending: number[] = [];
  private acc = new Float64Array(0);
  private mark = new Uint8Array(0);
  private touched = new Int32Array(0);

  /** Pass 1 of a build: count the points of each term. */
  count(idx: Uint32Array): void {
    let df = this.df;
    for (let i = 0; i < idx.length; i++) {
      const t = this.terms.intern(idx[i]!);
      if (t >= df.length) df = this.df = grown(df, t + 1);
      df[t]!++;
    }
  }

  /** Between the passes: exact-size CSR arrays, and the cursors pass 2 places with. */
  allocate(): Int32Array {
    const T = this.terms.size;
    const off = new Int32Array(T + 1);
    for (let t = 0; t < T; t++) off[t + 1] = off[t]! + this.df[t]!;
    this.postOff = off;
    this.postSlot = new Int32Array(off[T]!);
    this.postVal = new Float32Array(off[T]!);
    return off.slice(0, T);
  }

  /** Pass 2 of a build: place one point's postings (terms were interned in pass 1). */
  place(cursor: Int32Array, slot: number, idx: Uint32Array, val: Float32Array): void {
    for (let i = 0; i < idx.length; i++) {
      const t = this.terms.get(idx[i]!);
      const at = cursor[t]!++;
      this.postSlot[at] = slot;
      this.postVal[at] = val[i]!;
    }
  }

  /** A point added after the build: postings to the delta lists. */
  add(slot: number, idx: Uint32Array, val: Float32Array): void {
    const ts = new Int32Array(idx.length);
    let df = this.df;
    for (let i = 0; i < idx.length; i++) {
      const t = this.terms.intern(idx[i]!);
      if (t >= df.length) df = this.df = grown(df, t + 1);
      df[t]!++;
      ts[i] = t;
      let d = this.delta.get(t);
      if (!d) this.delta.set(t, (d = { slots: [], vals: [] }));
      d.slots.push(slot);
      d.vals.push(val[i]!);
    }
    this.deltaTerms.set(slot, ts);
    this.deltaPostings += idx.length;
  }

  /** CSR slots removed since the CSR was built (a merge must then leave them out). */
  removedSinceBuild = 0;

  remove(slot: number): void {
    if (slot < this.baseN) {
      this.pending.push(slot);
      this.removedSinceBuild++;
      return;
    }
    const ts = this.deltaTerms.get(slot);
    if (!ts) return;
    for (const t of ts) this.df[t]!--;
    this.deltaTerms.delete(slot);
  }

  /** Apply pending removals of CSR slots to df: one pass over the CSR (~60M postings at 1.25M points). */
  flush(n: number): void {
    if (this.pending.length === 0) return;
    const gone = new Uint8Array(Math.max(n, this.baseN));
    for (const s of this.pending) gone[s] = 1;
    this.pending = [];
    const off = this.postOff;
    const slots = this.postSlot;
    const df = this.df;
    for (let t = 0, T = off.length - 1; t < T; t++) {
      let dead = 0;
      for (let i = off[t]!, end = off[t + 1]!; i < end; i++) dead += gone[slots[i]!]!;
      df[t]! -= dead;
    }
  }

  /**
   * Live postings of every term as one CSR (base and delta merged, removed slots left
   * out): what a snapshot stores, and what a compaction keeps.
   */
  merged(alive: Uint8Array, n: number): { off: Int32Array; slots: Int32Array; vals: Float32Array } {
    this.flush(n);
    // Nothing added or removed since the CSR was built: it is the answer (no second copy).
    if (this.delta.size === 0 && this.removedSinceBuild === 0 && this.baseN === n) {
      return { off: this.postOff, slots: this.postSlot, vals: this.postVal };
    }
    const T = this.terms.size;
    const off = new Int32Array(T + 1);
    for (let t = 0; t < T; t++) off[t + 1] = off[t]! + this.df[t]!;
    const slots = new Int32Array(off[T]!);
    const vals = new Float32Array(off[T]!);
    for (let t = 0; t < T; t++) {
      let at = off[t]!;
      if (t < this.postOff.length - 1) {
        for (let i = this.postOff[t]!, end = this.postOff[t + 1]!; i < end; i++) {
          const s = this.postSlot[i]!;
          if (!alive[s]) continue;
          slots[at] = s;
          vals[at++] = this.postVal[i]!;
        }
      }
      const d = this.delta.get(t);
      if (d) {
        for (let i = 0; i < d.slots.length; i++) {
          if (!alive[d.slots[i]!]) continue;
          slots[at] = d.slots[i]!;
          vals[at++] = d.vals[i]!;
        }
      }
    }
    return { off, slots, vals };
  }

  /** Fold the delta lists into the CSR (in memory; slots keep their numbers). */
  compact(alive: Uint8Array, n: number): void {
    const { off, slots, vals } = this.merged(alive, n);
    this.postOff = off;
    this.postSlot = slots;
    this.postVal = vals;
    this.baseN = n;
    this.delta.clear();
    this.deltaTerms.clear();
    this.deltaPostings = 0;
    this.removedSinceBuild = 0;
  }

  get needsCompaction(): boolean {
    return this.deltaPostings > 1_000_000 && this.deltaPostings > this.postSlot.length;
  }

  get bytes(): number {
    return this.postSlot.byteLength + this.postVal.byteLength + this.postOff.byteLength + this.df.byteLength;
  }

  /** Qdrant-compatible sparse top-k; only points sharing at least one term score. */
  search(
    live: number,
    n: number,
    cap: number,
    ok: Uint8Array,
    indices: ArrayLike<number>,
    values: ArrayLike<number>,
    k: number,
  ): Hit[] {
    this.flush(n);
    if (this.acc.length < n) {
      this.acc = new Float64Array(cap);
      this.mark = new Uint8Array(cap);
      this.touched = new Int32Array(cap);
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
      const w = (values[qi] ?? 1) * idf(live, df);
      if (t < this.postOff.length - 1) {
        const slots = this.postSlot;
        const vals = this.postVal;
        for (let i = this.postOff[t]!, end = this.postOff[t + 1]!; i < end; i++) {
          const s = slots[i]!;
          if (!ok[s]) continue;
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
          if (!ok[s]) continue;
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
}

export interface MirrorOptions {
  /** Tests force the JS dense scan. */
  useWasm?: boolean;
  /** Reads candidates' f32 rows for exact rescoring; without it the f32 rows stay in memory. */
  rows?: RowReader;
  /** Which halves to build (default both). */
  dense?: boolean;
  sparse?: boolean;
}

/** What a build reads: the rows (twice when the sparse half is built: count, then place). */
export type MirrorSource =
  Iterable<MirrorRow> | { rows(): Iterable<MirrorRow>; sparse?(): Iterable<Uint32Array> };

export class Mirror {
  cap: number;
  /** Slots used so far (live + dead). */
  n = 0;
  live = 0;
  dead = 0;
  /** Highest `_store_changes.seq` applied. */
  lastSeq = 0;
  /** The owner's local write counter when this mirror last caught up. */
  localSeen = 0;
  /** Points changed since the mirror was built or loaded (the owner refreshes its snapshot past a bound). */
  changedSinceLoad = 0;

  alive: Uint8Array;
  rids: Float64Array;
  /** The instant of each point's `date` in epoch ms (NaN: none, or not a date; never matches a range). */
  dates: Float64Array;
  /** rid → slot + 1 (0: not present). Row ids are dense integers, so an array beats a Map by ~50 bytes a point. */
  private ridSlot = new Int32Array(1024);
  readonly columns = new Map<FilterFieldName, Column>();
  dense: DenseMatrix | undefined;
  sparse: SparseIndex | undefined;
  readonly rowReader: RowReader | undefined;
  private readonly useWasm: boolean;
  /** The last date parsed (a record's chunks share it). */
  private lastDate: string | null | undefined;
  private lastInstant = NaN;

  constructor(
    readonly dim: number,
    capacity = 1024,
    opts: MirrorOptions = {},
  ) {
    this.cap = Math.max(capacity, 16);
    this.useWasm = opts.useWasm ?? true;
    this.rowReader = opts.rows;
    this.alive = new Uint8Array(this.cap);
    this.rids = new Float64Array(this.cap);
    this.dates = new Float64Array(this.cap);
    for (const f of MEMORY_FIELDS) {
      this.columns.set(f, FILTER_FIELDS[f].many ? new ManyColumn(this.cap) : new CodedColumn(this.cap));
    }
    if (opts.dense ?? true) this.dense = this.newDense();
    if (opts.sparse ?? true) this.sparse = new SparseIndex();
  }

  newDense(): DenseMatrix {
    return new DenseMatrix(this.dim, this.cap, this.useWasm, this.rowReader === undefined);
  }

  /**
   * Build from rows in one go. The sparse postings land in one exact-size CSR
   * filled in two passes over the source (count per term, then place).
   */
  static build(
    dim: number,
    capacity: number,
    source: MirrorSource,
    opts: MirrorOptions | boolean = {},
  ): Mirror {
    const o = typeof opts === 'boolean' ? { useWasm: opts } : opts;
    // Slack so the first writes after a load do not double every array (and the WASM memory).
    const m = new Mirror(dim, capacity + (capacity >> 4) + 64, o);
    const rows = Symbol.iterator in source ? () => source : () => source.rows();
    const sparsePass =
      Symbol.iterator in source || !source.sparse
        ? function* () {
            for (const r of rows()) yield r.sparseIdx;
          }
        : () => source.sparse!();
    let cursor: Int32Array | undefined;
    if (m.sparse) {
      for (const idx of sparsePass()) m.sparse.count(idx);
      cursor = m.sparse.allocate();
    }
    for (const row of rows()) {
      const slot = m.appendSlot(row);
      if (m.sparse) m.sparse.place(cursor!, slot, row.sparseIdx, row.sparseVal);
    }
    if (m.sparse) m.sparse.baseN = m.n;
    return m;
  }

  /** Whether the dense half is scanned by a WASM kernel. */
  get wasm(): boolean {
    return this.dense?.wasm ?? false;
  }

  get needsCompaction(): boolean {
    return this.dead > 1024 && this.dead > this.live;
  }

  /** Bytes held per live point by the typed arrays (what the decision record reports). */
  get bytes(): { dense: number; sparse: number; filters: number } {
    let filters =
      this.alive.byteLength + this.rids.byteLength + this.dates.byteLength + this.ridSlot.byteLength;
    for (const c of this.columns.values()) {
      filters += c instanceof ManyColumn ? c.off.byteLength + c.pool.byteLength : c.codes.byteLength;
    }
    return {
      dense: this.dense ? this.dense.bytesPerRow * this.cap : 0,
      sparse: this.sparse?.bytes ?? 0,
      filters,
    };
  }

  slotOf(rid: number): number | undefined {
    const s = rid < this.ridSlot.length ? this.ridSlot[rid]! : 0;
    return s > 0 ? s - 1 : undefined;
  }

  setRidSlot(rid: number, slot: number): void {
    this.ridSlot = grown(this.ridSlot, rid + 1);
    this.ridSlot[rid] = slot + 1;
  }

  grow(min: number): void {
    if (min <= this.cap) return;
    const cap = Math.max(min, this.cap * 2, 1024);
    this.alive = grown(this.alive, cap);
    this.rids = grown(this.rids, cap);
    this.dates = grown(this.dates, cap);
    for (const c of this.columns.values()) c.grow(cap);
    this.dense?.grow(cap);
    this.cap = cap;
  }

  /** Appends the point's slot: everything but its sparse postings. */
  private appendSlot(row: MirrorRow): number {
    if (this.dense && row.dense.length !== this.dim) {
      throw new RangeError(`point ${row.rid} has ${row.dense.length} dims; this generation has ${this.dim}`);
    }
    this.grow(this.n + 1);
    const slot = this.n++;
    this.alive[slot] = 1;
    this.dense?.set(slot, row.dense);
    this.rids[slot] = row.rid;
    if (row.date !== this.lastDate) {
      this.lastDate = row.date;
      this.lastInstant = instantMs(row.date);
    }
    this.dates[slot] = this.lastInstant;
    for (const [f, col] of this.columns) col.set(slot, row.fields[f] as never);
    this.setRidSlot(row.rid, slot);
    this.live++;
    return slot;
  }

  /** Insert or overwrite the point stored at `row.rid`. */
  upsert(row: MirrorRow): void {
    this.remove(row.rid);
    const slot = this.appendSlot(row);
    this.sparse?.add(slot, row.sparseIdx, row.sparseVal);
    this.changedSinceLoad++;
    if (this.sparse?.needsCompaction) this.sparse.compact(this.alive, this.n);
  }

  remove(rid: number): void {
    const slot = this.slotOf(rid);
    if (slot === undefined) return;
    this.ridSlot[rid] = 0;
    this.alive[slot] = 0;
    this.sparse?.remove(slot);
    this.live--;
    this.dead++;
    this.changedSinceLoad++;
  }

  /**
   * One byte per slot: 1 when live and matching the filter. No filter → undefined (all live).
   * `sqlRids`: the rows matching the fields evaluated in SQL (record keys), when any is set.
   */
  mask(filter: SearchFilter | undefined, sqlRids?: Iterable<number>): Uint8Array | undefined {
    if (!filter && !sqlRids) return undefined;
    const coded: [Column, Uint8Array][] = [];
    for (const [f, col] of this.columns) {
      const vals = filter?.[f];
      if (vals?.length) coded.push([col, col.allowed(vals)]);
    }
    // Instants, as Qdrant's datetime index compares them (not ISO text, which orders only one form).
    const from = filter?.dateFrom !== undefined ? instantMs(normaliseDateFrom(filter.dateFrom)) : undefined;
    const to = filter?.dateTo !== undefined ? instantMs(normaliseDateTo(filter.dateTo)) : undefined;
    let only: Uint8Array | undefined;
    if (sqlRids) {
      only = new Uint8Array(this.n);
      for (const rid of sqlRids) {
        const s = this.slotOf(rid);
        if (s !== undefined) only[s] = 1;
      }
    }
    if (!coded.length && !only && from === undefined && to === undefined) return undefined;
    const m = new Uint8Array(this.n);
    const alive = this.alive;
    const dates = this.dates;
    outer: for (let s = 0; s < this.n; s++) {
      if (!alive[s]) continue;
      if (only && !only[s]) continue;
      for (let c = 0; c < coded.length; c++) if (!coded[c]![0].matches(s, coded[c]![1])) continue outer;
      if (from !== undefined || to !== undefined) {
        const d = dates[s]!;
        if (Number.isNaN(d)) continue;
        if (from !== undefined && d < from) continue;
        if (to !== undefined && d > to) continue;
      }
      m[s] = 1;
    }
    return m;
  }

  /**
   * Cosine top-k: query is normalised here, stored vectors were normalised on
   * write. When the scan gives int8 estimates, max(4k, k + 64) candidates are
   * kept and rescored exactly in f64 (from the stored rows, or the in-memory
   * ones), so scores and their order do not depend on the path.
   */
  searchDense(query: Float32Array, k: number, mask?: Uint8Array): Hit[] {
    const matrix = this.dense;
    if (!matrix) throw new Error('the dense half of this mirror is not loaded');
    const q = normalise(query);
    const keep = matrix.approximate ? Math.max(4 * k, k + 64) : k;
    const top = new TopK(keep);
    const ok = mask ?? this.alive;
    const n = this.n;
    let floor = top.floor;
    const raw = matrix.rawScores(q, n);
    if (raw) {
      // One pass: scale each sum and select (at 1.25M points a separate pass cost ~5 ms a query).
      const { sums, scales } = raw;
      for (let s = 0; s < n; s++) {
        if (!ok[s]) continue;
        const score = sums[s]! * scales[s]!;
        if (score > floor) {
          top.push(s, score);
          floor = top.floor;
        }
      }
    } else {
      const sc = matrix.scores(q, n);
      for (let s = 0; s < n; s++) {
        if (!ok[s]) continue;
        const score = sc[s]!;
        if (score > floor) {
          top.push(s, score);
          floor = top.floor;
        }
      }
    }
    const hits = top.result();
    if (matrix.rowsInMemory) {
      for (const h of hits) h.score = matrix.dot(q, h.slot);
    } else {
      const rows = this.rowReader!(hits.map((h) => this.rids[h.slot]!));
      for (const h of hits) {
        const row = rows.get(this.rids[h.slot]!);
        let a = 0;
        if (row) for (let i = 0; i < this.dim; i++) a += q[i]! * row[i]!;
        h.score = a;
      }
    }
    hits.sort((a, b) => b.score - a.score || a.slot - b.slot);
    return hits.length > k ? hits.slice(0, k) : hits;
  }

  /** Qdrant-compatible sparse top-k; only points sharing at least one term score. */
  searchSparse(indices: ArrayLike<number>, values: ArrayLike<number>, k: number, mask?: Uint8Array): Hit[] {
    if (!this.sparse) throw new Error('the sparse half of this mirror is not loaded');
    return this.sparse.search(this.live, this.n, this.cap, mask ?? this.alive, indices, values, k);
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
