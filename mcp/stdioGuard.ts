/**
 * A filter in front of the SDK's stdio transport that bounds one message.
 * The SDK drops a line larger than its read buffer with no reply and closes
 * the transport, so the client waits forever. This guard passes complete
 * lines of at most `maxBytes` through, and for a longer one discards it as it
 * arrives (never holding more than `maxBytes`), logs it, and answers the
 * request with a JSON-RPC error carrying its id, so the client gets a reply.
 */
import { Transform, type TransformCallback } from 'node:stream';

/** The largest message read from stdin: the SDK's own read-buffer default. */
export const MAX_STDIO_MESSAGE_BYTES = 10 * 1024 * 1024;
/** How much of an oversized line's start and end is kept to find its JSON-RPC id. */
const ID_WINDOW = 4096;

export interface StdioGuardOptions {
  maxBytes?: number;
  /** Where the error reply goes (the same stream the SDK answers on). */
  reply(line: string): void;
  log(message: string): void;
}

/** The JSON-RPC id in a fragment of a request, if one is there. */
export function findRequestId(fragment: string): string | number | undefined {
  const m = /"id"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+)/.exec(fragment);
  if (!m) return undefined;
  try {
    return JSON.parse(m[1]!) as string | number;
  } catch {
    return undefined;
  }
}

export class StdioGuard extends Transform {
  private readonly max: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private dropping = false;
  private droppedBytes = 0;
  private head = '';
  private tail = Buffer.alloc(0);

  constructor(private readonly opts: StdioGuardOptions) {
    super();
    this.max = opts.maxBytes ?? MAX_STDIO_MESSAGE_BYTES;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      const piece = chunk.subarray(start, nl === -1 ? chunk.length : nl);
      this.accept(piece);
      if (nl === -1) break;
      this.endLine();
      start = nl + 1;
    }
    done();
  }

  private accept(piece: Buffer): void {
    if (piece.length === 0) return;
    if (!this.dropping && this.pendingBytes + piece.length > this.max) {
      // Too large: keep its start for the id, and from now on only its last bytes.
      const all = Buffer.concat([...this.pending, piece]);
      this.head = all.subarray(0, ID_WINDOW).toString('utf8');
      this.tail = all.subarray(Math.max(0, all.length - ID_WINDOW));
      this.droppedBytes = all.length;
      this.pending = [];
      this.pendingBytes = 0;
      this.dropping = true;
      return;
    }
    if (this.dropping) {
      this.droppedBytes += piece.length;
      this.tail = Buffer.concat([this.tail, piece]);
      if (this.tail.length > ID_WINDOW) this.tail = this.tail.subarray(this.tail.length - ID_WINDOW);
      return;
    }
    this.pending.push(piece);
    this.pendingBytes += piece.length;
  }

  private endLine(): void {
    if (this.dropping) {
      const id = findRequestId(this.head) ?? findRequestId(this.tail.toString('utf8'));
      const mb = (this.max / 1024 / 1024).toFixed(0);
      const message = `The message of ${this.droppedBytes} bytes is larger than the ${mb} MB an MCP message may be on stdio; it was discarded. Send less at once (for add_note, a body is at most 64 KB).`;
      this.opts.log(`crm-index mcp: ${message}${id === undefined ? ' It carried no id to answer.' : ''}`);
      if (id !== undefined)
        this.opts.reply(JSON.stringify({ jsonrpc: '2.0', id, error: { code: -32600, message } }) + '\n');
      this.dropping = false;
      this.head = '';
      this.tail = Buffer.alloc(0);
      this.droppedBytes = 0;
      return;
    }
    this.pending.push(Buffer.from('\n'));
    this.push(Buffer.concat(this.pending));
    this.pending = [];
    this.pendingBytes = 0;
  }

  override _flush(done: TransformCallback): void {
    if (!this.dropping && this.pendingBytes > 0) this.push(Buffer.concat(this.pending));
    done();
  }
}
