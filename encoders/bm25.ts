/**
 * BM25 sparse vectors identical to fastembed's `Qdrant/bm25` model (see
 * ../shared/reference/BM25.md, summarised in docs/encoders.md), plus the
 * tokenizer the local dense embedder shares.
 *
 * Invariant: for any text, `encodeDocument` returns exactly the ids and TF
 * weights fastembed computes, so an index written by the Python tools and
 * one written here can be mixed; `encodeQuery` returns the distinct ids with
 * value 1 (the server applies IDF).
 *
 * Speed (target 25,000 chunks of ~300 words per second per core) comes from:
 * one character-table scan per text over a copy of its code units (see
 * codeUnits.ts), lowercasing as it goes (no lowered copy, no regex per
 * token), and a cache from raw token to a small "stem slot" so each distinct
 * token is filtered, stemmed and hashed once; per document we only count
 * slots in a reusable Int32Array.
 */
import { createRequire } from 'node:module';
import murmurhash from 'murmurhash';
import { CodeUnits } from './codeUnits.js';
import { ENGLISH_STOPWORD_SET } from './stopwords.js';
import type { SparseEncoder, SparseVector } from './types.js';

/** fastembed `Qdrant/bm25` parameters; changing any breaks compatibility with existing indexes. */
export const BM25_K = 1.2;
export const BM25_B = 0.75;
export const BM25_AVG_LEN = 256;
export const BM25_TOKEN_MAX_LENGTH = 40;

/** Part of every document fingerprint: bump it if the vectors this module produces ever change. */
export const BM25_VERSION = 'bm25-fastembed-qdrant-1';

/**
 * Distinct raw tokens kept in the cache before it is cleared. CRM text holds
 * many one-off tokens (ids, phone numbers, emails); 500k entries is ~50 MB and
 * far above a normal English vocabulary, so clearing is rare and cheap.
 */
const DEFAULT_MAX_CACHED_TOKENS = 500_000;
/** Token-cache hash table: int32s per cell, and the starting cell count (a power of two; it doubles as needed). */
const CELL = 4;
const INITIAL_CELLS = 1 << 14;
/** Code units of cached tokens, initially (grows by doubling). */
const KEY_CHARS_INITIAL = 1 << 16;

// ------------------------------------------------------------ tokenizer

/**
 * Word characters are `[\p{L}\p{N}_]`, the same set as Python's `\w` that
 * fastembed splits on. The BMP is classified once into a table so the scan
 * never runs a regex; astral code points (rare) are tested on the spot.
 */
const WORD_CHAR = /^[\p{L}\p{N}_]$/u;
const BMP_WORD = buildBmpTable();

/**
 * For the scan that lowercases as it goes: LOWER[c] is `c` lowercased, and
 * LOWER_WORD[c] says whether that is a word character (1) or not (0), or
 * that `c` must go the exact way (2): a surrogate, U+0130 (whose lowercase is
 * two code units) and U+03A3 (Σ, whose lowercase depends on its neighbours).
 * Every other BMP code unit lowercases to one code unit on its own, so
 * lowercasing it in place equals `toLowerCase` of the whole text.
 */
const LOWER = new Uint16Array(65_536);
const LOWER_WORD = new Uint8Array(65_536);
const EXACT_ONLY = 2;
for (let c = 0; c < 65_536; c++) {
  const l = c >= 0xd800 && c <= 0xdfff ? '' : String.fromCharCode(c).toLowerCase();
  if (l.length !== 1 || c === 0x3a3) {
    LOWER_WORD[c] = EXACT_ONLY;
    continue;
  }
  LOWER[c] = l.charCodeAt(0);
  LOWER_WORD[c] = BMP_WORD[LOWER[c]!]!;
}

function buildBmpTable(): Uint8Array {
  const t = new Uint8Array(65_536);
  for (let c = 0; c < 65_536; c++) {
    // Lone surrogates are never word characters; pairs are handled by the scanner.
    if (c >= 0xd800 && c <= 0xdfff) continue;
    if (WORD_CHAR.test(String.fromCharCode(c))) t[c] = 1;
  }
  return t;
}

/** Length in code units of the word character at `i`, or 0 when it is not one. */
function wordCharAt(s: string, i: number, c: number): number {
  if (c < 0xd800 || c > 0xdfff) return BMP_WORD[c]!;
  if (c <= 0xdbff && i + 1 < s.length) {
    const d = s.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) {
      return WORD_CHAR.test(s.slice(i, i + 2)) ? 2 : 0;
    }
  }
  return 0;
}

/**
 * Calls `onToken(start, end)` for each maximal run of word characters in `s`
 * (which the caller has already lowercased). Exported for the local embedder,
 * which must split text exactly like BM25 does.
 */
