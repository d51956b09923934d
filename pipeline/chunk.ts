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
import { createHash } from 'node:crypto';
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

/** A sentence ends after a word ending in . ! ? … when the next word starts a sentence (capital or digit). */
const SENTENCE_START = /^["'“‘(\[]?[\p{Lu}\p{N}]/u;

function endsSentence(word: string): boolean {
  const c = word.charCodeAt(word.length - 1);
  return c === 46 /* . */ || c === 33 /* ! */ || c === 63 /* ? */ || c === 0x2026; /* … */
}

/** Paragraphs longer than this are read word by word, up to the cap, instead of split whole. */
const SPLIT_WHOLE_MAX_CHARS = 200_000;
const WORD = /\S+/g;

/**
 * A paragraph's first `cap` words: whitespace runs collapsed, none empty (the
 * text is `words.join(' ')`). A 10 MB field is not split into a million
 * strings only to keep the first few thousand.
 */
function paragraphWords(p: string, cap: number): string[] {
  if (p.length <= SPLIT_WHOLE_MAX_CHARS) {
    const ws = p.split(/\s+/);
    if (ws.length > 0 && ws[ws.length - 1] === '') ws.pop();
    if (ws.length > 0 && ws[0] === '') ws.shift();
    return ws.length > cap ? ws.slice(0, cap) : ws;
  }
  const ws: string[] = [];
  WORD.lastIndex = 0;
  for (let m = WORD.exec(p); m && ws.length < cap; m = WORD.exec(p)) ws.push(m[0]);
  return ws;
}

interface Unit {
  text: string;
  words: number;
  breakBefore: boolean;
}

/** Split one paragraph's words into units of at most `max` words: sentences, then hard word splits. */
function pushPieces(ws: string[], max: number, out: Unit[]): void {
  let first = true;
  const emit = (from: number, to: number): void => {
    // A sentence longer than the budget is cut every `max` words.
    for (let i = from; i < to; i += max) {
      const end = Math.min(to, i + max);
      out.push({ text: ws.slice(i, end).join(' '), words: end - i, breakBefore: first });
      first = false;
    }
  };
  let start = 0;
  for (let i = 0; i < ws.length - 1; i++) {
    if (endsSentence(ws[i]!) && SENTENCE_START.test(ws[i + 1]!)) {
      emit(start, i + 1);
      start = i + 1;
    }
  }
  if (start < ws.length) emit(start, ws.length);
}

/**
 * Pack units (sentences) into chunks of at most `budget` words; each new chunk
 * starts with the trailing units of the previous one up to `overlap` words.
 */
function pack(
  units: Unit[],
  budget: number,
  overlap: number,
  maxChunks: number,
): { chunks: string[]; truncated: boolean } {
  const join = (us: Unit[]): string =>
    us.map((u, i) => (i === 0 ? '' : u.breakBefore ? '\n\n' : ' ') + u.text).join('');
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
 * How: each paragraph is split into its words once; word counts, sentence
 * boundaries and hard splits all work on that array (the first version
 * rescanned the text with a regex and three counting passes, and spent more
 * time there than in BM25). test/pipeline/chunk.test.ts checks the output is
 * byte-identical to that version's.
 */
export function chunkDocument(doc: RenderedDoc, s: ChunkSettings): Chunked {
  const headerWords = headerWordCount(doc.header);
  const budget = Math.max(16, s.maxTokens - headerWords);
  const overlap = Math.min(s.overlapTokens, Math.floor(budget / 2));
  // Paragraphs (split at blank lines) as word arrays; empty ones dropped.
  const paragraphs: string[][] = [];
  let total = 0;
  // One word more than maxChunks chunks can hold: enough to tell "longer than that" and to cut there.
  const cap = s.maxChunks * budget + 1;
  for (const t of [...doc.fields, ...doc.long]) {
    for (const p of t.split(/\n\s*\n/)) {
      const ws = paragraphWords(p, cap);
      if (ws.length === 0) continue;
      paragraphs.push(ws);
      total += ws.length;
    }
  }
  // Fast path: most records (people, organizations, deals, short notes) fit in one chunk.
  if (total <= budget) {
    const body = paragraphs.map((ws) => ws.join(' ')).join('\n\n');
    return { texts: [body === '' ? doc.header : `${doc.header}\n\n${body}`], truncated: false };
  }
  const units: Unit[] = [];
  // maxChunks chunks can hold at most maxChunks * budget new words: never split more text than that
  // (a 10 MB transcript would otherwise be cut into a million sentences only to keep the first few).
  let allowance = s.maxChunks * budget;
  for (const whole of paragraphs) {
    if (allowance <= 0) break;
    const ws = whole.length > allowance ? whole.slice(0, allowance) : whole;
    allowance -= ws.length;
    pushPieces(ws, budget, units);
  }
  const { chunks, truncated } = pack(units, budget, overlap, s.maxChunks);
  const bodies = chunks.length > 0 ? chunks : [''];
  return { texts: bodies.map((b) => (b === '' ? doc.header : `${doc.header}\n\n${b}`)), truncated };
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
  const h = createHash('sha256');
  h.update(`v2|${modelId}|${sparseVersion}|${s.maxTokens}|${s.overlapTokens}|${s.maxChunks}|`);
  h.update(JSON.stringify(payload));
  h.update('\u0000');
  h.update(doc.header);
  for (const f of doc.fields) {
    h.update('\u0001');
    h.update(f);
  }
  for (const l of doc.long) {
    h.update('\u0002');
    h.update(l);
  }
  return h.digest('base64url').slice(0, 22);
}
