/**
 * The page's memory of the last hour: a fixed ring of time buckets fed by
 * pipeline events (records and chunks written) and lag readings. Memory stays
 * bounded (one slot per bucket, overwritten when its time comes round again);
 * nothing is persisted, so a restart starts an empty chart.
 */

/** 10 s buckets over an hour: fine enough to see a burst, 360 points is still a small SVG. */
export const BUCKET_MS = 10_000;
export const WINDOW_MS = 3_600_000;

export interface Sample {
  /** Start of the bucket (ms since epoch). */
  at: number;
  records: number;
  chunks: number;
  batches: number;
  /** Highest lag seen in the bucket, seconds; null when nothing was measured. */
  lagSeconds: number | null;
}

interface Slot extends Sample {
  index: number;
}

export class SampleRing {
  private readonly slots: (Slot | undefined)[];

  constructor(
    readonly bucketMs = BUCKET_MS,
    readonly windowMs = WINDOW_MS,
  ) {
    this.slots = new Array<Slot | undefined>(Math.ceil(windowMs / bucketMs));
  }

  private slot(at: number): Slot {
    const index = Math.floor(at / this.bucketMs);
    const i = index % this.slots.length;
    let s = this.slots[i];
    if (!s || s.index !== index) {
      s = { index, at: index * this.bucketMs, records: 0, chunks: 0, batches: 0, lagSeconds: null };
      this.slots[i] = s;
    }
    return s;
  }

  addBatch(at: number, records: number, chunks: number): void {
    const s = this.slot(at);
    s.records += records;
    s.chunks += chunks;
    s.batches += 1;
  }

  addLag(at: number, seconds: number): void {
    if (!Number.isFinite(seconds) || seconds < 0) return;
    const s = this.slot(at);
    s.lagSeconds = Math.max(s.lagSeconds ?? 0, seconds);
  }

  /** Every bucket of the window ending at `now`, oldest first; empty buckets are zeros. */
  series(now: number): Sample[] {
    const last = Math.floor(now / this.bucketMs);
    const out: Sample[] = [];
    for (let index = last - this.slots.length + 1; index <= last; index++) {
      const s = this.slots[((index % this.slots.length) + this.slots.length) % this.slots.length];
      out.push(
        s && s.index === index
          ? { at: s.at, records: s.records, chunks: s.chunks, batches: s.batches, lagSeconds: s.lagSeconds }
          : { at: index * this.bucketMs, records: 0, chunks: 0, batches: 0, lagSeconds: null },
      );
    }
    return out;
  }
}