export function scanTokens(s: string, onToken: (start: number, end: number) => void): void {
  const n = s.length;
  let i = 0;
  while (i < n) {
    let w = wordCharAt(s, i, s.charCodeAt(i));
    if (w === 0) {
      i++;
      continue;
    }
    const start = i;
    do {
      i += w;
      if (i >= n) break;
      w = wordCharAt(s, i, s.charCodeAt(i));
    } while (w !== 0);
    onToken(start, i);
  }
}

/** The tokens of `text`: lowercased, split on non-word characters (`/[\p{L}\p{N}_]+/gu`). */
export function tokenize(text: string): string[] {
  const lower = text.toLowerCase();
  const out: string[] = [];
  scanTokens(lower, (s, e) => out.push(lower.slice(s, e)));
  return out;
}

/** Code points in `s`, counting a surrogate pair once (Python's `len`). */
function codePointLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

// ------------------------------------------------------------ ids and stems

/** `abs(murmur3_x86_32(utf8(stem), seed 0))` with the hash read as signed int32, as fastembed does. */
export function tokenId(stem: string): number {
  // murmurhash.v3 hashes the UTF-8 bytes (TextEncoder) and returns the unsigned value.
  return Math.abs(murmurhash.v3(stem, 0) | 0);
}

interface Stemmer {
  stem(word: string): string;
}

/** Snowball English 2.x (Porter2); snowball-stemmers 0.6.0 matches libstemmer 2.2 (see BM25.md). */
function newEnglishStemmer(): Stemmer {
  // The package is CommonJS without types; require keeps its shape explicit here.
  const require = createRequire(import.meta.url);
  const mod = require('snowball-stemmers') as { newStemmer(lang: string): Stemmer };
  return mod.newStemmer('english');
}

/** What fastembed does to one raw (lowercased) token: its stem, or null when the token is dropped. */
export function stemToken(token: string, stemmer: Stemmer): string | null {
  if (token === '_') return null; // the only punctuation character a word-run token can be
  if (ENGLISH_STOPWORD_SET.has(token)) return null;
  if (token.length > BM25_TOKEN_MAX_LENGTH && codePointLength(token) > BM25_TOKEN_MAX_LENGTH) return null;
  const stem = stemmer.stem(token);
  return stem === '' ? null : stem;
}

// ------------------------------------------------------------ encoder

export interface Bm25Options {
  /** Distinct raw tokens cached before the cache is cleared (default 500,000). */
  maxCachedTokens?: number;
}

export class Bm25Encoder implements SparseEncoder {
  readonly version = BM25_VERSION;

  private readonly stemmer = newEnglishStemmer();
  private readonly maxCachedTokens: number;
  /**
   * Raw token cache as an open-addressing hash table keyed by the token's
   * UTF-16 code units, hashed during the scan: looking a token up costs no
   * substring allocation and no Map string hashing, the largest costs of a
   * Map keyed by token strings. Each cell is four int32s
   * [hash, length, slot, entry + 1] so a probe touches one cache line; the
   * key's code units (keyChars) are only read to confirm a match. slot is -1 when fastembed
   * drops the token; entry + 1 is 0 for an empty cell.
   */
  private table = new Int32Array(INITIAL_CELLS * CELL);
  /**
   * Every cached token's code units, back to back (entry e's start is
   * keyStart[e]): a match is confirmed by comparing code units in place,
   * cheaper than `startsWith` on a string.
   */
  private keyChars = new Uint16Array(KEY_CHARS_INITIAL);
  private keyCharsUsed = 0;
  private keyStart: number[] = [];
  /** stem -> slot; several raw tokens share a stem. */
  private stemSlot = new Map<string, number>();
  private slotId: number[] = [];
  /** 1 when another cached stem has the same id; only then does a document need the slow path. */
  private slotCollides: number[] = [];
  private idSlot = new Map<number, number>();
  /** Per-document occurrence counts by slot; zero between documents. */
  private counts = new Int32Array(4096);
  /** The current document's distinct slots, in first-occurrence order. */
  private touched = new Int32Array(1024);
  /** The text being scanned, as code units. */
  private readonly units = new CodeUnits();
  private docLen = 0;

  constructor(opts: Bm25Options = {}) {
    this.maxCachedTokens = opts.maxCachedTokens ?? DEFAULT_MAX_CACHED_TOKENS;
  }

