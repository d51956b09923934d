/**
 * Chunking: a rendered document → chunk texts, deterministically. Every chunk
 * starts with the document's context header; the body is packed along
 * paragraph, then sentence, then word boundaries within a token budget, and
 * neighbouring chunks of long text share `overlap` tokens.
 *
 * Tokens are approximated as whitespace-separated words (a word is about 1.3
 * model tokens in English; the 256-word default stays under a 512-token model
 * limit with the header). Pure: same input and settings → same chunks.
 */
import { hash } from 'node:crypto';
import { CodeUnits } from '../encoders/codeUnits.js';
import type { RenderedDoc } from './render.js';

export interface ChunkSettings {
  maxTokens: number;
  overlapTokens: number;
  /** Records longer than this many chunks are cut (a 10 MB field), with a warning from the caller. */
  maxChunks: number;
}

export interface Chunked {
  texts: string[];
  /** True when the record had more text than maxChunks chunks hold. */
  truncated: boolean;
}

/** Words in `s`, split at space, tab, CR and LF only (how the header is measured). */
function headerWordCount(s: string): number {
  let n = 0;
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const space = c === 32 || c === 10 || c === 9 || c === 13;
    if (!space && !inWord) n++;
    inWord = !space;
  }
  return n;
}

/**
 * Character classes, one table lookup per UTF-16 code unit: whitespace is
 * exactly what JS `\s` matches (all of it is in the BMP), and a sentence
 * starts with `[\p{Lu}\p{N}]` after an optional opening quote or bracket.
 * Astral characters (surrogate pairs) are tested with the regex on the spot.
 */
const SPACE = 1;
const UPPER_OR_DIGIT = 2;
const OPENER = 4;
const UPPER_OR_DIGIT_RE = /^[\p{Lu}\p{N}]$/u;
const CLASS = buildClassTable();

function buildClassTable(): Uint8Array {
  const t = new Uint8Array(65_536);
  for (let c = 0; c < 65_536; c++) {
    if (c >= 0xd800 && c <= 0xdfff) continue;
    const ch = String.fromCharCode(c);
    if (/\s/.test(ch)) t[c]! |= SPACE;
    if (UPPER_OR_DIGIT_RE.test(ch)) t[c]! |= UPPER_OR_DIGIT;
  }
  for (const ch of `"'“‘([`) t[ch.charCodeAt(0)]! |= OPENER;
  return t;
}

/** Whether the character starting at `i` (a surrogate pair counts as one) is `[\p{Lu}\p{N}]`. */
function upperOrDigitAt(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (c < 0xd800 || c > 0xdfff) return (CLASS[c]! & UPPER_OR_DIGIT) !== 0;
  return c <= 0xdbff && UPPER_OR_DIGIT_RE.test(s.slice(i, i + 2));
}

/**
 * One paragraph as word offsets into its text: word k is
 * `text.slice(w[3k], w[3k + 1])`, a maximal run of non-`\s` characters, and
 * `w[3k + 2]` counts the gaps before word k that are not exactly one space,
 * so a run of words whose gaps are all single spaces becomes one slice of the
 * text instead of a join of fresh strings. One typed array per paragraph.
 */
interface Para {
  text: string;
  n: number;
  w: Int32Array;
}

let scratch = new Int32Array(3 * 1024);

/** Whether the code unit is `\s`; printable ASCII (the common case) is decided without the table. */
function isSpace(c: number): boolean {
  if (c > 32 && c < 127) return false;
  return c === 32 || (CLASS[c]! & SPACE) !== 0;
}

/** The chunker's copy of the paragraph being scanned (scanning a typed array is ~2x faster than charCodeAt). */
const units = new CodeUnits();

/**
 * The paragraph's first `cap` words. Scanning stops at the cap, so a 10 MB
 * field is copied (at memcpy speed) but not scanned whole.
 */
