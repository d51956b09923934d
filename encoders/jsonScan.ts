/**
 * A streaming JSON scanner: reads a file in fixed-size chunks and reports each
 * scalar with the path of containers it sits in, so a document far larger
 * than the heap (the 300 MB word-vector JSON under `--max-old-space-size=256`)
 * is read without ever holding its parsed form.
 *
 * Invariant: values come out exactly as `JSON.parse` gives them (strings with
 * escapes go through `JSON.parse`, numbers through `Number`, which rounds the
 * same way), and a document that ends early or holds a stray byte is an error
 * naming the byte offset, never a silently shorter result.
 */
import fs from 'node:fs';

/** One open container: an array with the index of its current item, or an object with its current key. */
export interface Frame {
  array: boolean;
  /** Current key (objects). */
  key: string | undefined;
  /** Current item index (arrays). */
  index: number;
  /** Objects: the next string is a key. */
  expectKey: boolean;
}

export interface ScanHandlers {
  /** A string, number, boolean or null at `stack` (innermost container last). */
  scalar(stack: readonly Frame[], value: string | number | boolean | null): void;
  /** A container closed; `stack` no longer holds it. */
  close?(stack: readonly Frame[], closed: Frame): void;
}

export class JsonScanError extends Error {}

const CHUNK_BYTES = 1 << 20;

/**
 * Scan `file` from start to end. `progress(done, total)` is called after each
 * chunk with the bytes read so far.
 */
export function scanJsonFile(
  file: string,
  handlers: ScanHandlers,
  progress?: (done: number, total: number) => void,
): void {
  const fd = fs.openSync(file, 'r');
  try {
    const total = fs.fstatSync(fd).size;
    const scanner = new JsonScanner(handlers);
    const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    let done = 0;
    for (;;) {
      const n = fs.readSync(fd, chunk, 0, CHUNK_BYTES, done);
      if (n === 0) break;
      done += n;
      scanner.feed(chunk.subarray(0, n));
      progress?.(done, total);
    }
    scanner.end();
  } finally {
    fs.closeSync(fd);
  }
}

const isNumberByte = (c: number) =>
  (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45;

export class JsonScanner {
  private readonly stack: Frame[] = [];
  /** Bytes of an unfinished token from the previous chunk. */
  private rest: Buffer | undefined;
  /** File offset of `rest[0]` (or of the next chunk when there is no rest). */
  private offset = 0;
  private sawRoot = false;

  constructor(private readonly handlers: ScanHandlers) {}

  feed(chunk: Buffer): void {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    const used = this.scan(buf, false);
    // Copy the tail: `chunk` is reused by the caller for the next read.
    this.rest = used < buf.length ? Buffer.from(buf.subarray(used)) : undefined;
    this.offset += used;
  }

  end(): void {
    if (this.rest) {
      const used = this.scan(this.rest, true);
      this.offset += used;
      this.rest = undefined;
    }
    if (!this.sawRoot || this.stack.length > 0) {
      throw new JsonScanError(
        `the JSON ends early (at byte ${this.offset}, inside ${this.stack.length} container(s))`,
      );
    }
  }

  private fail(what: string, at: number): never {
    throw new JsonScanError(`${what} at byte ${this.offset + at}`);
  }

  private value(v: string | number | boolean | null, at: number): void {
    const top = this.stack[this.stack.length - 1];
    if (!top) {
      if (this.sawRoot) this.fail('a second top-level value', at);
      this.sawRoot = true;
    }
    this.handlers.scalar(this.stack, v);
  }

  /** Scan tokens from `buf`; returns how many bytes were consumed (the rest is an unfinished token). */
  private scan(buf: Buffer, last: boolean): number {
    const stack = this.stack;
    const len = buf.length;
    let i = 0;
    while (i < len) {
      const c = buf[i]!;
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
        i++;
        continue;
      }
      if (c === 0x22) {
        // String: find the closing quote, skipping escaped characters.
        let j = i + 1;
        let escaped = false;
        while (j < len) {
          const d = buf[j]!;
          if (d === 0x5c) {
            escaped = true;
            j += 2;
            continue;
          }
          if (d === 0x22) break;
          j++;
        }
        if (j >= len) {
          if (last) this.fail('an unterminated string', i);
          return i;
        }
        const s = escaped
          ? (JSON.parse(buf.toString('utf8', i, j + 1)) as string)
          : buf.toString('utf8', i + 1, j);
        const top = stack[stack.length - 1];
        if (top && !top.array && top.expectKey) {
          top.key = s;
          top.expectKey = false;
        } else {
          this.value(s, i);
        }
        i = j + 1;
        continue;
      }
      if (isNumberByte(c)) {
        let j = i + 1;
        while (j < len && isNumberByte(buf[j]!)) j++;
        if (j >= len && !last) return i;
        const n = Number(buf.toString('latin1', i, j));
        if (Number.isNaN(n)) this.fail(`a malformed number "${buf.toString('latin1', i, j)}"`, i);
        this.value(n, i);
        i = j;
        continue;
      }
      switch (c) {
        case 0x7b: // {
        case 0x5b: {
          // [
          if (stack.length === 0) {
            if (this.sawRoot) this.fail('a second top-level value', i);
            this.sawRoot = true;
          }
          stack.push({ array: c === 0x5b, key: undefined, index: 0, expectKey: c === 0x7b });
          i++;
          continue;
        }
        case 0x7d: // }
        case 0x5d: {
          // ]
          const closed = stack.pop();
          if (!closed || closed.array !== (c === 0x5d))
            this.fail(`an unexpected "${String.fromCharCode(c)}"`, i);
          this.handlers.close?.(stack, closed);
          i++;
          continue;
        }
        case 0x2c: {
          // ,
          const top = stack[stack.length - 1];
          if (!top) this.fail('an unexpected ","', i);
          if (top.array) top.index++;
          else top.expectKey = true;
          i++;
          continue;
        }
        case 0x3a: // :
          i++;
          continue;
      }
      const word = c === 0x74 ? 'true' : c === 0x66 ? 'false' : c === 0x6e ? 'null' : undefined;
      if (!word) this.fail(`an unexpected byte 0x${c.toString(16)}`, i);
      if (i + word.length > len) {
        if (last) this.fail('the JSON ends early', i);
        return i;
      }
      if (buf.toString('latin1', i, i + word.length) !== word) this.fail('an unknown literal', i);
      this.value(word === 'true' ? true : word === 'false' ? false : null, i);
      i += word.length;
    }
    return len;
  }
}