  encodeDocument(text: string): SparseVector {
    const k = this.count(text);
    const touched = this.touched;
    const len = this.docLen;
    const indices = new Array<number>(k);
    const values = new Array<number>(k);
    // Same expression and operation order as fastembed, so the float64 results are bit-identical.
    const norm = BM25_K * (1 - BM25_B + (BM25_B * len) / BM25_AVG_LEN);
    let collides = false;
    for (let t = 0; t < k; t++) {
      const slot = touched[t]!;
      const n = this.counts[slot]!;
      this.counts[slot] = 0;
      indices[t] = this.slotId[slot]!;
      values[t] = (n * (BM25_K + 1)) / (n + norm);
      if (this.slotCollides[slot] === 1) collides = true;
    }
    return collides ? mergeCollisions(indices, values) : { indices, values };
  }

  encodeQuery(text: string): SparseVector {
    const k = this.count(text);
    const seen = new Set<number>();
    const indices: number[] = [];
    for (let t = 0; t < k; t++) {
      const slot = this.touched[t]!;
      this.counts[slot] = 0;
      const id = this.slotId[slot]!;
      if (!seen.has(id)) {
        seen.add(id);
        indices.push(id);
      }
    }
    return { indices, values: indices.map(() => 1) };
  }

  /**
   * Fills `counts` for `text` and `touched` with its distinct slots in
   * first-occurrence order; returns how many. Lowercases as it scans (no
   * lowered copy of every text); a text with a character that lowercases
   * differently in context goes the exact way instead.
   */
  private count(text: string): number {
    if (this.keyStart.length > this.maxCachedTokens) this.clearCache();
    const k = this.countInPlace(text);
    return k >= 0 ? k : this.countLowered(text.toLowerCase());
  }

  /** Slot `slot` seen once more; `k` slots touched so far; returns the new k. */
  private touch(slot: number, k: number): number {
    const counts = this.counts;
    if (counts[slot] === 0) {
      if (k === this.touched.length) {
        const grown = new Int32Array(k * 2);
        grown.set(this.touched);
        this.touched = grown;
      }
      this.touched[k++] = slot;
    }
    counts[slot] = counts[slot]! + 1;
    return k;
  }

  /**
   * The scan of `scanTokens` inlined, over `text` lowercased one code unit at
   * a time (LOWER), with an FNV-1a hash of each token accumulated as its
   * characters go by. Returns -1, with nothing counted, at the first code
   * unit that needs the exact way (LOWER_WORD is EXACT_ONLY).
   */
  private countInPlace(text: string): number {
    const u = this.units.load(text);
    let k = 0;
    let docLen = 0;
    const n = text.length;
    let i = 0;
    while (i < n) {
      let c = u[i]!;
      let w = LOWER_WORD[c]!;
      if (w !== 1) {
        if (w === EXACT_ONLY) return this.abandon(k);
        i++;
        continue;
      }
      const start = i;
      let h = 0x811c9dc5 | 0;
      for (;;) {
        h = Math.imul(h ^ LOWER[c]!, 0x01000193);
        if (++i >= n) break;
        c = u[i]!;
        w = LOWER_WORD[c]!;
        if (w !== 1) break;
      }
      if (w === EXACT_ONLY) return this.abandon(k);
      const slot = this.lookup(u, start, i, h, true, text);
      if (slot < 0) continue;
      k = this.touch(slot, k);
      docLen++;
    }
    this.units.release();
    this.docLen = docLen;
    return k;
  }

  /** Undo a scan that met a character needing the exact way: the first `k` touched slots back to zero. */
  private abandon(k: number): number {
    for (let t = 0; t < k; t++) this.counts[this.touched[t]!] = 0;
    this.units.release();
    return -1;
  }

  /**
   * The same scan over an already lowercased text `s` (any text: surrogate
   * pairs included). Kept apart from countInPlace, whose loop it mirrors: one
   * loop for both would test the mode or the surrogate range on every code
   * unit of the common path.
   */
  private countLowered(s: string): number {
    const u = this.units.load(s);
    let k = 0;
    let docLen = 0;
    const n = s.length;
    let i = 0;
    while (i < n) {
      let c = u[i]!;
      let w = c < 0xd800 || c > 0xdfff ? BMP_WORD[c]! : wordCharAt(s, i, c);
      if (w === 0) {
        i++;
        continue;
      }
      const start = i;
      let h = 0x811c9dc5 | 0;
      for (;;) {
        h = Math.imul(h ^ c, 0x01000193);
        if (w === 2) h = Math.imul(h ^ u[i + 1]!, 0x01000193);
        i += w;
        if (i >= n) break;
        c = u[i]!;
        w = c < 0xd800 || c > 0xdfff ? BMP_WORD[c]! : wordCharAt(s, i, c);
        if (w === 0) break;
      }
      const slot = this.lookup(u, start, i, h, false, s);
      if (slot < 0) continue;
      k = this.touch(slot, k);
      docLen++;
    }
    this.units.release();
    this.docLen = docLen;
    return k;
  }

