/**
 * The dense matrix of a mirror and its brute-force scan. Rows are normalised
 * Float32 vectors stored back to back; `scores` writes the dot product of every
 * row with the query into one Float32Array.
 *
 * From QUANT_MIN_DIM dimensions up (768 for bge-base), the scan reads int8
 * codes instead (one byte per dimension, a per-row scale) and `approximate` is
 * true: at 100k x 768 the f32 scan moves 307 MB per query and takes ~40 ms,
 * bound by memory bandwidth; the int8 scan moves 77 MB and takes ~10 ms. The
 * caller then rescores an oversampled candidate set exactly (`dot`, f64 over
 * the f32 rows, which stay in memory), so returned scores are exact and only
 * a candidate's rank near the cut can differ, which oversampling covers.
 *
 * The scan runs in a 192-byte WebAssembly SIMD kernel (f32x4 multiply-add, 4
 * floats per instruction) when the dimension is a multiple of 4 and the runtime
 * has WASM SIMD; otherwise in plain JS with four accumulators. Measured at 100k
 * x 100 dims (docs/stores.md): the JS loop is the larger part of a hybrid query.
 * The kernel accumulates in f32 (as Qdrant does); callers rescore their final
 * top-k in f64 so returned scores do not depend on which path ran.
 *
 * Invariant: `data` always views the current memory; growing copies the rows
 * into a fresh memory (like a typed-array doubling), so no view is left stale
 * across a `grow` as long as callers re-read `data` after it.
 *
 * Codes only (`rowsInMemory` false, the embedded store's mirror): every
 * dimension is scanned in int8 and no f32 row is kept; the caller rescores
 * the candidates from the f32 rows stored in SQLite. Memory is then
 * align16(dim) + 4 bytes a row (116 at 100 dims, 772 at 768) instead of
 * 4 x dim (+ the codes). Without WASM SIMD the same int8 scan runs in JS.
 */

// The kernels' sources are stores/embedded/kernels/*.wat; `npm run kernels` assembles them.
import { SCORES8_WASM, SCORES_WASM } from './kernels.js';

type ScoresFn = (q: number, row: number, rowBytes: number, n: number, out: number) => void;

/** The slice of the WebAssembly API used here (the project's TS libs do not declare it). */
interface Wasm {
  Module: new (bytes: Uint8Array) => object;
  Memory: new (d: { initial: number }) => { buffer: ArrayBuffer };
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> };
}
const WASM = (globalThis as unknown as { WebAssembly?: Wasm }).WebAssembly;

const modules = new Map<Uint8Array, object | null>();
function compiled(bytes: Uint8Array): object | null {
  if (!modules.has(bytes)) {
    try {
      modules.set(bytes, WASM ? new WASM.Module(bytes) : null);
    } catch {
      modules.set(bytes, null); // no WASM SIMD here: the JS loop serves
    }
  }
  return modules.get(bytes)!;
}
const kernelModule = () => compiled(SCORES_WASM);

/** Dimensions from which the scan reads int8 codes (see the file comment). */
export const QUANT_MIN_DIM = 256;

const PAGE = 65_536;
const align16 = (x: number) => (x + 15) & ~15;

export class DenseMatrix {
  /** Rows, `cap * dim` floats. */
  data: Float32Array;
  private out: Float32Array;
  private q: Float32Array;
  private fn: ScoresFn | null = null;
  private qOff = 0;
  private outOff = 0;
  private dataOff = 0;
  cap = 0;
  /** Int8 mode: codes in WASM memory (`codeBytes` per row), a scale per row, i32 sums out. */
  private codes: Int8Array = new Int8Array(0);
  private qCodes: Int8Array = new Int8Array(0);
  private sums: Int32Array = new Int32Array(0);
  private scales: Float32Array = new Float32Array(0);
  private readonly codeBytes: number;

