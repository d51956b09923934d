/**
 * A misbehaving OpenAI-compatible embeddings server for tests: a real
 * node:http (or https, self-signed) server on 127.0.0.1 that speaks
 * `POST /v1/embeddings` and can be told to be slow, fail with a status and
 * Retry-After, drop the connection mid-reply, send garbage, wrong sizes, NaN,
 * too few vectors, shuffled indices, or refuse base64.
 *
 * Its vectors are deterministic (a hashed bag of words, L2-normalised), so a
 * test can compare what a client returns with `expectedVector(text, dim)`.
 * It records every request (body, headers, arrival and reply time) so tests can
 * inspect batching and how many requests a client keeps in flight.
 *
 * Usage:
 *   const srv = await startEmbeddingsServer({ dim: 8 });
 *   srv.enqueue({ kind: 'status', status: 429, retryAfter: '1' }); // next request only
 *   ... srv.url, srv.requests, srv.count ...
 *   await srv.close();
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export type Fault =
  /** Answer normally (after the default delay). */
  | { kind: 'ok' }
  /** Answer normally after `ms`. */
  | { kind: 'delay'; ms: number }
  /** Reply with this status, an OpenAI-style error body (or `body`), and optional Retry-After. */
  | { kind: 'status'; status: number; retryAfter?: string; body?: string }
  /** Send headers and half the body, then destroy the socket. */
  | { kind: 'drop' }
  /** Destroy the socket before any reply. */
  | { kind: 'reset' }
  /** HTTP 200 with a body that is not JSON. */
  | { kind: 'garbage'; body?: string }
  /** Vectors of another size. */
  | { kind: 'wrongDim'; dim: number }
  /** One value is NaN: as `null` in float mode (what JSON.stringify does), as float32 NaN in base64. */
  | { kind: 'nan'; python?: boolean }
  /** One vector fewer than inputs. */
  | { kind: 'fewer' }
  /** `data` in reverse order (indices still right): the client must sort by index. */
  | { kind: 'shuffle' }
  /** Items without an `index` field. */
  | { kind: 'noIndex' };

export interface EmbeddingsServerOptions {
  dim?: number;
  /**
   * Each reply is sent this many ms after its request arrived (the server's own work, vectors and
   * JSON included, happens inside it, as a GPU server's time per request includes its own).
   */
  delayMs?: number;
  /** Bearer key required when set (401 otherwise). */
  apiKey?: string;
  /**
   * How base64 requests are handled: 'yes' encodes float32 LE base64;
   * 'reject' answers 400 naming encoding_format; 'ignore' sends float arrays anyway.
   */
  base64?: 'yes' | 'reject' | 'ignore';
  /** Serve HTTPS with a fresh self-signed certificate for 127.0.0.1. */
  tls?: boolean;
  /** Applied to every request after the enqueued faults run out. */
  always?: Fault;
  /**
   * Vectors that cost next to nothing to compute (from the text's length only), for benchmarks in
   * which the server's time must be its delay alone; tests compare with `expectedVector` instead.
   */
  cheapVectors?: boolean;
  /**
   * A poison input: any request with an input containing this text gets a 400
   * (what a real server does with an input it cannot take), whatever else is queued.
   */
  rejectInputsContaining?: string;
}

export interface RecordedRequest {
  n: number;
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON body, or the raw text when it was not JSON. */
  body: { model?: string; input?: string | string[]; encoding_format?: string } | string;
  at: number;
  /** When its reply was sent or its connection closed (undefined while in flight). */
  doneAt?: number;
}

export interface EmbeddingsServer {
  url: string;
  dim: number;
  /** Every request received, in arrival order. */
  requests: RecordedRequest[];
  /** Number of POST /v1/embeddings requests received. */
  readonly count: number;
  /** Faults for the next requests, one each, in order. */
  enqueue(...faults: Fault[]): void;
  /** Change the behaviour applied once the queue is empty. */
  setAlways(fault: Fault | undefined): void;
  /** Inputs of every embeddings request, in arrival order. */
  inputs(): string[][];
  /** Highest number of embeddings requests in flight at once. */
  readonly maxInFlight: number;
  close(): Promise<void>;
}