  /**
   * The slot of the token at u[start, end) (mapped through LOWER when
   * `lower`, which is then what `toLowerCase` gives for it), learning it on
   * first sight; `text` is the string `u` holds.
   */
  private lookup(
    u: Uint16Array,
    start: number,
    end: number,
    h: number,
    lower: boolean,
    text: string,
  ): number {
    const table = this.table;
    const mask = table.length / CELL - 1;
    const len = end - start;
    let p = h & mask;
    for (;;) {
      const b = p * CELL;
      const e = table[b + 3]!;
      if (e === 0) break;
      if (table[b] === h && table[b + 1] === len) {
        const chars = this.keyChars;
        const at = this.keyStart[e - 1]!;
        let j = 0;
        if (lower) while (j < len && LOWER[u[start + j]!] === chars[at + j]) j++;
        else while (j < len && u[start + j] === chars[at + j]) j++;
        if (j === len) return table[b + 2]!;
      }
      p = (p + 1) & mask;
    }
    const tok = text.slice(start, end);
    return this.learn(lower ? tok.toLowerCase() : tok, h, p);
  }

  /** First sighting of a raw token: filter, stem and hash it once; `p` is its empty table cell. */
  private learn(tok: string, h: number, p: number): number {
    const stem = stemToken(tok, this.stemmer);
    let slot = -1;
    if (stem !== null) {
      const known = this.stemSlot.get(stem);
      if (known !== undefined) {
        slot = known;
      } else {
        slot = this.slotId.length;
        const id = tokenId(stem);
        this.stemSlot.set(stem, slot);
        this.slotId.push(id);
        const other = this.idSlot.get(id);
        if (other === undefined) {
          this.idSlot.set(id, slot);
          this.slotCollides.push(0);
        } else {
          this.slotCollides[other] = 1;
          this.slotCollides.push(1);
        }
        if (slot >= this.counts.length) {
          const grown = new Int32Array(this.counts.length * 2);
          grown.set(this.counts);
          this.counts = grown;
        }
      }
    }
    if (this.keyCharsUsed + tok.length > this.keyChars.length) {
      const grown = new Uint16Array(Math.max(2 * this.keyChars.length, this.keyCharsUsed + tok.length));
      grown.set(this.keyChars);
      this.keyChars = grown;
    }
    this.keyStart.push(this.keyCharsUsed);
    for (let j = 0; j < tok.length; j++) this.keyChars[this.keyCharsUsed++] = tok.charCodeAt(j);
    const b = p * CELL;
    this.table[b] = h;
    this.table[b + 1] = tok.length;
    this.table[b + 2] = slot;
    this.table[b + 3] = this.keyStart.length;
    // Keep the table at most half full so probe chains stay short.
    if (this.keyStart.length * 2 * CELL > this.table.length) this.rehash();
    return slot;
  }

  private rehash(): void {
    const old = this.table;
    const table = new Int32Array(old.length * 2);
    const mask = table.length / CELL - 1;
    for (let ob = 0; ob < old.length; ob += CELL) {
      if (old[ob + 3] === 0) continue;
      let p = old[ob]! & mask;
      while (table[p * CELL + 3] !== 0) p = (p + 1) & mask;
      table.set(old.subarray(ob, ob + CELL), p * CELL);
    }
    this.table = table;
  }

  private clearCache(): void {
    this.table = new Int32Array(INITIAL_CELLS * CELL);
    this.keyChars = new Uint16Array(KEY_CHARS_INITIAL);
    this.keyCharsUsed = 0;
    this.keyStart = [];
    this.stemSlot = new Map();
    this.slotId = [];
    this.slotCollides = [];
    this.idSlot = new Map();
    this.counts = new Int32Array(4096);
  }

  /** Distinct raw tokens currently cached (for tests and metrics). */
  get cachedTokens(): number {
    return this.keyStart.length;
  }
}

/**
 * Two stems with one id: fastembed fills a dict keyed by id in first-occurrence
 * order of the stems, so the id keeps its first position and the later stem's
 * value overwrites the earlier one.
 */
export function mergeCollisions(indices: number[], values: number[]): SparseVector {
  const pos = new Map<number, number>();
  const outI: number[] = [];
  const outV: number[] = [];
  for (let i = 0; i < indices.length; i++) {
    const id = indices[i]!;
    const p = pos.get(id);
    if (p === undefined) {
      pos.set(id, outI.length);
      outI.push(id);
      outV.push(values[i]!);
    } else {
      outV[p] = values[i]!;
    }
  }
  return { indices: outI, values: outV };
}
