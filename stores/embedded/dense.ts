/**
 * The dense matrix of a mirror and its brute-force scan. Rows are normalised
 * Float32 vectors stored back to back; `scores` writes the dot product of every
 * row with the query into one Float32Array.
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
 */

/*
 * (func (export "scores") (param $q i32) (param $row i32) (param $rowBytes i32) (param $n i32) (param $out i32)
 *   (local $s i32) (local $i i32) (local i32) (local $acc v128)
 *   block  (br_if 0 (i32.eqz n))
 *     loop  acc = 0; i = 0
 *       loop  acc += load(q + i) * load(row + i); i += 16; br_if (i < rowBytes)  end
 *       f32.store(out + s*4, lane0 + lane1 + lane2 + lane3)
 *       row += rowBytes; s += 1; br_if (s < n)
 *     end
 *   end)
 * with the memory imported as env.mem.
 */
// prettier-ignore
const KERNEL = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  // type: (i32 x5) -> ()
  0x01, 0x09, 0x01, 0x60, 0x05, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x00,
  // import env.mem (memory, min 1 page)
  0x02, 0x0c, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x01,
  // function 0 has type 0
  0x03, 0x02, 0x01, 0x00,
  // export "scores" = func 0
  0x07, 0x0a, 0x01, 0x06, 0x73, 0x63, 0x6f, 0x72, 0x65, 0x73, 0x00, 0x00,
  // code
  0x0a, 0x8c, 0x01, 0x01, 0x89, 0x01,
  0x02, 0x03, 0x7f, 0x01, 0x7b,
  0x02, 0x40,
  0x20, 0x03, 0x45, 0x0d, 0x00,
  0x03, 0x40,
  0xfd, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0x21, 0x08,
  0x41, 0x00, 0x21, 0x06,
  0x03, 0x40,
  0x20, 0x08,
  0x20, 0x00, 0x20, 0x06, 0x6a, 0xfd, 0x00, 0x00, 0x00,
  0x20, 0x01, 0x20, 0x06, 0x6a, 0xfd, 0x00, 0x00, 0x00,
  0xfd, 0xe6, 0x01,
  0xfd, 0xe4, 0x01,
  0x21, 0x08,
  0x20, 0x06, 0x41, 0x10, 0x6a, 0x22, 0x06,
  0x20, 0x02, 0x49, 0x0d, 0x00,
  0x0b,
  0x20, 0x04, 0x20, 0x05, 0x41, 0x02, 0x74, 0x6a,
  0x20, 0x08, 0xfd, 0x1f, 0x00,
  0x20, 0x08, 0xfd, 0x1f, 0x01, 0x92,
  0x20, 0x08, 0xfd, 0x1f, 0x02, 0x92,
  0x20, 0x08, 0xfd, 0x1f, 0x03, 0x92,
  0x38, 0x02, 0x00,
  0x20, 0x01, 0x20, 0x02, 0x6a, 0x21, 0x01,
  0x20, 0x05, 0x41, 0x01, 0x6a, 0x22, 0x05,
  0x20, 0x03, 0x49, 0x0d, 0x00,
  0x0b,
  0x0b,
  0x0b,
]);

type ScoresFn = (q: number, row: number, rowBytes: number, n: number, out: number) => void;

/** The slice of the WebAssembly API used here (the project's TS libs do not declare it). */
interface Wasm {
  Module: new (bytes: Uint8Array) => object;
  Memory: new (d: { initial: number }) => { buffer: ArrayBuffer };
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> };
}
const WASM = (globalThis as unknown as { WebAssembly?: Wasm }).WebAssembly;

let kernel: object | null | undefined;
function kernelModule(): object | null {
  if (kernel === undefined) {
    try {
      kernel = WASM ? new WASM.Module(KERNEL) : null;
    } catch {
      kernel = null; // no WASM SIMD here: the JS loop serves
    }
  }
  return kernel;
}

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

  constructor(
    readonly dim: number,
    cap: number,
    /** Tests force the JS path to check both agree. */
    useWasm = true,
  ) {
    this.data = new Float32Array(0);
    this.out = new Float32Array(0);
    this.q = new Float32Array(dim);
    this.wasm = useWasm && dim % 4 === 0 && dim > 0 && kernelModule() !== null;
    this.grow(cap);
  }

  /** Whether scans run in the WASM kernel. */
  wasm: boolean;

  grow(cap: number): void {
    if (cap <= this.cap) return;
    const dim = this.dim;
    if (this.wasm) {
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
    const data = new Float32Array(cap * dim);
    data.set(this.data.subarray(0, this.cap * dim));
    this.data = data;
    this.out = new Float32Array(cap);
    this.q = new Float32Array(dim);
    this.cap = cap;
  }

  set(slot: number, v: Float32Array): void {
    this.data.set(v, slot * this.dim);
  }

  /** Dot products of rows [0, n) with `q`; the returned view is valid until the next call or grow. */
  scores(q: Float32Array, n: number): Float32Array {
    const dim = this.dim;
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

  /** Exact f64 dot product of one row with `q`. */
  dot(q: Float32Array, slot: number): number {
    const data = this.data;
    const base = slot * this.dim;
    let a = 0;
    for (let i = 0; i < this.dim; i++) a += q[i]! * data[base + i]!;
    return a;
  }
}