/** FNV-1a, 32-bit: tiny and deterministic; good enough to spread words over dimensions. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The server's embedding of `text`: hashed bag of lowercase words with ±1 signs, L2-normalised. */
export function expectedVector(text: string, dim: number): Float32Array {
  const v = new Float32Array(dim);
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  for (const w of words) {
    const h = fnv1a(w);
    v[h % dim]! += h & 0x80000000 ? -1 : 1;
  }
  // A constant component keeps empty and all-cancelling texts from being the zero vector.
  v[0]! += 0.5;
  let sum = 0;
  for (const x of v) sum += x * x;
  const inv = 1 / Math.sqrt(sum);
  for (let i = 0; i < dim; i++) v[i] = v[i]! * inv;
  return v;
}

/** A unit vector from the text's length alone: no work per word. */
function cheapVector(text: string, dim: number): Float32Array {
  const v = new Float32Array(dim);
  v[text.length % dim] = 0.6;
  v[(text.length * 7 + 3) % dim]! += 0.8;
  let sum = 0;
  for (const x of v) sum += x * x;
  for (let i = 0; i < dim; i++) v[i] = v[i]! / Math.sqrt(sum);
  return v;
}

function toBase64(v: ArrayLike<number>): string {
  const f = Float32Array.from(v);
  // Explicit little-endian, whatever the host order, as the protocol requires.
  const view = new DataView(f.buffer);
  for (let i = 0; i < f.length; i++) view.setFloat32(i * 4, v[i]!, true);
  return Buffer.from(f.buffer).toString('base64');
}