function scanParagraph(text: string, cap: number): Para {
  const len = text.length;
  const u = units.load(text);
  let n = 0;
  let bad = 0;
  let i = 0;
  let prevEnd = -1;
  while (n < cap) {
    while (i < len && isSpace(u[i]!)) i++;
    if (i >= len) break;
    const start = i;
    while (i < len && !isSpace(u[i]!)) i++;
    if (prevEnd >= 0 && (start !== prevEnd + 1 || u[prevEnd] !== 32)) bad++;
    if (3 * n + 3 > scratch.length) {
      const grown = new Int32Array(scratch.length * 2);
      grown.set(scratch);
      scratch = grown;
    }
    scratch[3 * n] = start;
    scratch[3 * n + 1] = i;
    scratch[3 * n + 2] = bad;
    prevEnd = i;
    n++;
  }
  units.release();
  return { text, n, w: scratch.slice(0, 3 * n) };
}

/** Words [from, to) of a paragraph joined by single spaces. */
function wordsText(p: Para, from: number, to: number): string {
  if (to <= from) return '';
  const w = p.w;
  if (w[3 * (to - 1) + 2] === w[3 * from + 2]) return p.text.slice(w[3 * from], w[3 * (to - 1) + 1]);
  let out = p.text.slice(w[3 * from], w[3 * from + 1]);
  for (let k = from + 1; k < to; k++) out += ` ${p.text.slice(w[3 * k], w[3 * k + 1])}`;
  return out;
}

/** A sentence ends after word k when it ends in . ! ? … and word k + 1 starts a sentence. */
function sentenceEndsAfter(p: Para, k: number): boolean {
  const s = p.text;
  const w = p.w;
  const c = s.charCodeAt(w[3 * k + 1]! - 1);
  if (c !== 46 /* . */ && c !== 33 /* ! */ && c !== 63 /* ? */ && c !== 0x2026 /* … */) return false;
  const a = w[3 * (k + 1)]!;
  if (upperOrDigitAt(s, a)) return true;
  return (CLASS[s.charCodeAt(a)]! & OPENER) !== 0 && a + 1 < w[3 * (k + 1) + 1]! && upperOrDigitAt(s, a + 1);
}

interface Unit {
  text: string;
  words: number;
  breakBefore: boolean;
}

/** Split a paragraph's first `count` words into units of at most `max` words: sentences, then hard word splits. */
function pushPieces(p: Para, count: number, max: number, out: Unit[]): void {
  let first = true;
  const emit = (from: number, to: number): void => {
    // A sentence longer than the budget is cut every `max` words.
    for (let i = from; i < to; i += max) {
      const end = Math.min(to, i + max);
      out.push({ text: wordsText(p, i, end), words: end - i, breakBefore: first });
      first = false;
    }
  };
  let start = 0;
  for (let i = 0; i < count - 1; i++) {
    if (sentenceEndsAfter(p, i)) {
      emit(start, i + 1);
      start = i + 1;
    }
  }
  if (start < count) emit(start, count);
}

/**
 * Pack units (sentences) into chunks of at most `budget` words; each new chunk
 * starts with the trailing units of the previous one up to `overlap` words.
 * Each chunk is `prefix` and its units joined into one flat string (the
 * header joined later would be a rope that every reader flattens again).
 */
function pack(
  units: Unit[],
  budget: number,
  overlap: number,
  maxChunks: number,
  prefix: string,
): { chunks: string[]; truncated: boolean } {
  const join = (us: Unit[]): string => {
    const parts: string[] = [prefix];
    for (let i = 0; i < us.length; i++) {
      if (i > 0) parts.push(us[i]!.breakBefore ? '\n\n' : ' ');
      parts.push(us[i]!.text);
    }
    return parts.join('');
  };
  const chunks: string[] = [];
  let cur: Unit[] = [];
  let curWords = 0;
  let fresh = false; // cur holds at least one unit not yet emitted
  for (const u of units) {
    if (fresh && curWords + u.words > budget) {
      chunks.push(join(cur));
      if (chunks.length >= maxChunks) return { chunks, truncated: true };
      // Carry the tail of the emitted chunk into the next one as overlap.
      const carry: Unit[] = [];
      let carried = 0;
      for (let i = cur.length - 1; i > 0; i--) {
        const c = cur[i]!;
        if (carried + c.words > overlap) break;
        carry.unshift(c);
        carried += c.words;
      }
      cur = carry;
      curWords = carried;
      fresh = false;
    }
    // Overlap must never stop progress: drop carried units until the new one fits.
    while (!fresh && cur.length > 0 && curWords + u.words > budget) curWords -= cur.shift()!.words;
    cur.push(u);
    curWords += u.words;
    fresh = true;
  }
  if (fresh) chunks.push(join(cur));
  return { chunks, truncated: false };
}

