/**
 * Chunking: a rendered document → chunk texts, deterministically. Every chunk
 * starts with the document's context header; the body is packed along
 * paragraph, then sentence, then word boundaries within a token budget, and
 * neighbouring chunks of long text share `overlap` tokens.
 *
 * Budgets are in estimated model tokens (estimateTokens below), counted the
 * way BERT-family tokenizers split text, so a 256-token budget gives chunks of
 * about 256 model tokens, header included. Pure: same input and settings →
 * same chunks.
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

/**
 * Character classes, one table lookup per UTF-16 code unit: whitespace is
 * exactly what JS `\s` matches (all of it is in the BMP), and a sentence
 * starts with `[\p{Lu}\p{N}]` after an optional opening quote or bracket.
 * SPLIT marks a character that is a token of its own for the token estimate.
 * Astral characters (surrogate pairs) are tested with the regex on the spot.
 */
const SPACE = 1;
const UPPER_OR_DIGIT = 2;
const OPENER = 4;
const SPLIT = 8;
const UPPER_OR_DIGIT_RE = /^[\p{Lu}\p{N}]$/u;
const PUNCTUATION_RE = /^\p{P}$/u;
const CLASS = buildClassTable();

function buildClassTable(): Uint8Array {
  const t = new Uint8Array(65_536);
  for (let c = 0; c < 65_536; c++) {
    if (c >= 0xd800 && c <= 0xdfff) continue;
    const ch = String.fromCharCode(c);
    if (/\s/.test(ch)) t[c]! |= SPACE;
    if (UPPER_OR_DIGIT_RE.test(ch)) t[c]! |= UPPER_OR_DIGIT;
    if (splitsAlone(c, ch)) t[c]! |= SPLIT;
  }
  for (const ch of `"'“‘([`) t[ch.charCodeAt(0)]! |= OPENER;
  return t;
}

/**
 * Whether BERT's basic tokenizer makes the character a token of its own:
 * ASCII punctuation and symbols, any Unicode punctuation, and CJK ideographs
 * (the BMP blocks; an astral one counts as part of a word here).
 */
function splitsAlone(c: number, ch: string): boolean {
  if (c < 128)
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
  return (
    (c >= 0x4e00 && c <= 0x9fff) ||
    (c >= 0x3400 && c <= 0x4dbf) ||
    (c >= 0xf900 && c <= 0xfaff) ||
    PUNCTUATION_RE.test(ch)
  );
}

/**
 * Tokens a run of `n` word characters (no space, no SPLIT character) is
 * estimated at: one, and one more for every 4 code units (or part of 4) past
 * the 8th (WordPiece splits long and rare words into pieces).
 */
function runTokens(n: number): number {
  return n > 8 ? 1 + ((n - 5) >> 2) : 1;
}

/** Whether the character starting at `i` (a surrogate pair counts as one) is `[\p{Lu}\p{N}]`. */
function upperOrDigitAt(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (c < 0xd800 || c > 0xdfff) return (CLASS[c]! & UPPER_OR_DIGIT) !== 0;
  return c <= 0xdbff && UPPER_OR_DIGIT_RE.test(s.slice(i, i + 2));
}

/**
 * One paragraph as word offsets into its text: word k is
 * `text.slice(w[4k], w[4k + 1])`, a maximal run of non-`\s` characters;
 * `w[4k + 2]` counts the gaps before word k that are not exactly one space,
 * so a run of words whose gaps are all single spaces becomes one slice of the
 * text instead of a join of fresh strings; `w[4k + 3]` is the estimated
 * tokens of words 0..k (estimateTokens). One typed array per paragraph.
 */
interface Para {
  text: string;
  n: number;
  w: Int32Array;
}

