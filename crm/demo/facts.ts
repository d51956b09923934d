/**
 * What the demo generator planted, so entity resolution and retrieval quality
 * can be measured against known answers: duplicate groups, lookalikes that
 * must stay apart, and retrieval facts (query -> the records that answer it).
 * The templates here are the only place the planted statements are worded.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Rng } from './rng.js';
import { FACT_PLACES, FACT_PRODUCTS, FACT_TIMES, type Paraphrased } from './words.js';

export interface PlantedFact {
  id: string;
  /** Natural-language question a search should answer with `answers`. */
  query: string;
  /** Record keys ('interactions:17', 'notes:4') whose text contains `statement`. */
  answers: string[];
  split: 'tune' | 'eval';
  /** lexical: the query shares rare words with the text (sparse-friendly); paraphrase: synonyms (dense-friendly). */
  style: 'lexical' | 'paraphrase';
  /** The exact sentence planted in every answer record. */
  statement: string;
}

export interface DemoFacts {
  version: 1;
  seed: number;
  records: number;
  /** Rows per table, interaction_people included. */
  counts: Record<string, number>;
  /** Groups of record keys that are the same real-world entity. */
  duplicates: { organizations: string[][]; people: string[][] };
  /** Pairs of record keys that look alike but are different entities. */
  distinct: string[][];
  retrieval: PlantedFact[];
  /** Multi-page bodies (several chunks each); at most the first 200 keys. */
  longBodies: string[];
  /** Bodies of about 1-2 MB. */
  largeBodies: string[];
}

export function defaultFactsPath(dbPath: string): string {
  return `${dbPath}.facts.json`;
}

export function writeFacts(file: string, facts: DemoFacts): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(facts, null, 2) + '\n');
}

export function readFacts(file: string): DemoFacts {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as DemoFacts;
}

// ---------------------------------------------------------------- fact templates

interface Slots {
  org: string;
  product: Paraphrased;
  place: Paraphrased;
  time: Paraphrased;
  n: number;
}

interface FactTemplate {
  statement: (s: Slots) => string;
  lexical: (s: Slots) => string;
  paraphrase: (s: Slots) => string;
}

/** "a" or "an" before a phrase, by its first letter (good enough for this vocabulary). */
function a(phrase: string): string {
  return `${/^[aeiou]/i.test(phrase) ? 'an' : 'a'} ${phrase}`;
}

