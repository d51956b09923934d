/**
 * The dense scan from QUANT_MIN_DIM dimensions up: int8 estimates, then an
 * exact rescoring of oversampled candidates. The mirror's answers must equal
 * the exact f32/f64 scan's, ranks and scores, including ties and zero rows.
 */
import { describe, expect, it } from 'vitest';
import { DenseMatrix, QUANT_MIN_DIM } from '../../stores/embedded/dense.js';
import { Mirror, type MirrorRow, type RowReader } from '../../stores/embedded/mirror.js';
import { mulberry32 } from '../../crm/demo/rng.js';

function unit(rng: () => number, dim: number): Float32Array {
  const v = Float32Array.from({ length: dim }, () => rng() * 2 - 1);
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

function rows(dim: number, n: number, seed: number): MirrorRow[] {
  const rng = mulberry32(seed);
  const out: MirrorRow[] = [];
  for (let i = 0; i < n; i++) {
    // Some near-duplicates of earlier rows, so near-ties exist around the cut.
    const dense =
      i > 10 && rng() < 0.2
        ? (() => {
            const base = out[Math.floor(rng() * out.length)]!.dense;
            const v = base.map((x) => x + (rng() - 0.5) * 1e-3);
            const m = Math.hypot(...v);
            return v.map((x) => x / m);
          })()
        : unit(rng, dim);
    out.push({
      rid: i + 1,
      fields: { tables: 'notes' },
      date: null,
      dense,
      sparseIdx: new Uint32Array(0),
      sparseVal: new Float32Array(0),
    });
  }
  return out;
}

/** A RowReader over rows kept by the test, standing in for the table the store reads. */
function readerOf(rs: MirrorRow[]): RowReader {
  const byRid = new Map(rs.map((r) => [r.rid, r.dense]));
  return (rids) => new Map(rids.map((rid) => [rid, byRid.get(rid)!]));
}

describe('dense scan with int8 estimates', () => {
  it('is used from QUANT_MIN_DIM dimensions up and not below', () => {
    const hi = new DenseMatrix(QUANT_MIN_DIM, 8);
    const lo = new DenseMatrix(100, 8);
    if (!hi.wasm) console.warn('no WebAssembly SIMD in this runtime: the int8 scan is not checked');
    expect(lo.approximate).toBe(false);
    expect(new DenseMatrix(QUANT_MIN_DIM, 8, false).approximate).toBe(false);
    if (hi.wasm) expect(hi.approximate).toBe(true);
  });

  for (const dim of [QUANT_MIN_DIM, 768, 390]) {
    it(`returns the exact top-k at ${dim} dimensions (3,000 rows, 40 queries, k 1/10/50)`, () => {
      const rs = rows(dim, 3000, dim);
      const approx = Mirror.build(dim, rs.length, rs, true);
      const exact = Mirror.build(dim, rs.length, rs, false);
      expect(exact.wasm).toBe(false);
      const rng = mulberry32(dim + 1);
      for (let qi = 0; qi < 40; qi++) {
        // Half the queries sit right next to a stored row, the hardest case for an estimate.
        const q =
          qi % 2
            ? unit(rng, dim)
            : rs[Math.floor(rng() * rs.length)]!.dense.map((x) => x + (rng() - 0.5) * 0.01);
        for (const k of [1, 10, 50]) {
          const a = approx.searchDense(q, k);
          const b = exact.searchDense(q, k);
          expect(
            a.map((h) => h.slot),
            `query ${qi}, k ${k}`,
          ).toEqual(b.map((h) => h.slot));
          a.forEach((h, i) => expect(h.score).toBe(b[i]!.score));
        }
      }
    });
  }

  it('keeps rows written after the build, overwritten rows and zero vectors right', () => {
    const dim = 512;
    const rs = rows(dim, 400, 3);
    const approx = Mirror.build(dim, 100, rs.slice(0, 100), true);
    const exact = Mirror.build(dim, 100, rs.slice(0, 100), false);
    for (const r of rs.slice(100)) {
      approx.upsert(r);
      exact.upsert(r);
    }
    // Overwrite some with new vectors, one with zeros.
    const rng = mulberry32(4);
    for (const r of rs.slice(0, 50)) {
      const changed = { ...r, dense: r.rid === 7 ? new Float32Array(dim) : unit(rng, dim) };
      approx.upsert(changed);
      exact.upsert(changed);
    }
    for (let qi = 0; qi < 20; qi++) {
      const q = unit(rng, dim);
      const a = approx.searchDense(q, 20);
      const b = exact.searchDense(q, 20);
      expect(a.map((h) => approx.rids[h.slot])).toEqual(b.map((h) => exact.rids[h.slot]));
      a.forEach((h, i) => expect(h.score).toBe(b[i]!.score));
    }
  });

  for (const dim of [100, 768]) {
    it(`codes only (f32 rows read back for rescoring) returns the exact top-k at ${dim} dimensions`, () => {
      const rs = rows(dim, 3000, dim + 7);
      const codes = Mirror.build(dim, rs.length, rs, { rows: readerOf(rs) });
      const exact = Mirror.build(dim, rs.length, rs, false);
      expect(codes.dense!.approximate).toBe(true);
      expect(codes.dense!.rowsInMemory).toBe(false);
      expect(codes.dense!.bytesPerRow).toBe(((dim + 15) & ~15) + 4);
      const rng = mulberry32(dim + 2);
      for (let qi = 0; qi < 40; qi++) {
        const q =
          qi % 2
            ? unit(rng, dim)
            : rs[Math.floor(rng() * rs.length)]!.dense.map((x) => x + (rng() - 0.5) * 0.01);
        for (const k of [1, 10, 80]) {
          const a = codes.searchDense(q, k);
          const b = exact.searchDense(q, k);
          expect(
            a.map((h) => h.slot),
            `query ${qi}, k ${k}`,
          ).toEqual(b.map((h) => h.slot));
          a.forEach((h, i) => expect(h.score).toBe(b[i]!.score));
        }
      }
    });
  }

  it('codes only without WASM scans the codes in JS and ranks the same', () => {
    const dim = 100;
    const rs = rows(dim, 500, 11);
    const js = Mirror.build(dim, rs.length, rs, { rows: readerOf(rs), useWasm: false });
    const exact = Mirror.build(dim, rs.length, rs, false);
    expect(js.wasm).toBe(false);
    expect(js.dense!.approximate).toBe(true);
    const rng = mulberry32(12);
    for (let qi = 0; qi < 10; qi++) {
      const q = unit(rng, dim);
      expect(js.searchDense(q, 10).map((h) => h.slot)).toEqual(exact.searchDense(q, 10).map((h) => h.slot));
    }
  });
});
