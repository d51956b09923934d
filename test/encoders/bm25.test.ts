/**
 * BM25 must equal fastembed's `Qdrant/bm25` vectors exactly. Golden values
 * come from Chroma's published test of its TypeScript port of the model
 * (whose ids its maintainers checked against Python `mmh3` and their Rust
 * port); the rest are cases built from the spec in docs/encoders.md, with
 * murmur3 recomputed here independently over UTF-8 bytes.
 */
import { describe, expect, it } from 'vitest';
import { BM25_VERSION, Bm25Encoder, mergeCollisions, tokenId, tokenize } from '../../encoders/bm25.js';
import { ENGLISH_STOPWORDS } from '../../encoders/stopwords.js';

/** Reference murmur3_x86_32 (seed 0) over bytes, written from the published algorithm. */
function murmur3(bytes: Uint8Array): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = 0;
  const tail = bytes.length & ~3;
  const k = (x: number) => {
    x = Math.imul(x, c1);
    x = (x << 15) | (x >>> 17);
    return Math.imul(x, c2);
  };
  for (let i = 0; i < tail; i += 4) {
    const w = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    h ^= k(w);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rest = bytes.length & 3;
  if (rest > 0) {
    let r = 0;
    if (rest === 3) r ^= bytes[tail + 2]! << 16;
    if (rest >= 2) r ^= bytes[tail + 1]! << 8;
    r ^= bytes[tail]!;
    h ^= k(r);
  }
  h ^= bytes.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0; // signed, as Python's mmh3.hash returns it
}
const refId = (stem: string) => Math.abs(murmur3(Buffer.from(stem, 'utf8')));

const K = 1.2;
const B = 0.75;
const tf = (n: number, len: number) => (n * (K + 1)) / (n + K * (1 - B + (B * len) / 256));
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

describe('Bm25Encoder golden values (Chroma published test vectors)', () => {
  const enc = new Bm25Encoder();

  it('encodes the Usain Bolt sentence to 12 ids each weighted 1.6391153', () => {
    const v = enc.encodeDocument("Usain Bolt's top speed reached ~27.8 mph (44.72 km/h)");
    expect(sorted(v.indices)).toEqual([
      230246813, 395514983, 458027949, 488165615, 729632045, 734978415, 997512866, 1114505193, 1381820790,
      1501587190, 1649421877, 1837285388,
    ]);
    for (const x of v.values) expect(x).toBeCloseTo(1.6391153, 6);
  });

  it('encodes the space-time sentence (stopwords, hyphens, dots) to 7 ids each weighted 1.660867', () => {
    const v = enc.encodeDocument('The   space-time   continuum   WARPS   near   massive   objects...');
    expect(sorted(v.indices)).toEqual([
      90097469, 519064992, 737893654, 1110755108, 1950894484, 2031641008, 2058513491,
    ]);
    for (const x of v.values) expect(x).toBeCloseTo(1.660867, 6);
  });

  it('gives non-ASCII words the ids Python mmh3 gives their UTF-8 stems', () => {
    const cases: [string, number][] = [
      ['café', 605818632],
      ['naïve', 756638508],
      ['Müller', 1613901631],
      ['Español', 589134877],
      ['日本語', 1515949417],
      ['Привет', 993413998],
    ];
    for (const [word, id] of cases)
      expect({ word, ids: enc.encodeDocument(word).indices }).toEqual({ word, ids: [id] });
  });

  it('hashes foo to 156908512 (signed murmur3 -156908512, then abs)', () => {
    expect(murmur3(Buffer.from('foo'))).toBe(-156908512);
    expect(tokenId('foo')).toBe(156908512);
    expect(enc.encodeDocument('foo').indices).toEqual([156908512]);
  });

  it('names its version for fingerprints', () => {
    expect(enc.version).toBe(BM25_VERSION);
  });
});

describe('Bm25Encoder token ids', () => {
  it('hashes the UTF-8 bytes of stems, including 2-, 3- and 4-byte characters', () => {
    for (const stem of [
      'é',
      'naïv',
      'straße',
      'привет',
      '日本語',
      '𠀀𠀁',
      'x𝐀y',
      'ab',
      'abc',
      'abcd',
      'abcde',
    ]) {
      expect({ stem, id: tokenId(stem) }).toEqual({ stem, id: refId(stem) });
    }
  });

  it('reads the hash as signed before abs, so ids stay below 2^31', () => {
    const words = [
      'alpha',
      'beta',
      'gamma',
      'delta',
      'epsilon',
      'zeta',
      'eta',
      'theta',
      'iota',
      'kappa',
      'foo',
    ];
    // The unsigned hash of some of these is >= 2^31; abs of the unsigned value would exceed int32.
    expect(words.some((w) => murmur3(Buffer.from(w)) < 0)).toBe(true);
    for (const w of words) expect(tokenId(w)).toBe(Math.abs(murmur3(Buffer.from(w))));
    for (const w of words) expect(tokenId(w)).toBeLessThan(2 ** 31);
  });
});

