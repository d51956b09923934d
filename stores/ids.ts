/**
 * Point ids: UUIDv5 of `recordKey#chunkIndex` under a fixed namespace, so the
 * same chunk of the same record always lands on the same point (idempotent
 * re-upserts; no orphans from random ids).
 *
 * RFC 9562 §5.5: SHA-1 of the namespace bytes + the UTF-8 name, version and
 * variant bits set. The same ids as the `uuid` package's v5 (a test compares
 * them). SHA-1 runs here in plain JS over a reused buffer: a name is one or
 * two 64-byte blocks, and node:crypto's per-call Hash object cost several
 * times the hashing itself on the write path (one id per chunk). Names are
 * encoded like Buffer does (a lone surrogate becomes U+FFFD).
 */

/** Fixed namespace for crm-index point ids. Changing it would orphan every existing point. */
export const POINT_NAMESPACE = '6f1c7a52-3d0e-5b8e-9a4f-2c61d0b7e915';

const NAMESPACE_BYTES = Buffer.from(POINT_NAMESPACE.replace(/-/g, ''), 'hex');

let buf = new Uint8Array(128);
buf.set(NAMESPACE_BYTES, 0);
const W = new Int32Array(80);
const H = new Int32Array(5);

/** SHA-1 of buf[0, len) into H (buf must have room for the padding). */
function sha1(len: number): void {
  const padded = (((len + 8) >> 6) + 1) << 6;
  buf.fill(0, len, padded);
  buf[len] = 0x80;
  const bits = len * 8;
  buf[padded - 4] = bits >>> 24;
  buf[padded - 3] = (bits >>> 16) & 0xff;
  buf[padded - 2] = (bits >>> 8) & 0xff;
  buf[padded - 1] = bits & 0xff;
  let h0 = 0x67452301 | 0;
  let h1 = 0xefcdab89 | 0;
  let h2 = 0x98badcfe | 0;
  let h3 = 0x10325476 | 0;
  let h4 = 0xc3d2e1f0 | 0;
  for (let off = 0; off < padded; off += 64) {
    for (let t = 0; t < 16; t++) {
      const o = off + t * 4;
      W[t] = (buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!;
    }
    for (let t = 16; t < 80; t++) {
      const x = W[t - 3]! ^ W[t - 8]! ^ W[t - 14]! ^ W[t - 16]!;
      W[t] = (x << 1) | (x >>> 31);
    }
    let a = h0;
    let b = h1;
    let c = h2;
    let d = h3;
    let e = h4;
    for (let t = 0; t < 80; t++) {
      let f: number;
      let k: number;
      if (t < 20) {
        f = (b & c) | (~b & d);
        k = 0x5a827999;
      } else if (t < 40) {
        f = b ^ c ^ d;
        k = 0x6ed9eba1;
      } else if (t < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8f1bbcdc | 0;
      } else {
        f = b ^ c ^ d;
        k = 0xca62c1d6 | 0;
      }
      const tmp = (((a << 5) | (a >>> 27)) + f + e + k + W[t]!) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = tmp;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
  }
  H[0] = h0;
  H[1] = h1;
  H[2] = h2;
  H[3] = h3;
  H[4] = h4;
}

/** Writes the UTF-8 of `s` at buf[at]; returns the end. ASCII is copied directly. */
function putName(s: string, at: number): number {
  const need = at + s.length * 3 + 72;
  if (need > buf.length) {
    const grown = new Uint8Array(need * 2);
    grown.set(buf.subarray(0, at));
    buf = grown;
  }
  let p = at;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return at + Buffer.from(buf.buffer, buf.byteOffset + at).write(s, 'utf8');
    buf[p++] = c;
  }
  return p;
}

/** The id's 36 characters (hex digits and dashes), written in place; read out as one latin1 string. */
const ID = Buffer.alloc(36);
ID[8] = ID[13] = ID[18] = ID[23] = 0x2d;
/** Where each of the 16 bytes' two hex digits go in the id. */
const AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
const DIGIT = Buffer.from('0123456789abcdef', 'latin1');

function putWord(x: number, byte: number): void {
  for (let k = 0; k < 4; k++) {
    const b = (x >>> (24 - 8 * k)) & 0xff;
    const at = AT[byte + k]!;
    ID[at] = DIGIT[b >>> 4]!;
    ID[at + 1] = DIGIT[b & 15]!;
  }
}

export function pointId(recordKey: string, chunkIndex: number): string {
  sha1(putName(`${recordKey}#${chunkIndex}`, 16));
  putWord(H[0]!, 0);
  // Version 5 in the high nibble of byte 6; variant 10 in the top bits of byte 8.
  putWord((H[1]! & ~0xf000) | 0x5000, 4);
  putWord((H[2]! & ~(0xc0 << 24)) | (0x80 << 24), 8);
  putWord(H[3]!, 12);
  // One flat string; the hex-pair concatenation this replaced allocated ~780 bytes of ropes per id.
  return ID.toString('latin1', 0, 36);
}
