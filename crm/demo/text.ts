/**
 * Filler prose for the demo CRM: meeting notes, emails, descriptions. Pure
 * functions of an Rng and a small context, so the same seed gives the same
 * text. Templates are compiled once into literal/slot parts because the
 * generator fills millions of them.
 */
import type { Rng } from './rng.js';
import * as W from './words.js';

export interface TextContext {
  org: string;
  /** Names of the people involved; may be empty. */
  people: readonly string[];
  sector: string;
  city: string;
}

type Part = string | { slot: string };

function compile(template: string): Part[] {
  const parts: Part[] = [];
  const re = /\{(\w+)\}/g;
  let last = 0;
  for (let m = re.exec(template); m; m = re.exec(template)) {
    if (m.index > last) parts.push(template.slice(last, m.index));
    parts.push({ slot: m[1]! });
    last = m.index + m[0].length;
  }
  if (last < template.length) parts.push(template.slice(last));
  return parts;
}

const SENTENCES = W.NOTE_SENTENCES.map(compile);
const SUBJECTS = W.SUBJECTS.map(compile);
const DESCRIPTIONS = W.DESCRIPTIONS.map(compile);

export function money(rng: Rng): string {
  return rng.chance(0.6) ? `$${(rng.int(5, 400) / 10).toFixed(1)}M` : `$${rng.int(50, 950)}k`;
}

function slot(name: string, rng: Rng, ctx: TextContext): string {
  switch (name) {
    case 'org':
      return ctx.org;
    case 'person':
      return ctx.people.length > 0 ? rng.pick(ctx.people) : rng.pick(W.FIRST_NAMES)[0];
    case 'owner':
      return rng.pick(W.OWNERS);
    case 'firm':
      return W.FIRM_NAME;
    case 'sector':
      return rng.chance(0.7) ? ctx.sector : rng.pick(W.SECTORS);
    case 'city':
      return rng.chance(0.6) ? ctx.city : rng.pick(W.LOCATIONS);
    case 'metric':
      return rng.pick(W.METRICS);
    case 'topic':
      return rng.pick(W.TOPICS);
    case 'noun':
      return rng.pick(W.FILLER_NOUNS);
    case 'money':
      return money(rng);
    case 'pct':
      return `${rng.int(2, 180)}%`;
    case 'num':
      return String(rng.int(3, 60));
    case 'round':
      return rng.pick(W.ROUNDS);
    case 'month':
      return rng.pick(W.MONTHS);
    case 'quarter':
      return rng.pick(W.QUARTERS);
    case 'weekday':
      return rng.pick(W.WEEKDAYS);
    default:
      throw new Error(`demo text: template slot {${name}} has no filler`);
  }
}

function fill(parts: readonly Part[], rng: Rng, ctx: TextContext): string {
  let out = '';
  for (const p of parts) out += typeof p === 'string' ? p : slot(p.slot, rng, ctx);
  return out;
}

export function sentence(rng: Rng, ctx: TextContext): string {
  return fill(rng.pick(SENTENCES), rng, ctx);
}

export function paragraph(rng: Rng, ctx: TextContext, minSentences: number, maxSentences: number): string {
  const n = rng.int(minSentences, maxSentences);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(sentence(rng, ctx));
  return out.join(' ');
}

export function subject(rng: Rng, ctx: TextContext): string {
  return fill(rng.pick(SUBJECTS), rng, ctx);
}

export function description(rng: Rng, ctx: TextContext): string {
  return fill(rng.pick(DESCRIPTIONS), rng, ctx);
}

export type BodySize = 'short' | 'medium' | 'long';

/** Paragraphs of a body; planted facts are spliced between them before joining. */
export function bodyParagraphs(rng: Rng, ctx: TextContext, size: BodySize): string[] {
  switch (size) {
    case 'short':
      return [paragraph(rng, ctx, 1, 5)];
    case 'medium':
      return Array.from({ length: rng.int(2, 4) }, () => paragraph(rng, ctx, 3, 7));
    case 'long': {
      // Multi-page notes: 5-20 paragraphs totalling roughly 1,500-5,000 words (sentences average ~15 words).
      const paragraphs = rng.int(5, 20);
      const perParagraph = Math.min(40, Math.max(8, Math.ceil(rng.int(100, 330) / paragraphs)));
      return Array.from({ length: paragraphs }, () =>
        paragraph(rng, ctx, perParagraph - 2, perParagraph + 2),
      );
    }
  }
}

/** An email around the paragraphs: greeting and signature, as a CRM's mail sync stores them. */
export function asEmail(rng: Rng, ctx: TextContext, paragraphs: readonly string[]): string {
  const to = ctx.people.length > 0 ? rng.pick(ctx.people).split(' ')[0]! : 'all';
  return `Hi ${to},\n\n${paragraphs.join('\n\n')}\n\nBest,\n${rng.pick(W.OWNERS)}`;
}

/** A very large body (a pasted transcript or mail-thread export) of at least `bytes` UTF-16 units. */
export function hugeBody(rng: Rng, ctx: TextContext, bytes: number): string {
  const out: string[] = [`Transcript export: ${ctx.org} all-hands and diligence sessions.`];
  let len = out[0]!.length;
  let speaker = 0;
  while (len < bytes) {
    const who = ctx.people.length > 0 ? ctx.people[speaker++ % ctx.people.length]! : rng.pick(W.OWNERS);
    const p = `[${String(Math.floor(len / 997) % 60).padStart(2, '0')}:${String(len % 60).padStart(2, '0')}] ${who}: ${paragraph(rng, ctx, 4, 12)}`;
    out.push(p);
    len += p.length + 2;
  }
  return out.join('\n\n');
}
