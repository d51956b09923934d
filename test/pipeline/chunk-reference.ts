/**
 * The first chunker (one regex pass and several word-count passes per
 * paragraph), kept as the reference the faster word-array chunker in
 * pipeline/chunk.ts must match byte for byte: stored chunks are not
 * re-embedded when only the chunker's speed changes, so its output must not.
 */
import type { ChunkSettings, Chunked } from '../../pipeline/chunk.js';
import type { RenderedDoc } from '../../pipeline/render.js';

const SENTENCE_END = /(?<=[.!?…])\s+(?=["'“‘(\[]?[\p{Lu}\p{N}])/u;

function words(s: string): number {
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

/** The prefix of `s` holding its first `n` words (all of `s` when it has fewer). */
function cutAfterWords(s: string, n: number): string {
  let count = 0;
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const space = c === 32 || c === 10 || c === 9 || c === 13;
    if (!space && !inWord) {
      if (count === n) return s.slice(0, i).trimEnd();
      count++;
    }
    inWord = !space;
  }
  return s;
}

/** Split one paragraph into pieces of at most `max` words: sentences, then hard word splits. */
function pieces(paragraph: string, max: number): string[] {
  const out: string[] = [];
  for (const sentence of paragraph.split(SENTENCE_END)) {
    const s = sentence.trim();
    if (s === '') continue;
    if (words(s) <= max) {
      out.push(s);
      continue;
    }
    const ws = s.split(/\s+/);
    for (let i = 0; i < ws.length; i += max) out.push(ws.slice(i, i + max).join(' '));
  }
  return out;
}

/**
 * Pack units (sentences) into chunks of at most `budget` words; each new chunk
 * starts with the trailing units of the previous one up to `overlap` words.
 */
function pack(
  units: { text: string; words: number; breakBefore: boolean }[],
  budget: number,
  overlap: number,
  maxChunks: number,
): { chunks: string[]; truncated: boolean } {
  type Unit = (typeof units)[number];
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

export function referenceChunkDocument(doc: RenderedDoc, s: ChunkSettings): Chunked {
  const headerWords = words(doc.header);
  const budget = Math.max(16, s.maxTokens - headerWords);
  const overlap = Math.min(s.overlapTokens, Math.floor(budget / 2));
  // Fast path: most records (people, organizations, deals, short notes) fit in one chunk.
  // Same shape as the general path: paragraphs joined by a blank line, whitespace folded.
  const paragraphs = [...doc.fields, ...doc.long]
    .flatMap((t) => t.split(/\n\s*\n/))
    .map((p) => p.replace(/\s+/g, ' ').trim())
    .filter((p) => p !== '');
  let total = 0;
  for (const p of paragraphs) total += words(p);
  if (total <= budget) {
    const body = paragraphs.join('\n\n');
    return { texts: [body === '' ? doc.header : `${doc.header}\n\n${body}`], truncated: false };
  }
  const units: { text: string; words: number; breakBefore: boolean }[] = [];
  // maxChunks chunks can hold at most maxChunks * budget new words: never split more text than that
  // (a 10 MB transcript would otherwise be cut into a million sentences only to keep the first few).
  let allowance = s.maxChunks * budget;
  for (const whole of paragraphs) {
    if (allowance <= 0) break;
    const p = cutAfterWords(whole, allowance);
    allowance -= words(p);
    let first = true;
    for (const piece of pieces(p, budget)) {
      units.push({ text: piece, words: words(piece), breakBefore: first });
      first = false;
    }
  }
  const { chunks, truncated } = pack(units, budget, overlap, s.maxChunks);
  const bodies = chunks.length > 0 ? chunks : [''];
  return { texts: bodies.map((b) => (b === '' ? doc.header : `${doc.header}\n\n${b}`)), truncated };
}