/**
 * How: each paragraph is scanned once into word offsets (one class-table
 * lookup per character); word counts, sentence boundaries and hard splits
 * all work on those offsets, and a run of single-spaced words is one slice of
 * the source text. The first version rescanned the text with a regex and
 * three counting passes; the second split every paragraph into word strings
 * and joined them again. test/pipeline/chunk.test.ts checks the output is
 * byte-identical to the first version's.
 */
export function chunkDocument(doc: RenderedDoc, s: ChunkSettings): Chunked {
  const headerWords = headerWordCount(doc.header);
  const budget = Math.max(16, s.maxTokens - headerWords);
  const overlap = Math.min(s.overlapTokens, Math.floor(budget / 2));
  // Paragraphs (split at blank lines) as word offsets; empty ones dropped.
  const paragraphs: Para[] = [];
  let total = 0;
  // One word more than maxChunks chunks can hold: enough to tell "longer than that" and to cut there.
  const cap = s.maxChunks * budget + 1;
  for (const t of [...doc.fields, ...doc.long]) {
    for (const text of t.split(/\n\s*\n/)) {
      const p = scanParagraph(text, cap);
      if (p.n === 0) continue;
      paragraphs.push(p);
      total += p.n;
    }
  }
  // Fast path: most records (people, organizations, deals, short notes) fit in one chunk.
  if (total <= budget) {
    return {
      texts: [[doc.header, ...paragraphs.map((p) => wordsText(p, 0, p.n))].join('\n\n')],
      truncated: false,
    };
  }
  const units: Unit[] = [];
  // maxChunks chunks can hold at most maxChunks * budget new words: never split more text than that
  // (a 10 MB transcript would otherwise be cut into a million sentences only to keep the first few).
  let allowance = s.maxChunks * budget;
  for (const p of paragraphs) {
    if (allowance <= 0) break;
    const count = Math.min(p.n, allowance);
    allowance -= count;
    pushPieces(p, count, budget, units);
  }
  const { chunks, truncated } = pack(units, budget, overlap, s.maxChunks, `${doc.header}\n\n`);
  return { texts: chunks.length > 0 ? chunks : [doc.header], truncated };
}

/**
 * A document's fingerprint: everything that changes what would be stored for
 * it. The rendered document (chunking is a pure function of it and the
 * settings), the payload with entity ids, the chunker settings, the embedder
 * model and the encoder versions (ARCHITECTURE.md "Document"): a model or
 * chunker change re-embeds everything. Hashing the document rather than its
 * chunks lets the sweep check a record without chunking it.
 */
export function fingerprint(
  doc: Pick<RenderedDoc, 'header' | 'fields' | 'long'>,
  payload: unknown,
  s: ChunkSettings,
  modelId: string,
  sparseVersion: string,
): string {
  // One string, hashed in one call: for a short record the Hash object and one update per part cost
  // more than the hashing (about 19 µs a record in all). Every variable part sits between fixed ASCII
  // separators, so the UTF-8 of the whole equals the parts' UTF-8 back to back, as updated before.
  const parts = [
    `v2|${modelId}|${sparseVersion}|${s.maxTokens}|${s.overlapTokens}|${s.maxChunks}|`,
    JSON.stringify(payload),
    '\u0000',
    doc.header,
  ];
  for (const f of doc.fields) parts.push('\u0001', f);
  for (const l of doc.long) parts.push('\u0002', l);
  return hash('sha256', parts.join(''), 'base64url').slice(0, 22);
}