const STRIDE = 4;
let scratch = new Int32Array(STRIDE * 1024);

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
  let tokens = 0;
  while (n < cap) {
    while (i < len && (CLASS[u[i]!]! & SPACE) !== 0) i++;
    if (i >= len) break;
    const start = i;
    // The word, and its token estimate (estimateTokens) as it goes by.
    let run = 0;
    for (; i < len; i++) {
      const k = CLASS[u[i]!]!;
      if (k === 0 || k === UPPER_OR_DIGIT) {
        run++;
        continue;
      }
      if ((k & SPACE) !== 0) break;
      if ((k & SPLIT) !== 0) {
        if (run > 0) tokens += runTokens(run);
        run = 0;
        tokens++;
      } else run++;
    }
    if (run > 0) tokens += runTokens(run);
    if (prevEnd >= 0 && (start !== prevEnd + 1 || u[prevEnd] !== 32)) bad++;
    if (STRIDE * n + STRIDE > scratch.length) {
      const grown = new Int32Array(scratch.length * 2);
      grown.set(scratch);
      scratch = grown;
    }
    const at = STRIDE * n;
    scratch[at] = start;
    scratch[at + 1] = i;
    scratch[at + 2] = bad;
    scratch[at + 3] = tokens;
    prevEnd = i;
    n++;
  }
  units.release();
  return { text, n, w: scratch.slice(0, STRIDE * n) };
}

/** Estimated tokens of words [from, to) of a paragraph. */
function tokensOf(p: Para, from: number, to: number): number {
  if (to <= from) return 0;
  return p.w[STRIDE * (to - 1) + 3]! - (from > 0 ? p.w[STRIDE * (from - 1) + 3]! : 0);
}

/**
 * Estimated model tokens in `s`, as BERT-family tokenizers (bge, e5, MiniLM)
 * count them: whitespace separates words, every SPLIT character is a token,
 * and each run of other characters is runTokens of its length. Within a few
 * percent of a real WordPiece count on the demo's text
 * (docs/decisions/012-chunk-budget-in-model-tokens.md).
 * The same scan as the chunker's, so the two agree.
 */
export function estimateTokens(s: string): number {
  const p = scanParagraph(s, Infinity);
  return tokensOf(p, 0, p.n);
}

/** Words [from, to) of a paragraph joined by single spaces. */
function wordsText(p: Para, from: number, to: number): string {
  if (to <= from) return '';
  const w = p.w;
  if (w[STRIDE * (to - 1) + 2] === w[STRIDE * from + 2])
    return p.text.slice(w[STRIDE * from], w[STRIDE * (to - 1) + 1]);
  let out = p.text.slice(w[STRIDE * from], w[STRIDE * from + 1]);
  for (let k = from + 1; k < to; k++) out += ` ${p.text.slice(w[STRIDE * k], w[STRIDE * k + 1])}`;
  return out;
}

/** A sentence ends after word k when it ends in . ! ? … and word k + 1 starts a sentence. */
function sentenceEndsAfter(p: Para, k: number): boolean {
  const s = p.text;
  const w = p.w;
  const c = s.charCodeAt(w[STRIDE * k + 1]! - 1);
  if (c !== 46 /* . */ && c !== 33 /* ! */ && c !== 63 /* ? */ && c !== 0x2026 /* … */) return false;
  const a = w[STRIDE * (k + 1)]!;
  if (upperOrDigitAt(s, a)) return true;
  return (
    (CLASS[s.charCodeAt(a)]! & OPENER) !== 0 && a + 1 < w[STRIDE * (k + 1) + 1]! && upperOrDigitAt(s, a + 1)
  );
}

interface Unit {
  text: string;
  tokens: number;
  breakBefore: boolean;
}

/**
 * Split a paragraph's first `count` words into units of at most `max`
 * tokens: sentences, then a longer sentence cut at word boundaries (a single
 * word of more than `max` tokens is a unit of its own).
 */
