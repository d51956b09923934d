/**
 * Deterministic CRM-like English text for the encoder benchmarks: Zipf-
 * distributed common words with a long tail of rarer (synthetic) words, names,
 * numbers, emails and punctuation, so token caches see a realistic mix of
 * repeats and first sightings.
 */
import { mulberry32 } from '../crm/demo/rng.js';
const COMMON = (
  'the of and to a in for is on that by this with you it not or be are from at as your all have new more an was we ' +
  'will can us about if my has but our one other do no time they he up may what which their out use any there see ' +
  'only so his when contact here business who also now help get pm view first been would how were me some these ' +
  'its like service than find price date back top people had list name just over state year day into email two ' +
  'health world next used go work last most products music buy data make them should product system post her city ' +
  'add policy number such please available copyright support message after best software then jan good video well ' +
  'where info rights public books high school through each links she review years order very privacy book items ' +
  'company read group need many user said does set under general research university january mail full map reviews ' +
  'program life know games way days management part could great united hotel real item international center ebay ' +
  'must store travel comments made development report off member details line terms before hotels did send right ' +
  'type because local those using results office education national car design take posted internet address ' +
  'community within states area want phone shipping reserved subject between forum family long based code show ' +
  'meeting customer deal invoice renewal pipeline quarter budget proposal signed contract onboarding churn revenue ' +
  'forecast discount pricing demo trial license seats upgrade integration procurement stakeholder follow call ' +
  'scheduled discussed agreed requested sent shared feedback issue ticket escalation priority account manager'
).split(' ');

const SYLLABLES = [
  'ka',
  'lo',
  'mer',
  'tin',
  'ad',
  'vi',
  'sor',
  'en',
  'tra',
  'pel',
  'ling',
  'ous',
  'tion',
  'ize',
  'ber',
  'gan',
];
const NAMES = [
  'Alice',
  'Bob',
  'Carol',
  'Dmitri',
  'Élodie',
  'Müller',
  'Søren',
  'Zoë',
  'Nakamura',
  "O'Brien",
  'García',
];

/** Seeded PRNG (mulberry32, shared with the demo generator) so runs reproduce. */
export const rng = mulberry32;

function syntheticWord(r: () => number): string {
  const n = 2 + Math.floor(r() * 3);
  let w = '';
  for (let i = 0; i < n; i++) w += SYLLABLES[Math.floor(r() * SYLLABLES.length)];
  return w;
}

/** `count` chunks of about `words` words each. */
export function makeChunks(count: number, words: number, seed: number): string[] {
  const r = rng(seed);
  const tail = Array.from({ length: 20_000 }, () => syntheticWord(r));
  const zipf = (n: number): number => Math.floor(Math.exp(r() * Math.log(n + 1))) - 1;
  const out: string[] = [];
  for (let c = 0; c < count; c++) {
    const parts: string[] = [];
    for (let w = 0; w < words; w++) {
      const x = r();
      let word: string;
      if (x < 0.75) word = COMMON[zipf(COMMON.length)] ?? 'the';
      else if (x < 0.9) word = tail[zipf(tail.length)] ?? 'ka';
      else if (x < 0.94) word = NAMES[Math.floor(r() * NAMES.length)]!;
      else if (x < 0.97) word = String(Math.floor(r() * 100_000));
      else if (x < 0.98) word = `${syntheticWord(r)}@example.com`;
      else word = `${Math.floor(r() * 1000) / 10}%`;
      if (w % 12 === 0) word = word.charAt(0).toUpperCase() + word.slice(1);
      parts.push(r() < 0.08 ? word + (r() < 0.5 ? ',' : '.') : word);
    }
    out.push(parts.join(' '));
  }
  return out;
}
