/**
 * The demo generator's only source of randomness: a small seeded PRNG
 * (mulberry32), so a seed fully determines the demo CRM. Nothing in crm/demo
 * may read Math.random or the clock; that is what makes two runs with the
 * same seed produce byte-identical databases.
 */

/** Fold any safe integer (negative or above 2^32) into a 32-bit seed without losing its high bits. */
export function seed32(seed: number): number {
  const hi = Math.floor(seed / 0x1_0000_0000);
  return (seed ^ Math.imul(hi, 0x9e3779b1)) >>> 0;
}

export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed32(seed);
  }

  /** Uniform in [0, 1). mulberry32: 32 bits of state, good enough for test data and very fast. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('Rng.pick: the list is empty');
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** An independent stream for one part of the generator, so adding draws in one part does not shift another. */
  fork(label: string): Rng {
    let h = this.state ^ 0x811c9dc5;
    for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
    return new Rng(h >>> 0);
  }

  /** k distinct integers from [min, max], in draw order (k must not exceed the range). */
  distinct(k: number, min: number, max: number, exclude: ReadonlySet<number> = new Set()): number[] {
    const room = max - min + 1 - [...exclude].filter((x) => x >= min && x <= max).length;
    if (k > room) throw new RangeError(`Rng.distinct: cannot draw ${k} distinct values from ${room}`);
    const seen = new Set<number>();
    const out: number[] = [];
    while (out.length < k) {
      const v = this.int(min, max);
      if (seen.has(v) || exclude.has(v)) continue;
      seen.add(v);
      out.push(v);
    }
    return out;
  }
}

/** The same generator as a plain function, for callers that only need numbers in [0, 1). */
export function mulberry32(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}