function pushPieces(p: Para, count: number, max: number, out: Unit[]): void {
  let first = true;
  const emit = (from: number, to: number): void => {
    let i = from;
    while (i < to) {
      let end = i + 1;
      while (end < to && tokensOf(p, i, end + 1) <= max) end++;
      out.push({ text: wordsText(p, i, end), tokens: tokensOf(p, i, end), breakBefore: first });
      first = false;
      i = end;
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
 * Pack units (sentences) into chunks of at most `budget` tokens; each new chunk
 * starts with the trailing units of the previous one up to `overlap` tokens.
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
  let curTokens = 0;
  let fresh = false; // cur holds at least one unit not yet emitted
  for (const u of units) {
    if (fresh && curTokens + u.tokens > budget) {
      chunks.push(join(cur));
      if (chunks.length >= maxChunks) return { chunks, truncated: true };
      // Carry the tail of the emitted chunk into the next one as overlap.
      const carry: Unit[] = [];
      let carried = 0;
      for (let i = cur.length - 1; i > 0; i--) {
        const c = cur[i]!;
        if (carried + c.tokens > overlap) break;
        carry.unshift(c);
        carried += c.tokens;
      }
      cur = carry;
      curTokens = carried;
      fresh = false;
    }
    // Overlap must never stop progress: drop carried units until the new one fits.
    while (!fresh && cur.length > 0 && curTokens + u.tokens > budget) curTokens -= cur.shift()!.tokens;
    cur.push(u);
    curTokens += u.tokens;
    fresh = true;
  }
  if (fresh) chunks.push(join(cur));
  return { chunks, truncated: false };
}

/**
 * How: each paragraph is scanned once into word offsets (one class-table
 * lookup per character); word counts, sentence boundaries and hard splits
 * all work on those offsets, and a run of single-spaced words is one slice of
 * the source text. test/pipeline/chunk.test.ts checks the output is
 * byte-identical to a plain regex-based reference (test/pipeline/chunk-reference.ts).
 */
export function chunkDocument(doc: RenderedDoc, s: ChunkSettings): Chunked {
  const budget = Math.max(16, s.maxTokens - estimateTokens(doc.header));
  const overlap = Math.min(s.overlapTokens, Math.floor(budget / 2));
  // Paragraphs (split at blank lines) as word offsets; empty ones dropped.
  const paragraphs: Para[] = [];
  let total = 0;
  // A word is at least one token: maxChunks chunks hold at most this many words, one more tells "longer".
  const cap = s.maxChunks * budget + 1;
  for (const t of [...doc.fields, ...doc.long]) {
    for (const text of t.split(/\n\s*\n/)) {
      const p = scanParagraph(text, cap);
      if (p.n === 0) continue;
      paragraphs.push(p);
      total += tokensOf(p, 0, p.n);
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
  // maxChunks chunks can hold at most maxChunks * budget tokens of new text: never split more than that
  // (a 10 MB transcript would otherwise be cut into a million sentences only to keep the first few).
  let allowance = s.maxChunks * budget;
  // Words left out here make the record truncated even when what is left packs into fewer chunks.
  let cut = false;
  for (const p of paragraphs) {
    if (allowance <= 0) {
      cut = true;
      break;
    }
    let count = p.n;
    if (tokensOf(p, 0, count) > allowance) {
      count = 0;
      while (count < p.n && tokensOf(p, 0, count + 1) <= allowance) count++;
      // A first word larger than what is left still goes in (as a word always did), then nothing more.
      if (count === 0) count = 1;
      if (count < p.n) cut = true;
    }
    allowance -= tokensOf(p, 0, count);
    pushPieces(p, count, budget, units);
  }
  const { chunks, truncated } = pack(units, budget, overlap, s.maxChunks, `${doc.header}\n\n`);
  return { texts: chunks.length > 0 ? chunks : [doc.header], truncated: truncated || cut };
}

/**
 * Part of every fingerprint; it changes whenever the chunker cuts the same
 * document differently, so that stored chunks are re-made. v3 counts budgets
 * in estimated model tokens.
 */
export const CHUNKER_VERSION = 'v3';

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
  // One string, hashed in one call: for a short record a Hash object fed part by part costs more than
  // the hashing. Every variable part sits between fixed ASCII separators, so the digest equals that of
  // the parts fed one by one (test/pipeline/chunk.test.ts).
  const parts = [
    `${CHUNKER_VERSION}|${modelId}|${sparseVersion}|${s.maxTokens}|${s.overlapTokens}|${s.maxChunks}|`,
    JSON.stringify(payload),
    '\u0000',
    doc.header,
  ];
  for (const f of doc.fields) parts.push('\u0001', f);
  for (const l of doc.long) parts.push('\u0002', l);
  return hash('sha256', parts.join(''), 'base64url').slice(0, 22);
}
