/**
 * A mirror's arrays in one file beside the index, so a fresh process loads
 * them with a few large reads instead of rebuilding them from every row
 * (docs/decisions/040-bounded-embedded-search-index.md).
 *
 * File `<index>.<generation>.mirror` (little-endian, the platform's typed
 * arrays): magic "CRMMIRR1", u32 header length, the header JSON, then each
 * section 8-byte aligned at the offset the header gives.
 *
 * Invariants:
 * - a snapshot is complete or absent: written to a temporary name, then renamed;
 *   the header records the file's size and a torn file is ignored;
 * - it names its generation and that generation's creation time, and the
 *   change-log seq it reflects: a reader loads it only for the same generation,
 *   and only when the log still holds every change after that seq (it replays
 *   them); otherwise the mirror is rebuilt from the table;
 * - it is a cache: losing it costs one rebuild of the mirror, never data.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import { replaceFile } from '../../config/files.js';
import { CodedColumn, ManyColumn, Mirror, SparseIndex, type MirrorOptions } from './mirror.js';

const MAGIC = 'CRMMIRR1';
const FORMAT = 1;

export interface SnapshotHeader {
  format: number;
  gen: string;
  genCreatedAt: string;
  dim: number;
  n: number;
  live: number;
  dead: number;
  lastSeq: number;
  codeBytes: number;
  terms: number;
  nnz: number;
  columns: Record<string, string[]>;
  sections: Record<string, [offset: number, bytes: number]>;
  fileBytes: number;
}

/** The snapshot file of a generation, beside the index file. */
export function snapshotPath(indexPath: string, gen: string): string {
  return `${indexPath}.${gen}.mirror`;
}

/** Snapshot files beside `indexPath` whose generation is not in `keep` (failed or replaced generations). */
export function straySnapshots(indexPath: string, keep: Set<string>): string[] {
  const dir = nodePath.dirname(indexPath);
  const prefix = `${nodePath.basename(indexPath)}.`;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((f) => f.startsWith(prefix) && (f.endsWith('.mirror') || f.includes('.mirror.tmp')))
    .filter((f) => !keep.has(f.slice(prefix.length).split('.')[0]!) || f.includes('.mirror.tmp'))
    .map((f) => nodePath.join(dir, f));
}

type Typed = Uint8Array | Int8Array | Int32Array | Uint32Array | Float32Array | Float64Array;

/**
 * Write `m` (both halves loaded) as the snapshot of `gen`. Returns the bytes written,
 * or 0 when the mirror lacks a half. Errors (a read-only folder, a full disk) propagate.
 */
export function writeSnapshot(file: string, m: Mirror, gen: string, genCreatedAt: string): number {
  if (!m.dense || !m.sparse) return 0;
  const n = m.n;
  const sections: [string, Typed][] = [
    ['alive', m.alive.subarray(0, n)],
    ['rids', m.rids.subarray(0, n)],
    ['dates', m.dates.subarray(0, n)],
  ];
  const columns: Record<string, string[]> = {};
  for (const [f, col] of m.columns) {
    columns[f] = col.values;
    if (col instanceof ManyColumn) {
      sections.push([`${f}.off`, col.off.subarray(0, n + 1)]);
      sections.push([`${f}.pool`, col.pool.subarray(0, col.off[n]!)]);
    } else {
      sections.push([f, col.codes.subarray(0, n)]);
    }
  }
  const { codes, scales, codeBytes } = m.dense.codesOf(n);
  sections.push(['codes', codes], ['scales', scales]);
  const sp = m.sparse.merged(m.alive, n);
  const T = m.sparse.terms.size;
  sections.push(
    ['termIds', m.sparse.terms.ids.subarray(0, T)],
    ['df', m.sparse.df.subarray(0, T)],
    ['postOff', sp.off],
    ['postSlot', sp.slots],
    ['postVal', sp.vals],
  );
  const header: SnapshotHeader = {
    format: FORMAT,
    gen,
    genCreatedAt,
    dim: m.dim,
    n,
    live: m.live,
    dead: m.dead,
    lastSeq: m.lastSeq,
    codeBytes,
    terms: T,
    nnz: sp.slots.length,
    columns,
    sections: {},
    fileBytes: 0,
  };
  // Offsets depend on the header's length, which depends on the offsets: lay out until they fit.
  let json = JSON.stringify(header);
  for (;;) {
    const first = align8(12 + Buffer.byteLength(json) + 256);
    let at = first;
    for (const [name, a] of sections) {
      header.sections[name] = [at, a.byteLength];
      at = align8(at + a.byteLength);
    }
    header.fileBytes = at;
    json = JSON.stringify(header);
    if (12 + Buffer.byteLength(json) <= first) break;
  }
  replaceFile(file, `${file}.tmp${process.pid}`, (fd) => {
    const head = Buffer.alloc(12);
    head.write(MAGIC, 0, 'latin1');
    head.writeUInt32LE(Buffer.byteLength(json), 8);
    fs.writeSync(fd, head, 0, 12, 0);
    fs.writeSync(fd, Buffer.from(json), 0, Buffer.byteLength(json), 12);
    for (const [name, a] of sections) {
      const [off, bytes] = header.sections[name]!;
      if (bytes > 0) fs.writeSync(fd, new Uint8Array(a.buffer, a.byteOffset, bytes), 0, bytes, off);
    }
    fs.ftruncateSync(fd, header.fileBytes);
  });
  return header.fileBytes;
}