  constructor(
    readonly dim: number,
    cap: number,
    /** Tests force the JS path to check both agree. */
    useWasm = true,
    /** False: int8 codes only, at every dimension; rows are rescored by the caller (see above). */
    readonly rowsInMemory = true,
  ) {
    this.data = new Float32Array(0);
    this.out = new Float32Array(0);
    this.q = new Float32Array(dim);
    this.codeBytes = align16(dim);
    this.approximate = !rowsInMemory || (useWasm && dim >= QUANT_MIN_DIM && compiled(SCORES8_WASM) !== null);
    this.wasm =
      (this.approximate && useWasm && compiled(SCORES8_WASM) !== null) ||
      (!this.approximate && useWasm && dim % 4 === 0 && dim > 0 && kernelModule() !== null);
    this.grow(cap);
  }

  /** Bytes one row costs in memory. */
  get bytesPerRow(): number {
    return (this.approximate ? this.codeBytes + 4 : 0) + (this.rowsInMemory ? this.dim * 4 : 0);
  }

  /** The int8 codes (`codeBytes` a row) and scales of rows [0, n): filled by a snapshot load, read by its write. */
  codesOf(n: number): { codes: Int8Array; scales: Float32Array; codeBytes: number } {
    return {
      codes: this.codes.subarray(0, n * this.codeBytes),
      scales: this.scales.subarray(0, n),
      codeBytes: this.codeBytes,
    };
  }

  /** Whether scans run in a WASM kernel. */
  wasm: boolean;
  /** Whether `scores` are int8 estimates (rescore candidates with `dot`). */
  approximate: boolean;

  grow(cap: number): void {
    if (cap <= this.cap) return;
    const dim = this.dim;
    if (this.approximate && this.wasm) {
      const cb = this.codeBytes;
      const qOff = 0;
      const outOff = align16(cb);
      const dataOff = align16(outOff + cap * 4);
      try {
        const memory = new WASM!.Memory({ initial: Math.ceil((dataOff + cap * cb) / PAGE) });
        const inst = new WASM!.Instance(compiled(SCORES8_WASM)!, { env: { mem: memory } });
        const codes = new Int8Array(memory.buffer, dataOff, cap * cb);
        codes.set(this.codes.subarray(0, this.cap * cb));
        this.codes = codes;
        this.qCodes = new Int8Array(memory.buffer, qOff, cb);
        this.sums = new Int32Array(memory.buffer, outOff, cap);
        this.fn = inst.exports.scores8 as ScoresFn;
        this.qOff = qOff;
        this.outOff = outOff;
        this.dataOff = dataOff;
        const scales = new Float32Array(cap);
        scales.set(this.scales.subarray(0, this.cap));
        this.scales = scales;
        if (this.rowsInMemory) {
          const data = new Float32Array(cap * dim);
          data.set(this.data.subarray(0, this.cap * dim));
          this.data = data;
        }
        this.out = new Float32Array(cap);
        this.cap = cap;
        return;
      } catch {
        // Beyond what one WASM memory holds (4 GiB): JS scan from here on (int8 when rows are not kept).
        this.approximate = !this.rowsInMemory;
        this.wasm = false;
        this.fn = null;
      }
    } else if (this.wasm) {
      const qOff = 0;
      const outOff = align16(dim * 4);
      const dataOff = align16(outOff + cap * 4);
      const bytes = dataOff + cap * dim * 4;
      try {
        const memory = new WASM!.Memory({ initial: Math.ceil(bytes / PAGE) });
        const inst = new WASM!.Instance(kernelModule()!, { env: { mem: memory } });
        const data = new Float32Array(memory.buffer, dataOff, cap * dim);
        data.set(this.data.subarray(0, this.cap * dim));
        this.data = data;
        this.out = new Float32Array(memory.buffer, outOff, cap);
        this.q = new Float32Array(memory.buffer, qOff, dim);
        this.fn = inst.exports.scores as ScoresFn;
        this.qOff = qOff;
        this.outOff = outOff;
        this.dataOff = dataOff;
        this.cap = cap;
        return;
      } catch {
        // Beyond what one WASM memory holds (4 GiB): scan in JS from here on.
        this.wasm = false;
        this.fn = null;
      }
    }
    if (this.approximate) {
      // Codes only, scanned in JS.
      const codes = new Int8Array(cap * this.codeBytes);
      codes.set(this.codes.subarray(0, this.cap * this.codeBytes));
      this.codes = codes;
      this.qCodes = new Int8Array(this.codeBytes);
      const scales = new Float32Array(cap);
      scales.set(this.scales.subarray(0, this.cap));
      this.scales = scales;
    } else {
      const data = new Float32Array(cap * dim);
      data.set(this.data.subarray(0, this.cap * dim));
      this.data = data;
    }
    this.out = new Float32Array(cap);
    this.q = new Float32Array(dim);
    this.cap = cap;
  }

