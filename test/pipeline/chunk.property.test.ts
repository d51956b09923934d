/**
 * The chunker's invariants, by property over random documents (words of every
 * class the token estimate knows, any whitespace, words longer than a chunk):
 * no chunk exceeds the budget unless it holds a single word, no word is ever
 * cut, and the chunks cover the whole text in order, each one starting inside
 * or right after the previous one.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunkDocument, estimateTokens, type ChunkSettings } from '../../pipeline/chunk.js';
import type { RenderedDoc } from '../../pipeline/render.js';
import { propertyParams } from '../helpers/property.js';

const word = fc.oneof(
  { weight: 6, arbitrary: fc.stringMatching(/^[a-z]{1,12}$/) },
  { weight: 3, arbitrary: fc.stringMatching(/^[A-Z][a-z]{0,8}[.!?…]?$/) },
  { weight: 1, arbitrary: fc.stringMatching(/^[“("']?[A-Z0-9][a-z]{0,6}[,;:]?$/) },
  { weight: 1, arbitrary: fc.stringMatching(/^\$?[0-9]{1,6}([.,][0-9]{1,3})?%?$/) },
  { weight: 1, arbitrary: fc.stringMatching(/^[a-z]{1,6}@[a-z]{1,6}\.(com|io)$/) },
  { weight: 1, arbitrary: fc.stringMatching(/^https:\/\/[a-z]{2,8}\.com(\/[a-z0-9_-]{1,10}){0,12}$/) },
  { weight: 1, arbitrary: fc.stringMatching(/^[\u4e00-\u4e20]{1,6}$/) },
  { weight: 1, arbitrary: fc.constantFrom('🙂', 'naïve', 'Ünïcödé', 'ἀλήθεια', '—', '…') },
  // Longer than most budgets: up to about 50 estimated tokens in one word.
  { weight: 1, arbitrary: fc.stringMatching(/^[a-z]{30,200}$/) },
);
const gap = fc.constantFrom(
  ' ',
  ' ',
  ' ',
  '  ',
  '\t',
  '\n',
  '\n\n',
  ' \n \n ',
  '\u00a0',
  '\u3000',
  '\r\n\r\n',
);

/** A text: words with random whitespace between and around them ('medium': often tens of words). */
const text = (maxWords: number) =>
  fc
    .tuple(fc.array(fc.tuple(word, gap), { maxLength: maxWords, size: 'medium' }), gap, fc.boolean())
    .map(([parts, lead, withLead]) => (withLead ? lead : '') + parts.map(([w, g]) => w + g).join(''));

const doc = fc.record({
  header: fc.array(word, { minLength: 1, maxLength: 8 }).map((ws) => ws.join(' ')),
  fields: fc.array(text(12), { maxLength: 3 }),
  long: fc.array(text(300), { maxLength: 3 }),
});

const settings = fc
  .record({ maxTokens: fc.integer({ min: 8, max: 200 }), overlap: fc.integer({ min: 0, max: 200 }) })
  .map(({ maxTokens, overlap }) => ({ maxTokens, overlapTokens: overlap, maxChunks: 100_000 }));

function rendered(d: { header: string; fields: string[]; long: string[] }): RenderedDoc {
  return {
    recordKey: 'notes:1',
    table: 'notes',
    title: 't',
    ...d,
    payload: { kind: null, stage: null, organization_id: null, date: null, owner: null },
  };
}

const wordsOf = (s: string): string[] => s.split(/\s+/).filter((w) => w !== '');

/**
 * Where each chunk's words sit in the document's words: every chunk must be a
 * contiguous run that starts after the previous chunk's start and no later than
 * its end, and ends after its end; the first starts at 0, the last ends at the
 * last word. Runs can match in several places when words repeat, so this keeps
 * every placement consistent so far. Returns a message for the first violation.
 */
function coverageProblem(docWords: string[], chunks: string[][]): string | null {
  const at = (c: string[], s: number) => c.every((w, i) => docWords[s + i] === w);
  let states = new Map<string, [number, number]>();
  for (let k = 0; k < chunks.length; k++) {
    const c = chunks[k]!;
    if (c.length === 0) return `chunk ${k} has no words`;
    const next = new Map<string, [number, number]>();
    const tryAt = (s: number, prevEnd: number) => {
      const e = s + c.length;
      if (e > prevEnd && e <= docWords.length && at(c, s)) next.set(`${s},${e}`, [s, e]);
    };
    if (k === 0) tryAt(0, 0);
    else for (const [ps, pe] of states.values()) for (let s = ps + 1; s <= pe; s++) tryAt(s, pe);
    if (next.size === 0) return `chunk ${k} is not the document's words in order after chunk ${k - 1}`;
    states = next;
  }
  const end = chunks.length === 0 ? 0 : Math.max(...[...states.values()].map(([, e]) => e));
  return end === docWords.length ? null : `the chunks end at word ${end} of ${docWords.length}`;
}

describe('chunkDocument (property)', () => {
  it('never exceeds the budget unless a chunk is one word, never cuts a word, covers all the text', () => {
    fc.assert(
      fc.property(doc, settings, (d, s: ChunkSettings) => {
        const { texts, truncated } = chunkDocument(rendered(d), s);
        expect(truncated).toBe(false);
        const headerTokens = estimateTokens(d.header);
        const budget = Math.max(16, s.maxTokens - headerTokens);
        const bodies: string[][] = [];
        for (const t of texts) {
          expect(t.startsWith(d.header)).toBe(true);
          const body = t.slice(d.header.length);
          const words = wordsOf(body);
          if (words.length > 0) expect(body.startsWith('\n\n')).toBe(true);
          // The budget is the chunk's less its header's (at least 16); only a lone longer word may pass it.
          if (words.length > 1) expect(estimateTokens(t)).toBeLessThanOrEqual(headerTokens + budget);
          if (words.length > 0) bodies.push(words);
        }
        const docWords = [...d.fields, ...d.long].flatMap(wordsOf);
        if (docWords.length === 0) expect(texts).toEqual([d.header]);
        expect(coverageProblem(docWords, bodies)).toBeNull();
      }),
      propertyParams(300),
    );
  });

  it('keeps at most maxChunks chunks, and says it cut the record exactly when it left words out', () => {
    fc.assert(
      fc.property(doc, settings, fc.integer({ min: 1, max: 4 }), (d, s, maxChunks) => {
        // The uncut chunks hold every word (the property above); the cut ones differ exactly when they lost some.
        const full = chunkDocument(rendered(d), s).texts;
        const cut = chunkDocument(rendered(d), { ...s, maxChunks });
        expect(cut.texts.length).toBeLessThanOrEqual(maxChunks);
        const same = cut.texts.length === full.length && cut.texts.every((t, i) => t === full[i]);
        expect(cut.truncated).toBe(!same);
        // Whatever is kept is whole words of the document, in its order (a cut may leave a gap).
        const docWords = [...d.fields, ...d.long].flatMap(wordsOf);
        for (const t of cut.texts) {
          let at = 0;
          for (const w of wordsOf(t.slice(d.header.length))) {
            while (at < docWords.length && docWords[at] !== w) at++;
            expect(at, `"${w}" is not a word of the document`).toBeLessThan(docWords.length);
            at++;
          }
        }
      }),
      propertyParams(200),
    );
  });
});