describe('Bm25Encoder tokens', () => {
  const enc = new Bm25Encoder();
  const ids = (text: string) => enc.encodeDocument(text).indices;

  it('has the 179 NLTK English stopwords, without duplicates', () => {
    expect(ENGLISH_STOPWORDS.length).toBe(179);
    expect(new Set(ENGLISH_STOPWORDS).size).toBe(179);
  });

  it('drops stopwords and leaves them out of the document length', () => {
    expect(enc.encodeDocument('The and of a an, to it.')).toEqual({ indices: [], values: [] });
    const v = enc.encodeDocument('the cat is on the mat');
    expect(v.indices).toEqual([refId('cat'), refId('mat')]);
    expect(v.values).toEqual([tf(1, 2), tf(1, 2)]);
  });

  it('splits on apostrophes, so possessives and contractions lose their stopword parts', () => {
    expect(ids("Bolt's")).toEqual([refId('bolt')]);
    expect(ids("don't won't")).toEqual([]);
    expect(ids("O'Brien")).toEqual([refId('brien')]);
  });

  it('drops a lone underscore but keeps underscores inside tokens', () => {
    expect(ids('_')).toEqual([]);
    expect(ids('_ foo_bar __')).toEqual([refId('foo_bar'), refId('__')]);
  });

  it('drops tokens longer than 40 code points, counting astral characters once', () => {
    expect(ids('a'.repeat(40))).toEqual([refId('a'.repeat(40))]);
    expect(ids('a'.repeat(41))).toEqual([]);
    const astral21 = '𠀀'.repeat(21); // 42 UTF-16 units, 21 code points: kept
    expect(astral21.length).toBe(42);
    expect(ids(astral21)).toEqual([refId(astral21)]);
    expect(ids('𠀀'.repeat(41))).toEqual([]);
    // Long tokens do not count toward the document length either.
    expect(enc.encodeDocument(`cat ${'z'.repeat(50)}`).values).toEqual([tf(1, 1)]);
  });

  it('stems with Snowball English, so inflections share an id', () => {
    expect(ids('running')).toEqual([refId('run')]);
    expect(ids('generously')).toEqual([refId('generous')]);
    expect(ids('caresses')).toEqual([refId('caress')]);
    expect(ids('Running runs')).toEqual([refId('run')]);
  });

  it('lowercases before splitting, including non-ASCII capitals', () => {
    expect(ids('ÉCOLE École école')).toEqual(ids('école'));
    expect(enc.encodeDocument('ÉCOLE École école').values).toEqual([tf(3, 3)]);
  });

  it('treats punctuation, symbols, emoji and lone surrogates as separators', () => {
    expect(ids('cat🐈dog')).toEqual([refId('cat'), refId('dog')]);
    expect(ids('cat\uD800dog\uDC00bird')).toEqual([refId('cat'), refId('dog'), refId('bird')]);
    expect(ids('cat\0dog')).toEqual([refId('cat'), refId('dog')]);
    expect(ids('')).toEqual([]);
  });

  it('splits exactly like /[\\p{L}\\p{N}_]+/gu over the lowercased text', () => {
    // Seeded random strings over ASCII, Latin-1, Cyrillic, CJK, astral letters, digits, marks and surrogates.
    const alphabet = [
      'a',
      'Z',
      '_',
      ' ',
      "'",
      '-',
      '7',
      'é',
      'Ω',
      'ж',
      '日',
      '²',
      '\u0301',
      '𠀀',
      '😀',
      '\uD800',
      '\uDC00',
      'İ',
      '.',
    ];
    let seed = 12345;
    const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let t = 0; t < 500; t++) {
      let s = '';
      const n = Math.floor(rand() * 30);
      for (let i = 0; i < n; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
      const expected = [...s.toLowerCase().matchAll(/[\p{L}\p{N}_]+/gu)].map((m) => m[0]);
      expect({ s, tokens: tokenize(s) }).toEqual({ s, tokens: expected });
    }
  });
});