  set(slot: number, v: Float32Array): void {
    if (this.rowsInMemory) this.data.set(v, slot * this.dim);
    if (this.approximate) this.scales[slot] = quantize(v, this.codes, slot * this.codeBytes);
  }

  /**
   * Dot products of rows [0, n) with `q` (int8 estimates when `approximate`);
   * the returned view is valid until the next call or grow.
   */
  scores(q: Float32Array, n: number): Float32Array {
    const dim = this.dim;
    if (this.approximate && this.fn) {
      const qScale = quantize(q, this.qCodes, 0);
      this.fn(this.qOff, this.dataOff, this.codeBytes, n, this.outOff);
      const sums = this.sums;
      const scales = this.scales;
      const out = this.out;
      for (let s = 0; s < n; s++) out[s] = sums[s]! * scales[s]! * qScale;
      return out;
    }
    if (this.approximate) {
      // Codes only, no WASM: the int8 dot products in JS (exact integers, as the kernel's).
      const qScale = quantize(q, this.qCodes, 0);
      const qc = this.qCodes;
      const codes = this.codes;
      const cb = this.codeBytes;
      const scales = this.scales;
      const out = this.out;
      for (let s = 0; s < n; s++) {
        const base = s * cb;
        let acc = 0;
        for (let i = 0; i < dim; i++) acc += qc[i]! * codes[base + i]!;
        out[s] = acc * scales[s]! * qScale;
      }
      return out;
    }
    if (this.fn) {
      this.q.set(q);
      this.fn(this.qOff, this.dataOff, dim * 4, n, this.outOff);
      return this.out;
    }
    const data = this.data;
    const out = this.out;
    for (let s = 0; s < n; s++) {
      const base = s * dim;
      let a0 = 0,
        a1 = 0,
        a2 = 0,
        a3 = 0;
      let i = 0;
      for (; i + 3 < dim; i += 4) {
        a0 += q[i]! * data[base + i]!;
        a1 += q[i + 1]! * data[base + i + 1]!;
        a2 += q[i + 2]! * data[base + i + 2]!;
        a3 += q[i + 3]! * data[base + i + 3]!;
      }
      for (; i < dim; i++) a0 += q[i]! * data[base + i]!;
      out[s] = a0 + a1 + a2 + a3;
    }
    return out;
  }

  /**
   * The int8 scan's raw output when it runs in WASM: integer sums and the rows' scales (the
   * estimate is sums[s] * scales[s] times the query's scale, which does not change the order).
   * Lets the caller select candidates in the same pass that applies the scales.
   */
  rawScores(q: Float32Array, n: number): { sums: Int32Array; scales: Float32Array } | undefined {
    if (!this.approximate || !this.fn) return undefined;
    quantize(q, this.qCodes, 0);
    this.fn(this.qOff, this.dataOff, this.codeBytes, n, this.outOff);
    return { sums: this.sums, scales: this.scales };
  }

  /** Exact f64 dot product of one row with `q` (rows in memory only). */
  dot(q: Float32Array, slot: number): number {
    const data = this.data;
    const base = slot * this.dim;
    let a = 0;
    for (let i = 0; i < this.dim; i++) a += q[i]! * data[base + i]!;
    return a;
  }
}

/**
 * Symmetric int8 codes of `v` at `codes[at..]` (the padding stays zero);
 * returns the scale (value = code * scale). A zero vector gets scale 0.
 */
function quantize(v: Float32Array, codes: Int8Array, at: number): number {
  let max = 0;
  for (let i = 0; i < v.length; i++) {
    const a = Math.abs(v[i]!);
    if (a > max) max = a;
  }
  if (!(max > 0) || !Number.isFinite(max)) {
    codes.fill(0, at, at + v.length);
    return 0;
  }
  const inv = 127 / max;
  for (let i = 0; i < v.length; i++) codes[at + i] = Math.round(v[i]! * inv);
  return max / 127;
}
