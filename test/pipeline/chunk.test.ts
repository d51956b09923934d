/**
 * The chunker: behaviour (budget, overlap, headers, boundaries, the cut for
 * huge records, determinism) and byte-identical output to the reference
 * chunker (chunk-reference.ts) on thousands of random documents with nasty
 * whitespace and punctuation.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  CHUNKER_VERSION,
  chunkDocument,
  estimateTokens,
  fingerprint,
  type ChunkSettings,
} from '../../pipeline/chunk.js';
import type { RenderedDoc } from '../../pipeline/render.js';
import { mulberry32 } from '../../crm/demo/rng.js';
import { referenceChunkDocument } from './chunk-reference.js';

const S: ChunkSettings = { maxTokens: 64, overlapTokens: 8, maxChunks: 50 };

function doc(
  long: string[],
  fields: string[] = [],
  header = 'Interaction: Board meeting | Organization: Acme',
): RenderedDoc {
  return {
    recordKey: 'interactions:1',
    table: 'interactions',
    title: 'Board meeting',
    header,
    fields,
    long,
    payload: { kind: null, stage: null, organization_id: null, date: null, owner: null },
  };
}

const wordsIn = (s: string): number => s.split(/\s+/).filter((w) => w !== '').length;

describe('chunkDocument', () => {
  it('keeps a short record in one chunk: header, blank line, fields and text with whitespace folded', () => {
    const r = chunkDocument(
      doc(['Notes:  raised   a seed\tround.\n\n\nNext  steps: hire.'], ['Kind: meeting']),
      S,
    );
    expect(r).toEqual({
      texts: [
        'Interaction: Board meeting | Organization: Acme\n\nKind: meeting\n\nNotes: raised a seed round.\n\nNext steps: hire.',
      ],
      truncated: false,
    });
  });

  it('gives an empty record its header alone', () => {
    expect(chunkDocument(doc([' \n\n \t'], []), S).texts).toEqual([
      'Interaction: Board meeting | Organization: Acme',
    ]);
  });

  it('splits long text at sentence boundaries within the budget, every chunk headed, with overlap', () => {
    const sentences = Array.from({ length: 40 }, (_, i) => `Line number ${i} talks about the pilot.`);
    const r = chunkDocument(doc([sentences.join(' ')]), S);
    expect(r.truncated).toBe(false);
    expect(r.texts.length).toBeGreaterThan(3);
    const header = 'Interaction: Board meeting | Organization: Acme';
    // The header is estimated at 10 tokens (its colons and bar are tokens of their own, and its two words
    // of more than 8 letters count 2 each), each sentence at 8 (with its period).
    expect(estimateTokens(header)).toBe(10);
    expect(estimateTokens(sentences[0]!)).toBe(8);
    const budget = S.maxTokens - estimateTokens(header);
    for (const t of r.texts) {
      expect(t.startsWith(`${header}\n\n`)).toBe(true);
      const body = t.slice(header.length + 2);
      expect(estimateTokens(body)).toBeLessThanOrEqual(budget);
      expect(estimateTokens(t)).toBeLessThanOrEqual(S.maxTokens);
      // Whole sentences only.
      expect(body).toMatch(/^Line number \d+ .*pilot\.$/s);
    }
    // Neighbouring chunks share the last sentence (8 tokens <= 8 overlap).
    for (let i = 1; i < r.texts.length; i++) {
      const prevLast = r.texts[i - 1]!.split('. ').at(-1)!.replace(/\.$/, '');
      expect(r.texts[i]).toContain(prevLast);
    }
    // Every sentence is somewhere.
    for (const s of sentences) expect(r.texts.some((t) => t.includes(s))).toBe(true);
  });

  it('cuts a sentence longer than the budget between words, every piece within the budget', () => {
    const long = Array.from({ length: 200 }, (_, i) => `w${i}`).join(' ');
    const r = chunkDocument(doc([long], [], 'H'), { maxTokens: 50, overlapTokens: 0, maxChunks: 50 });
    expect(r.texts.map((t) => wordsIn(t.slice(3)))).toEqual([49, 49, 49, 49, 4]);
    expect(r.texts.map((t) => t.slice(3)).join(' ')).toBe(long);
  });

  it('estimates model tokens the way BERT-family tokenizers split text', () => {
    expect(estimateTokens('')).toBe(0);
    expect(estimateTokens('  hello \t world\n')).toBe(2);
    // Punctuation and ASCII symbols are tokens of their own, splitting the word around them.
    expect(estimateTokens('e-mail')).toBe(3);
    expect(estimateTokens('$1,250,000')).toBe(6);
    expect(estimateTokens('https://example.com/a?b=1')).toBe(13);
    expect(estimateTokens('“Quoted”')).toBe(3);
    // Long runs are WordPiece-split: one more token per 4 code units (or part of 4) past the 8th.
    expect(estimateTokens('internal')).toBe(1);
    expect(estimateTokens('internals')).toBe(2);
    expect(estimateTokens('internationalization')).toBe(4);
    // CJK ideographs count one each; an astral character is part of its word.
    expect(estimateTokens('中文')).toBe(2);
    expect(estimateTokens('emoji🎉')).toBe(1);
  });

  it('keeps chunks of URL- and number-heavy text within the token budget, where counting words did not', () => {
    const rng = mulberry32(9);
    const parts = [
      'See https://docs.example.com/q3/report?id=42',
      'Wire $1,250,000.00',
      'Ping ceo@acme.io',
      'Ok',
    ];
    const sentences = Array.from(
      { length: 120 },
      () => `${parts[Math.floor(rng() * parts.length)]!}, then ${parts[Math.floor(rng() * parts.length)]!}.`,
    );
    const settings = { maxTokens: 64, overlapTokens: 8, maxChunks: 100 };
    const r = chunkDocument(doc([sentences.join(' ')]), settings);
    expect(r.truncated).toBe(false);
    for (const t of r.texts) expect(estimateTokens(t)).toBeLessThanOrEqual(settings.maxTokens);
    // The same text by words would have packed several times as much into each chunk.
    const words = r.texts.map((t) => wordsIn(t));
    expect(Math.max(...words)).toBeLessThan(settings.maxTokens / 2);
    for (const s2 of sentences) expect(r.texts.some((t) => t.includes(s2))).toBe(true);
  });

  it('never cuts inside a word: one larger than the budget is a piece of its own', () => {
    const word = `https://example.com/${'segment/'.repeat(40)}end`;
    expect(estimateTokens(word)).toBeGreaterThan(64);
    const r = chunkDocument(doc([`Before the link. ${word} After the link.`], [], 'H'), {
      maxTokens: 64,
      overlapTokens: 0,
      maxChunks: 50,
    });
    expect(r.texts.filter((t) => t.includes(word))).toHaveLength(1);
    expect(r.texts.join(' ')).toContain('Before the link.');
    expect(r.texts.join(' ')).toContain('After the link.');
  });

  it('stops at maxChunks and says so, without splitting the rest of a huge field', () => {
    const huge = 'All work and no play makes a dull deal memo. '.repeat(200_000); // ~9 MB
    const t0 = performance.now();
    const r = chunkDocument(doc([huge]), { maxTokens: 64, overlapTokens: 8, maxChunks: 20 });
    expect(r.truncated).toBe(true);
    expect(r.texts).toHaveLength(20);
    // Not a timing assertion of the product: a guard that the cut happens before splitting 9 MB.
    expect(performance.now() - t0).toBeLessThan(20_000);
  });

  it('cuts a huge paragraph the same way as the reference chunker, word by word past 200,000 characters', () => {
    const rng = mulberry32(5);
    const words = ['Deal.', 'memo', 'about', 'the', 'Board', 'vote?', '“Yes”', 'and', 'no…', 'More'];
    for (const size of [50_000, 90_000]) {
      let body = '';
      for (let i = 0; i < size; i++)
        body += words[Math.floor(rng() * words.length)] + (rng() < 0.1 ? '\t ' : ' ');
      expect(body.length).toBeGreaterThan(200_000);
      for (const settings of [
        { maxTokens: 64, overlapTokens: 8, maxChunks: 3 },
        { maxTokens: 40, overlapTokens: 5, maxChunks: 2_000 },
      ]) {
        const d = doc([`Lead: ${body}`, 'Short tail paragraph.'], ['Kind: memo']);
        expect(chunkDocument(d, settings)).toEqual(referenceChunkDocument(d, settings));
      }
    }
  });

  it('is deterministic and the fingerprint ignores nothing that changes the chunks', () => {
    const d = doc(['Alpha beta. Gamma delta.'], ['Kind: call']);
    expect(chunkDocument(d, S)).toEqual(chunkDocument(structuredClone(d), S));
    const fp = (x: RenderedDoc, s = S) => fingerprint(x, { a: 1 }, s, 'm', 'v');
    expect(fp(d)).toBe(fp(structuredClone(d)));
    expect(fp(d)).not.toBe(fp(doc(['Alpha beta. Gamma delta!'], ['Kind: call'])));
    expect(fp(d)).not.toBe(fp(d, { ...S, overlapTokens: 9 }));
  });

  it('hashes the parts in one call with the same digest as hashing each part in turn', () => {
    // The reference feeds each part to one Hash. A digest that changed without a chunker version
    // change would re-embed every record for nothing; CHUNKER_VERSION is where such a change is meant.
    const reference = (
      x: RenderedDoc,
      payload: unknown,
      s: ChunkSettings,
      model: string,
      version: string,
    ) => {
      const h = createHash('sha256');
      h.update(`${CHUNKER_VERSION}|${model}|${version}|${s.maxTokens}|${s.overlapTokens}|${s.maxChunks}|`);
      h.update(JSON.stringify(payload));
      h.update('\u0000');
      h.update(x.header);
      for (const f of x.fields) {
        h.update('\u0001');
        h.update(f);
      }
      for (const l of x.long) {
        h.update('\u0002');
        h.update(l);
      }
      return h.digest('base64url').slice(0, 22);
    };
    const docs = [
      doc(['Alpha beta. Gamma delta.'], ['Kind: call']),
      doc([], []),
      doc(
        ['Ünïcödé 𝐁old “quoted” 杨磊', 'lone \ud800 high', '\udc00 lone low', ''],
        ['', 'Name: Ωmega\u0000'],
      ),
      doc(['x'.repeat(100_000)], ['Stage: won']),
    ];
    for (const x of docs) {
      for (const payload of [{ a: 1 }, { title: 'Ünï', entity_ids: ['p:1', 'o:2'] }, null]) {
        expect(fingerprint(x, payload, S, 'model-é', 'bm25-v1')).toBe(
          reference(x, payload, S, 'model-é', 'bm25-v1'),
        );
      }
    }
  });
});

describe('chunkDocument matches the reference chunker byte for byte', () => {
  const pieces = [
    'Met',
    'the',
    'founders',
    'Acme',
    '“Quoted',
    '(Parenthetical',
    '"Hello',
    "'single",
    '42',
    'Ünïcödé',
    'ÉCOLE',
    '𝐁old',
    'end.',
    'stop!',
    'why?',
    'trail…',
    'mid.dle',
    'x',
    '',
    'emoji🎉',
    'دمشق',
    '中文。',
    '[Bracketed',
    '‘Curly',
    '(',
    '"',
    '“9',
    '(𝐁',
    '.',
  ];
  const spaces = [
    ' ',
    ' ',
    ' ',
    '  ',
    '\t',
    '\n',
    '\n\n',
    '\n \n',
    '\u00a0',
    '\u2003',
    '\r\n',
    '\u3000',
    ' \u00a0 ',
    '\ufeff',
    '\u2028',
    '\v',
    '\f',
    '\u1680',
    '\u202f',
  ];

  it('on 3,000 random documents with odd whitespace and punctuation', () => {
    const rng = mulberry32(31);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;
    const text = (n: number): string => {
      let s = rng() < 0.2 ? pick(spaces) : '';
      for (let i = 0; i < n; i++) s += pick(pieces) + pick(spaces);
      return s;
    };
    for (let i = 0; i < 3000; i++) {
      const size = rng() < 0.5 ? Math.floor(rng() * 60) : Math.floor(rng() * 900);
      const d = doc(
        Array.from({ length: 1 + Math.floor(rng() * 3) }, () => text(size)),
        Array.from({ length: Math.floor(rng() * 3) }, () => `Field: ${text(Math.floor(rng() * 12))}`),
        `Interaction: ${text(1 + Math.floor(rng() * 6))}`,
      );
      const settings: ChunkSettings = {
        maxTokens: 16 + Math.floor(rng() * 120),
        overlapTokens: Math.floor(rng() * 40),
        maxChunks: 1 + Math.floor(rng() * 12),
      };
      expect(chunkDocument(d, settings), `document ${i}`).toEqual(referenceChunkDocument(d, settings));
    }
  });
});