function align8(x: number): number {
  return (x + 7) & ~7;
}

/** An open snapshot: its header, and the file to read halves from later. */
export class Snapshot {
  private constructor(
    readonly header: SnapshotHeader,
    private fd: number | undefined,
  ) {}

  /** Open and check a snapshot file; undefined when absent, torn, or of another format. */
  static open(file: string): Snapshot | undefined {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      return undefined;
    }
    try {
      const head = Buffer.alloc(12);
      if (fs.readSync(fd, head, 0, 12, 0) !== 12 || head.toString('latin1', 0, 8) !== MAGIC)
        throw new Error();
      const len = head.readUInt32LE(8);
      const json = Buffer.alloc(len);
      if (fs.readSync(fd, json, 0, len, 12) !== len) throw new Error();
      const header = JSON.parse(json.toString('utf8')) as SnapshotHeader;
      if (header.format !== FORMAT || fs.fstatSync(fd).size !== header.fileBytes) throw new Error();
      return new Snapshot(header, fd);
    } catch {
      fs.closeSync(fd);
      return undefined;
    }
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  get isOpen(): boolean {
    return this.fd !== undefined;
  }

  /** Read a section into `into` (a typed array of exactly its size). */
  private read(name: string, into: Typed): void {
    const [off, bytes] = this.header.sections[name]!;
    if (bytes !== into.byteLength)
      throw new Error(`snapshot section ${name}: ${bytes} bytes, expected ${into.byteLength}`);
    const view = new Uint8Array(into.buffer, into.byteOffset, bytes);
    let done = 0;
    while (done < bytes) {
      const got = fs.readSync(this.fd!, view, done, Math.min(bytes - done, 1 << 30), off + done);
      if (got <= 0) throw new Error(`snapshot section ${name} is short`);
      done += got;
    }
  }

  private bytesOf(name: string): number {
    return this.header.sections[name]![1];
  }

  /** A mirror with the filter columns and slots of the snapshot, and neither half. */
  loadBase(opts: MirrorOptions): Mirror {
    const h = this.header;
    const m = new Mirror(h.dim, h.n + (h.n >> 4) + 64, { ...opts, dense: false, sparse: false });
    m.n = h.n;
    m.live = h.live;
    m.dead = h.dead;
    m.lastSeq = h.lastSeq;
    this.read('alive', m.alive.subarray(0, h.n));
    this.read('rids', m.rids.subarray(0, h.n));
    this.read('dates', m.dates.subarray(0, h.n));
    for (const [f, col] of m.columns) {
      const values = h.columns[f] ?? [];
      if (col instanceof ManyColumn) {
        col.grow(m.cap);
        this.read(`${f}.off`, col.off.subarray(0, h.n + 1));
        col.pool = new Int32Array(Math.max(this.bytesOf(`${f}.pool`) / 4, 16));
        this.read(`${f}.pool`, col.pool.subarray(0, this.bytesOf(`${f}.pool`) / 4));
        col.restore(values);
      } else {
        this.read(f, col.codes.subarray(0, h.n));
        (col as CodedColumn).restore(values);
      }
    }
    for (let s = 0; s < h.n; s++) if (m.alive[s]) m.setRidSlot(m.rids[s]!, s);
    return m;
  }

  /** The dense half of slots [0, header.n) into `m` (rows added since come from the table). */
  loadDense(m: Mirror): void {
    const d = m.newDense();
    const { codes, scales } = d.codesOf(this.header.n);
    this.read('codes', codes);
    this.read('scales', scales);
    m.dense = d;
  }

  /** The sparse half as of the snapshot: slots [0, header.n) in the CSR. */
  loadSparse(m: Mirror): void {
    const h = this.header;
    const sp = new SparseIndex();
    const ids = new Uint32Array(h.terms);
    this.read('termIds', ids);
    for (let t = 0; t < h.terms; t++) sp.terms.intern(ids[t]!);
    sp.df = new Int32Array(Math.max(h.terms, 16));
    this.read('df', sp.df.subarray(0, h.terms));
    sp.postOff = new Int32Array(h.terms + 1);
    this.read('postOff', sp.postOff);
    sp.postSlot = new Int32Array(h.nnz);
    this.read('postSlot', sp.postSlot);
    sp.postVal = new Float32Array(h.nnz);
    this.read('postVal', sp.postVal);
    sp.baseN = h.n;
    m.sparse = sp;
  }

  /** Which slots were live when the snapshot was written. */
  aliveAtSnapshot(): Uint8Array {
    const a = new Uint8Array(this.header.n);
    this.read('alive', a);
    return a;
  }
}
