/**
 * A string's UTF-16 code units, copied into a reusable typed array for the
 * character scans of the chunker and the BM25 encoder.
 *
 * Why: `charCodeAt` in a loop pays for the string's representation on every
 * call (a paragraph from `split` is a slice of a two-byte string, a header is
 * one-byte, a field can be a rope), while an element of a Uint16Array is one
 * load. The copy itself is native (Buffer's UTF-16LE write: a memcpy for a
 * two-byte string). The chunker and BM25 scan about twice as fast this way
 * (docs/decisions/008-scan-tunings-not-kept.md). Lone surrogates are copied as they are.
 */
import { endianness } from 'node:os';

/** Code units kept between calls; a larger text gets its own buffer, dropped after use (see release). */
const DEFAULT_UNITS = 1 << 15;

if (endianness() !== 'LE') {
  // Buffer writes UTF-16 little-endian; read through a Uint16Array that is only right on an LE machine.
  throw new Error(`crm-index needs a little-endian CPU (this one is ${endianness()})`);
}

export class CodeUnits {
  private bytes: Buffer;
  private units: Uint16Array;

  constructor() {
    [this.bytes, this.units] = CodeUnits.alloc(DEFAULT_UNITS);
  }

  private static alloc(units: number): [Buffer, Uint16Array] {
    const ab = new ArrayBuffer(2 * units);
    return [Buffer.from(ab), new Uint16Array(ab)];
  }

  /**
   * `s` copied: the array's [0, s.length) are its code units (what lies
   * beyond is stale). Valid until the next load or release.
   */
  load(s: string): Uint16Array {
    if (s.length > this.units.length) [this.bytes, this.units] = CodeUnits.alloc(s.length);
    this.bytes.write(s, 0, 'utf16le');
    return this.units;
  }

  /** Drop a buffer grown for one huge text (a 10 MB field) so it is not kept for ordinary ones. */
  release(): void {
    if (this.units.length > DEFAULT_UNITS) [this.bytes, this.units] = CodeUnits.alloc(DEFAULT_UNITS);
  }
}