describe('Bm25Encoder lowercasing in place', () => {
  /**
   * An independent reference for a whole document: tokens of the whole text
   * lowercased at once (so Σ gets its word-final form from its neighbours),
   * each token's id from encoding it alone, then counts and the TF formula.
   */
  const reference = (enc: Bm25Encoder, text: string) => {
    const kept: number[] = [];
    for (const m of text.toLowerCase().matchAll(/[\p{L}\p{N}_]+/gu)) {
      const one = enc.encodeDocument(m[0]).indices;
      if (one.length === 1) kept.push(one[0]!);
    }
    const counts = new Map<number, number>();
    for (const id of kept) counts.set(id, (counts.get(id) ?? 0) + 1);
    return {
      indices: [...counts.keys()],
      values: [...counts.values()].map((n) => tf(n, kept.length)),
    };
  };

  it('equals lowercasing the whole text first, for cased letters of many scripts', () => {
    // Σ lowercases to σ or word-final ς depending on its neighbours, İ to two code units; the
    // rest lowercase one code unit at a time. Separators include NBSP and U+FEFF (\s, and FEFF is
    // case-ignorable), marks and an astral capital (Deseret), so both scan paths are exercised.
    const alphabet = [
      'A',
      'x',
      'Σ',
      'σ',
      'ς',
      'İ',
      'I',
      'ı',
      'Ω',
      'Ж',
      'ẞ',
      'Ǆ',
      'ǅ',
      'Ⅻ',
      'É',
      'é',
      '\u0301',
      '𐐀',
      ' ',
      '\u00a0',
      '\ufeff',
      '.',
      "'",
      '7',
      '_',
    ];
    const enc = new Bm25Encoder();
    let seed = 4242;
    const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let t = 0; t < 2000; t++) {
      let s = '';
      const n = 1 + Math.floor(rand() * 24);
      for (let i = 0; i < n; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
      expect({ s, v: enc.encodeDocument(s) }).toEqual({ s, v: reference(enc, s) });
    }
  });

  it('gives word-final sigma its own id, as lowercasing the whole text does', () => {
    const enc = new Bm25Encoder();
    // Σ before '.' (case-ignorable) and a capital is not word-final, though its token ends there.
    expect('XΣ XΣ.Y'.toLowerCase()).toBe('xς xσ.y');
    expect(enc.encodeDocument('XΣ XΣ.Y')).toEqual(enc.encodeDocument('xς xσ y'));
    expect(enc.encodeDocument('xς').indices).not.toEqual(enc.encodeDocument('xσ').indices);
    expect(enc.encodeDocument('İstanbul')).toEqual(enc.encodeDocument('i\u0307stanbul'));
  });

  it('leaves no counts behind when a scan switches to the exact way midway', () => {
    const enc = new Bm25Encoder();
    const fresh = new Bm25Encoder();
    // Tokens counted before the Σ must not leak into the next document.
    enc.encodeDocument(`seats budget pricing ${'renewal '.repeat(50)} ΟΔΟΣ`);
    const text = 'seats seats budget';
    expect(enc.encodeDocument(text)).toEqual(fresh.encodeDocument(text));
  });
});

describe('Bm25Encoder weights', () => {
  const enc = new Bm25Encoder();

  it('weights a repeated word with n*(k+1)/(n + k*(1-b+b*len/256))', () => {
    const v = enc.encodeDocument('cat cat cat dog');
    expect(v.indices).toEqual([refId('cat'), refId('dog')]);
    expect(v.values).toEqual([tf(3, 4), tf(1, 4)]);
    expect(v.values[0]).toBeCloseTo((3 * 2.2) / (3 + 1.2 * (0.25 + (0.75 * 4) / 256)), 12);
  });

  it('lowers every weight as the document grows past the average length', () => {
    const long = enc.encodeDocument(`cat ${'dog '.repeat(511)}`);
    expect(long.values[0]).toBe(tf(1, 512));
    expect(long.values[0]).toBeLessThan(enc.encodeDocument('cat').values[0]!);
  });

  it('gives a query the distinct ids in first-occurrence order, each with value 1', () => {
    expect(enc.encodeQuery('Dogs and cats, cats and dogs; birds')).toEqual({
      indices: [refId('dog'), refId('cat'), refId('bird')],
      values: [1, 1, 1],
    });
    expect(enc.encodeQuery('the of')).toEqual({ indices: [], values: [] });
  });

  it('lets the later of two colliding stems overwrite the earlier value, keeping the first position', () => {
    // qzhvd and qbyde are their own stems and share murmur3 id 28287963 (found by brute force).
    expect(refId('qzhvd')).toBe(28287963);
    expect(refId('qbyde')).toBe(28287963);
    const first = new Bm25Encoder().encodeDocument('cat qzhvd qbyde qbyde');
    expect(first).toEqual({ indices: [refId('cat'), 28287963], values: [tf(1, 4), tf(2, 4)] });
    const second = new Bm25Encoder().encodeDocument('qbyde qbyde qzhvd cat');
    expect(second).toEqual({ indices: [28287963, refId('cat')], values: [tf(1, 4), tf(1, 4)] });
    expect(new Bm25Encoder().encodeQuery('qzhvd qbyde')).toEqual({ indices: [28287963], values: [1] });
    expect(mergeCollisions([1, 2, 1], [0.1, 0.2, 0.3])).toEqual({ indices: [1, 2], values: [0.3, 0.2] });
  });

  it('gives the same vectors after its token cache is cleared', () => {
    const small = new Bm25Encoder({ maxCachedTokens: 5 });
    const fresh = new Bm25Encoder();
    const texts = [
      'alpha beta gamma delta',
      'epsilon zeta eta theta iota',
      'alpha kappa lambda',
      'mu nu xi alpha beta',
    ];
    for (const t of [...texts, ...texts]) expect(small.encodeDocument(t)).toEqual(fresh.encodeDocument(t));
    expect(small.cachedTokens).toBeLessThan(fresh.cachedTokens);
  });

  it('gives identical vectors when a text is encoded again (no state leaks between documents)', () => {
    const text = 'Renewal call with Müller GmbH: pricing, seats, seats and the 2025 budget';
    const a = enc.encodeDocument(text);
    enc.encodeDocument('something else entirely about seats');
    expect(enc.encodeDocument(text)).toEqual(a);
  });
});
