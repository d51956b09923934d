/**
 * A plain chunker (one regex pass and several counting passes per paragraph),
 * the reference the word-array chunker in pipeline/chunk.ts must match byte
 * for byte: stored chunks are not re-embedded when only the chunker's speed
 * changes, so its output must not. It counts estimated model tokens from the
 * definition, one word and one character at a time.
 */
import type { ChunkSettings, Chunked } from '../../pipeline/chunk.js';
import type { RenderedDoc } from '../../pipeline/render.js';

const SENTENCE_END = /(?<=[.!?…])\s+(?=["'“‘(\[]?[\p{Lu}\p{N}])/u;

/** Whether a code unit is a token of its own: ASCII punctuation and symbols, Unicode punctuation, BMP CJK ideographs. */
function alone(ch: string): boolean {
  const c = ch.charCodeAt(0);
  if (c < 128) return /[!-/:-@[-`{-~]/.test(ch);
  if ((c >= 0x4e00 && c <= 0x9fff) || (c >= 0x3400 && c <= 0x4dbf) || (c >= 0xf900 && c <= 0xfaff))
    return true;
  return c < 0xd800 || c > 0xdfff ? /\p{P}/u.test(ch) : false;
}

/** Estimated tokens of one whitespace-free word: its lone characters, plus each run between them. */
function wordTokens(w: string): number {
  // A run of other characters: one token, plus one per 4 characters (or part of 4) past the 8th.
  const runCost = (len: number): number => (len === 0 ? 0 : len > 8 ? 1 + Math.ceil((len - 8) / 4) : 1);
  let n = 0;
  let run = 0;
  for (const ch of w.split('')) {
    if (alone(ch)) {
      n += runCost(run) + 1;
      run = 0;
    } else run++;
  }
  return n + runCost(run);
}

function tokens(s: string): number {
  return s
    .split(/\s+/)
    .filter((w) => w !== '')
    .reduce((n, w) => n + wordTokens(w), 0);
}

/** The prefix of `s` holding the words that fit in `n` tokens (at least its first word). */
function cutAfterTokens(s: string, n: number): string {
  const ws = s.split(/\s+/).filter((w) => w !== '');
  let used = 0;
  let k = 0;
  while (k < ws.length && (k === 0 || used + wordTokens(ws[k]!) <= n)) used += wordTokens(ws[k++]!);
  return ws.slice(0, k).join(' ');
}

/** Split one paragraph into pieces of at most `max` tokens: sentences, then cuts between words. */
function pieces(paragraph: string, max: number): string[] {
  const out: string[] = [];
  for (const sentence of paragraph.split(SENTENCE_END)) {
    const s = sentence.trim();
    if (s === '') continue;
    if (tokens(s) <= max) {
      out.push(s);
      continue;
    }
    let cur: string[] = [];
    for (const w of s.split(/\s+/)) {
      if (cur.length > 0 && tokens(cur.join(' ')) + wordTokens(w) > max) {
        out.push(cur.join(' '));
        cur = [];
      }
      cur.push(w);
    }
    if (cur.length > 0) out.push(cur.join(' '));
  }
  return out;
}

/**
 * Pack units (sentences) into chunks of at most `budget` tokens; each new chunk
 * starts with the trailing units of the previous one up to `overlap` tokens.
 */
function pack(
  units: { text: string; tokens: number; breakBefore: boolean }[],
  budget: number,
  overlap: number,
  maxChunks: number,
): { chunks: string[]; truncated: boolean } {
  type Unit = (typeof units)[number];
  const join = (us: Unit[]): string =>
    us.map((u, i) => (i === 0 ? '' : u.breakBefore ? '\n\n' : ' ') + u.text).join('');
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

export function referenceChunkDocument(doc: RenderedDoc, s: ChunkSettings): Chunked {
  const budget = Math.max(16, s.maxTokens - tokens(doc.header));
  const overlap = Math.min(s.overlapTokens, Math.floor(budget / 2));
  // Fast path: most records (people, organizations, deals, short notes) fit in one chunk.
  // Same shape as the general path: paragraphs joined by a blank line, whitespace folded.
  const paragraphs = [...doc.fields, ...doc.long]
    .flatMap((t) => t.split(/\n\s*\n/))
    .map((p) => p.replace(/\s+/g, ' ').trim())
    .filter((p) => p !== '');
  let total = 0;
  for (const p of paragraphs) total += tokens(p);
  if (total <= budget) {
    const body = paragraphs.join('\n\n');
    return { texts: [body === '' ? doc.header : `${doc.header}\n\n${body}`], truncated: false };
  }
  const units: { text: string; tokens: number; breakBefore: boolean }[] = [];
  // maxChunks chunks can hold at most maxChunks * budget new tokens: never split more text than that
  // (a 10 MB transcript would otherwise be cut into a million sentences only to keep the first few).
  let allowance = s.maxChunks * budget;
  let cut = false; // words left out: truncated, however few chunks the rest packs into
  for (const whole of paragraphs) {
    if (allowance <= 0) {
      cut = true;
      break;
    }
    const p = cutAfterTokens(whole, allowance);
    if (tokens(p) < tokens(whole)) cut = true;
    allowance -= tokens(p);
    let first = true;
    for (const piece of pieces(p, budget)) {
      units.push({ text: piece, tokens: tokens(piece), breakBefore: first });
      first = false;
    }
  }
  const { chunks, truncated } = pack(units, budget, overlap, s.maxChunks);
  const bodies = chunks.length > 0 ? chunks : [''];
  return {
    texts: bodies.map((b) => (b === '' ? doc.header : `${doc.header}\n\n${b}`)),
    truncated: truncated || cut,
  };
}
