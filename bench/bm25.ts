/**
 * BM25 document-encoding throughput on ~300-word CRM-like chunks, single
 * thread. Target: 25,000 chunks/s per core. The baseline, measured in the
 * same run, is the straightforward version (regex matchAll over the text,
 * a Map from token to stem, a Map of counts per document).
 *
 * Run: npx tsx bench/bm25.ts
 */
import murmurhash from 'murmurhash';
import { createRequire } from 'node:module';
import { Bm25Encoder } from '../encoders/bm25.js';
import { ENGLISH_STOPWORD_SET } from '../encoders/stopwords.js';
import { makeChunks } from './text-corpus.js';

const TARGET = 25_000;
const CHUNKS = 5_000;
const ROUNDS = 5;

function baselineEncoder(): (text: string) => { indices: number[]; values: number[] } {
  const require = createRequire(import.meta.url);
  const stemmer = (
    require('snowball-stemmers') as { newStemmer(l: string): { stem(w: string): string } }
  ).newStemmer('english');
  const cache = new Map<string, string | null>();
  return (text) => {
    const counts = new Map<string, number>();
    let len = 0;
    for (const m of text.toLowerCase().matchAll(/[\p{L}\p{N}_]+/gu)) {
      const tok = m[0];
      let stem = cache.get(tok);
      if (stem === undefined) {
        stem =
          tok === '_' || ENGLISH_STOPWORD_SET.has(tok) || [...tok].length > 40
            ? null
            : stemmer.stem(tok) || null;
        cache.set(tok, stem);
      }
      if (stem === null) continue;
      counts.set(stem, (counts.get(stem) ?? 0) + 1);
      len++;
    }
    const indices: number[] = [];
    const values: number[] = [];
    for (const [stem, n] of counts) {
      indices.push(Math.abs(murmurhash.v3(stem) | 0));
      values.push((n * 2.2) / (n + 1.2 * (0.25 + (0.75 * len) / 256)));
    }
    return { indices, values };
  };
}

function measure(encode: (t: string) => unknown, chunks: string[]): number {
  for (const c of chunks) encode(c); // warm the caches and the JIT
  let best = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.cpuUsage();
    for (const c of chunks) encode(c);
    const u = process.cpuUsage(t0);
    const s = (u.user + u.system) / 1e6;
    best = Math.max(best, chunks.length / s);
  }
  return best;
}

const chunks = makeChunks(CHUNKS, 300, 42);
const words = chunks.reduce((n, c) => n + c.split(/\s+/).length, 0) / chunks.length;
const enc = new Bm25Encoder();
const base = measure(baselineEncoder(), chunks);
const ours = measure((t) => enc.encodeDocument(t), chunks);
const query = measure((t) => enc.encodeQuery(t), chunks);

const rows = [
  ['baseline (matchAll + stem Map)', base],
  ['Bm25Encoder.encodeDocument', ours],
  ['Bm25Encoder.encodeQuery', query],
] as const;
console.log(
  `BM25 encode, ${CHUNKS} chunks of ~${Math.round(words)} words, best of ${ROUNDS} rounds, one thread`,
);
console.log('| encoder | chunks/s | words/s | vs target 25k | vs baseline |');
console.log('|---|---:|---:|---:|---:|');
for (const [name, rate] of rows) {
  console.log(
    `| ${name} | ${Math.round(rate).toLocaleString('en')} | ${Math.round(rate * words).toLocaleString('en')} | ${(rate / TARGET).toFixed(2)} | ${(rate / base).toFixed(2)} |`,
  );
}