export async function startEmbeddingsServer(opts: EmbeddingsServerOptions = {}): Promise<EmbeddingsServer> {
  const dim = opts.dim ?? 8;
  const base64Mode = opts.base64 ?? 'yes';
  const queue: Fault[] = [];
  let always: Fault | undefined = opts.always;
  const requests: RecordedRequest[] = [];
  let count = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const sockets = new Set<import('node:net').Socket>();

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: RecordedRequest['body'] = raw;
      try {
        body = JSON.parse(raw) as RecordedRequest['body'];
      } catch {
        // recorded as text
      }
      const rec: RecordedRequest = {
        n: requests.length + 1,
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body,
        at: now(),
      };
      requests.push(rec);
      if (req.method !== 'POST' || !/\/v1\/embeddings$/.test(req.url ?? '')) {
        sendJson(res, 404, { error: { message: `no route ${req.method} ${req.url}`, type: 'not_found' } });
        return;
      }
      count++;
      const fault = queue.shift() ?? always ?? { kind: 'ok' };
      const delay = fault.kind === 'delay' ? fault.ms : (opts.delayMs ?? 0);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const done = (): void => {
        inFlight--;
        rec.doneAt = now();
      };
      res.on('close', done);
      // The reply is worked out now and sent when due: the server's own work is inside the delay.
      const send = replyTo(rec, fault, res);
      const run = (): void => {
        if (!res.destroyed) send();
      };
      const wait = rec.at + delay - now();
      if (wait > 0) setTimeout(run, wait);
      else run();
    });
  };

  /** The reply to `rec`, worked out at once, as the call that sends it. */
  function replyTo(rec: RecordedRequest, fault: Fault, res: http.ServerResponse): () => void {
    if (opts.apiKey && rec.headers.authorization !== `Bearer ${opts.apiKey}`) {
      return () =>
        sendJson(res, 401, {
          error: { message: 'Incorrect API key provided.', type: 'invalid_request_error' },
        });
    }
    const body = typeof rec.body === 'object' ? rec.body : undefined;
    if (!body || body.input === undefined) {
      return () =>
        sendJson(res, 400, {
          error: { message: "'input' is a required property", type: 'invalid_request_error' },
        });
    }
    const inputs = typeof body.input === 'string' ? [body.input] : body.input;
    if (opts.rejectInputsContaining && inputs.some((t) => t.includes(opts.rejectInputsContaining!))) {
      return () =>
        sendJson(res, 400, {
          error: { message: 'This input cannot be embedded (poison).', type: 'invalid_request_error' },
        });
    }
    const wantBase64 = body.encoding_format === 'base64';
    if (wantBase64 && base64Mode === 'reject') {
      return () =>
        sendJson(res, 400, {
          error: {
            message: "Unsupported value for 'encoding_format': 'base64'",
            type: 'invalid_request_error',
          },
        });
    }
    switch (fault.kind) {
      case 'status':
        return () => {
          res.writeHead(fault.status, {
            'content-type': 'application/json',
            ...(fault.retryAfter !== undefined ? { 'retry-after': fault.retryAfter } : {}),
          });
          res.end(
            fault.body ??
              JSON.stringify({ error: { message: `injected ${fault.status}`, type: 'server_error' } }),
          );
        };
      case 'reset':
        return () => res.socket?.destroy();
      case 'garbage':
        return () => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(fault.body ?? '<html><body>502 Bad Gateway</body></html>');
        };
      default:
        break;
    }
    const vecDim = fault.kind === 'wrongDim' ? fault.dim : dim;
    const asBase64 = wantBase64 && base64Mode === 'yes';
    const vectors = inputs.map((t) =>
      Array.from(opts.cheapVectors ? cheapVector(t, vecDim) : expectedVector(t, vecDim)),
    );
    if (fault.kind === 'nan') vectors[0]![0] = NaN;
    let data: { object: string; index?: number; embedding: number[] | string }[] = vectors.map(
      (v, index) => ({
        object: 'embedding',
        index,
        embedding: asBase64 ? toBase64(v) : v,
      }),
    );
    if (fault.kind === 'fewer') data = data.slice(0, -1);
    if (fault.kind === 'shuffle') data = data.reverse();
    if (fault.kind === 'noIndex') data = data.map(({ index: _index, ...rest }) => rest);
    const tokens = inputs.reduce((a, t) => a + Math.ceil(t.length / 4), 0);
    let text = JSON.stringify({
      object: 'list',
      data,
      model: body.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
    if (fault.kind === 'nan' && fault.python) text = text.replace('null', 'NaN');
    if (fault.kind === 'drop') {
      return () => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.write(text.slice(0, Math.floor(text.length / 2)));
        // Let the half body reach the client before the socket dies, so it fails mid-body.
        setTimeout(() => res.socket?.destroy(), 20);
      };
    }
    return () => sendJson(res, 200, text);
  }

  let server: http.Server;
  if (opts.tls) {
    const selfsigned = await import('selfsigned');
    const pems = await selfsigned.generate([{ name: 'commonName', value: '127.0.0.1' }], {
      // EC keys generate in milliseconds; RSA-2048 takes seconds on a busy machine.
      keyType: 'ec',
      curve: 'P-256',
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
    });
    server = https.createServer({ key: pems.private, cert: pems.cert }, handler);
  } else {
    server = http.createServer(handler);
  }
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('secureConnection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    dim,
    requests,
    get count() {
      return count;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    enqueue: (...faults) => {
      queue.push(...faults);
    },
    setAlways: (f) => {
      always = f;
    },
    inputs: () =>
      requests
        .filter((r) => r.method === 'POST' && typeof r.body === 'object')
        .map((r) => {
          const input = (r.body as { input?: string | string[] }).input ?? [];
          return typeof input === 'string' ? [input] : input;
        }),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Epoch milliseconds with a fraction: replies are due to the fraction of a millisecond. */
function now(): number {
  return performance.timeOrigin + performance.now();
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