const TEMPLATES: readonly FactTemplate[] = [
  {
    statement: (s) =>
      `${s.org} agreed to pilot the ${s.product.text} in ${s.place.text} starting in ${s.time.text}.`,
    lexical: (s) => `Which company agreed to pilot the ${s.product.text} in ${s.place.text}?`,
    paraphrase: (s) => `who is going to trial ${a(s.product.para)} in ${s.place.para}`,
  },
  {
    statement: (s) =>
      `${s.org} disclosed that its ${s.product.text} now handles ${s.n} transactions a day in ${s.place.text}.`,
    lexical: (s) => `${s.product.text} transactions a day ${s.place.text}`,
    paraphrase: (s) => `how much daily volume does the ${s.product.para} process in ${s.place.para}`,
  },
  {
    statement: (s) =>
      `${s.org} is relocating the ${s.product.text} engineering team to ${s.place.text} by ${s.time.text}.`,
    lexical: (s) => `relocating ${s.product.text} engineering team ${s.place.text}`,
    paraphrase: (s) =>
      `which startup is moving the developers behind its ${s.product.para} to ${s.place.para}`,
  },
  {
    statement: (s) =>
      `${s.org}'s founder admitted the ${s.product.text} failed a security audit in ${s.place.text} last ${s.time.text}.`,
    lexical: (s) => `${s.product.text} failed security audit ${s.place.text}`,
    paraphrase: (s) => `whose ${s.product.para} did not pass a penetration review in ${s.place.para}`,
  },
  {
    statement: (s) =>
      `${s.org} signed a letter of intent to acquire ${a(s.product.text)} vendor based in ${s.place.text}.`,
    lexical: (s) => `letter of intent acquire ${s.product.text} vendor ${s.place.text}`,
    paraphrase: (s) => `who plans to buy a company making ${a(s.product.para)} in ${s.place.para}`,
  },
  {
    statement: (s) =>
      `${s.org} will open-source the ${s.product.text} at a conference in ${s.place.text} in ${s.time.text}.`,
    lexical: (s) => `open-source ${s.product.text} conference ${s.place.text}`,
    paraphrase: (s) =>
      `which team intends to publish the code of its ${s.product.para} at an event in ${s.place.para}`,
  },
  {
    statement: (s) =>
      `The ${s.product.text} from ${s.org} cut settlement costs by ${s.n}% for a pilot customer in ${s.place.text}.`,
    lexical: (s) => `${s.product.text} cut settlement costs ${s.place.text}`,
    paraphrase: (s) => `savings a trial client in ${s.place.para} got from ${a(s.product.para)}`,
  },
  {
    statement: (s) =>
      `${s.org} lost its largest customer in ${s.place.text} after the ${s.product.text} outage in ${s.time.text}.`,
    lexical: (s) => `${s.product.text} outage lost largest customer ${s.place.text}`,
    paraphrase: (s) =>
      `which company's ${s.product.para} went down and cost them their biggest client in ${s.place.para}`,
  },
  {
    statement: (s) =>
      `${s.org} hired a former central-bank official from ${s.place.text} to lead the ${s.product.text} rollout.`,
    lexical: (s) => `former central-bank official ${s.place.text} ${s.product.text} rollout`,
    paraphrase: (s) =>
      `who recruited an ex-regulator from ${s.place.para} to run the launch of ${a(s.product.para)}`,
  },
  {
    statement: (s) =>
      `${s.org} is negotiating a data-center lease in ${s.place.text} to host the ${s.product.text}.`,
    lexical: (s) => `data-center lease ${s.place.text} host ${s.product.text}`,
    paraphrase: (s) => `where will the ${s.product.para} servers be housed, a facility in ${s.place.para}`,
  },
  {
    statement: (s) =>
      `${s.org} asked us to co-invest with a sovereign wealth fund from ${s.place.text} in the ${s.product.text} spinout.`,
    lexical: (s) => `co-invest sovereign wealth fund ${s.place.text} ${s.product.text} spinout`,
    paraphrase: (s) => `state-owned investor from ${s.place.para} backing ${a(s.product.para)} carve-out`,
  },
  {
    statement: (s) =>
      `Regulators in ${s.place.text} gave ${s.org} a sandbox license for the ${s.product.text} in ${s.time.text}.`,
    lexical: (s) => `sandbox license ${s.place.text} ${s.product.text}`,
    paraphrase: (s) =>
      `which firm got regulatory permission in ${s.place.para} to test its ${s.product.para}`,
  },
];

/** How many retrieval facts for a size: 20 at 100 records, ~45 at 1,000, ~100 at 10,000, capped at 300. */
export function factCount(records: number): number {
  return Math.min(300, Math.max(20, Math.round(20 * Math.pow(records / 100, 0.35))));
}

/** A planned fact: everything but the organization, which is known only when its record is generated. */
export interface FactPlan {
  id: string;
  template: number;
  product: Paraphrased;
  place: Paraphrased;
  time: Paraphrased;
  n: number;
  split: 'tune' | 'eval';
  style: 'lexical' | 'paraphrase';
}

/** Plan `count` facts with distinct (product, place) pairs, so each lexical query has one right answer. */
export function planFacts(rng: Rng, count: number): FactPlan[] {
  const pairs = FACT_PRODUCTS.length * FACT_PLACES.length;
  const picks = rng.distinct(Math.min(count, pairs), 0, pairs - 1);
  return picks.map((p, i) => ({
    id: `fact-${String(i + 1).padStart(3, '0')}`,
    template: rng.int(0, TEMPLATES.length - 1),
    product: FACT_PRODUCTS[p % FACT_PRODUCTS.length]!,
    place: FACT_PLACES[Math.floor(p / FACT_PRODUCTS.length)]!,
    time: rng.pick(FACT_TIMES),
    n: rng.int(12, 97),
    // Deterministic from the seed: about 30% of facts are for tuning, the rest held out.
    split: rng.chance(0.3) ? 'tune' : 'eval',
    style: rng.chance(0.5) ? 'lexical' : 'paraphrase',
  }));
}

export function factStatement(plan: FactPlan, org: string): string {
  return TEMPLATES[plan.template]!.statement({ ...plan, org });
}

export function factQuery(plan: FactPlan, org: string): string {
  const t = TEMPLATES[plan.template]!;
  return (plan.style === 'lexical' ? t.lexical : t.paraphrase)({ ...plan, org });
}
