/**
 * Pure pieces of the OpenAI-compatible embeddings client: the URL, request
 * bodies, batch planning by item count and token budget, retry delays, and
 * the checks that turn a server reply into vectors or a classified error.
 *
 * Invariant kept here: a reply is accepted only if it holds exactly one finite
 * vector per input, each with the expected dimension; anything else becomes a
 * PermanentError (retrying cannot fix it) or a TransientError (it might).
 * No I/O in this file, so every rule is unit-testable without a server.
 */
import { EmbedderFaultError, PermanentError, TransientError } from '../config/errors.js';

export type EncodingFormat = 'base64' | 'float';

/** Heuristic used by OpenAI's own docs: about four characters of English per token. */
export const CHARS_PER_TOKEN = 4;
/** Full-jitter backoff never waits longer than this between two attempts. */
export const BACKOFF_CAP_MS = 30_000;
/** A server's Retry-After is honoured up to this; beyond it the pipeline's own retry is the better wait. */
export const RETRY_AFTER_CAP_MS = 120_000;
/** How much of a server's reply goes into an error message: enough to read, not a log flood. */
export const REPLY_EXCERPT_CHARS = 300;

/** `${base}/v1/embeddings`, whether or not the base already ends in /v1 (both spellings are common). */
export function embeddingsUrl(base: string): string {
  const trimmed = base.replace(/\/+$/, '');
  return /\/v1$/.test(trimmed) ? `${trimmed}/embeddings` : `${trimmed}/v1/embeddings`;
}

export function estimateTokens(text: string): number {
  return Math.ceil(text.length / CHARS_PER_TOKEN);
}

/**
 * Cut a text to about `maxTokens` tokens. Servers reject over-long inputs, so
 * one huge text must not fail its whole batch; the caller logs a warning.
 * Never splits a surrogate pair (that would send invalid UTF-16 as U+FFFD).
 */
export function truncateToTokens(text: string, maxTokens: number): string {
  const maxChars = maxTokens * CHARS_PER_TOKEN;
  if (text.length <= maxChars) return text;
  let end = maxChars;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end -= 1;
  return text.slice(0, end);
}

export interface Batch {
  /** Index of this batch's first text in the caller's input. Batches are contiguous and in order. */
  start: number;
  texts: string[];
  /** Input indices whose text was truncated to fit the token budget. */
  truncated: number[];
}

/**
 * Greedy, order-preserving split: a batch closes when adding the next text
 * would exceed `maxItems` texts or `maxTokens` estimated tokens. A single text
 * over the budget is truncated to it and goes alone (it fills the budget).
 */
export function planBatches(texts: readonly string[], maxItems: number, maxTokens: number): Batch[] {
  const batches: Batch[] = [];
  let cur: Batch | undefined;
  let curTokens = 0;
  texts.forEach((raw, i) => {
    let text = raw;
    let tokens = estimateTokens(text);
    let wasTruncated = false;
    if (tokens > maxTokens) {
      text = truncateToTokens(text, maxTokens);
      tokens = estimateTokens(text);
      wasTruncated = true;
    }
    if (!cur || cur.texts.length >= maxItems || curTokens + tokens > maxTokens) {
      cur = { start: i, texts: [], truncated: [] };
      batches.push(cur);
      curTokens = 0;
    }
    cur.texts.push(text);
    if (wasTruncated) cur.truncated.push(i);
    curTokens += tokens;
  });
  return batches;
}

export function buildEmbeddingsBody(model: string, input: readonly string[], format: EncodingFormat): string {
  return JSON.stringify({ model, input, encoding_format: format });
}

export function buildHeaders(apiKey: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json',
  };
  if (apiKey) headers.authorization = `Bearer ${apiKey}`;
  return headers;
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); undefined if absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  const s = v.trim();
  if (s === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(s)) return Math.min(Math.round(Number(s) * 1000), RETRY_AFTER_CAP_MS);
  const at = Date.parse(s);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, at - nowMs), RETRY_AFTER_CAP_MS);
}

/**
 * Delay before retry number `attempt` (0-based). A server's Retry-After wins;
 * otherwise "full jitter" (uniform in [0, min(cap, base * 2^attempt)]), which
 * spreads a crowd of clients that all failed at once instead of having them
 * retry in lockstep.
 */
export function retryDelayMs(
  attempt: number,
  retryAfterMs: number | undefined,
  baseMs: number,
  random: () => number = Math.random,
  capMs: number = BACKOFF_CAP_MS,
): number {
  if (retryAfterMs !== undefined) return retryAfterMs;
  const ceiling = Math.min(capMs, baseMs * 2 ** attempt);
  return Math.floor(random() * ceiling);
}

export function excerpt(body: string): string {
  const flat = body.replace(/\s+/g, ' ').trim();
  return flat.length > REPLY_EXCERPT_CHARS ? `${flat.slice(0, REPLY_EXCERPT_CHARS)}…` : flat;
}

/** Where a message points the operator: the endpoint setting and its value. */
export function whereServer(base: string): string {
  return `the embeddings server at SPARK_CONTROL_URL=${base}`;
}

/** A 400/422 that complains about encoding_format: the server cannot do base64, so ask for floats instead. */
export function isEncodingFormatRejection(status: number, body: string): boolean {
  return (status === 400 || status === 422) && /encoding_format|base64/i.test(body);
}

/**
 * Turn a non-2xx status into the right error kind. 408, 425, 429 and 5xx are
 * worth retrying (with the server's Retry-After when given); every other 4xx
 * means the request itself is wrong, so repeating it only repeats the failure.
 */
export function statusError(
  status: number,
  body: string,
  retryAfterMs: number | undefined,
  base: string,
  batchSize: number,
): TransientError | PermanentError | EmbedderFaultError {
  const reply = `HTTP ${status}: ${excerpt(body) || '(empty body)'}`;
  const what = `${whereServer(base)} answered a batch of ${batchSize} text(s) with ${reply}`;
  if (status === 408 || status === 425 || status === 429 || status >= 500) {
    return new TransientError(`${what}. Retrying; if it persists, check that server's load and logs.`, {
      retryAfterMs,
    });
  }
  if (status === 401 || status === 403) {
    return new EmbedderFaultError(`${what}. Check SPARK_CONTROL_API_KEY for that server.`);
  }
  if (status === 404) {
    return new EmbedderFaultError(
      `${what}. Check that SPARK_CONTROL_URL is the server's base URL (the client appends /v1/embeddings) and that EMBEDDING_MODEL exists there.`,
    );
  }
  return new PermanentError(
    `${what}. Check EMBEDDING_MODEL and the server's input limits (EMBED_MAX_TOKENS_PER_REQUEST).`,
  );
}

/**
 * A 200 whose body is not the expected JSON. Often a proxy's error page or a
 * truncated body, which a retry can fix; the client retries it and reports it
 * as permanent once retries are used up.
 */
export class MalformedReplyError extends TransientError {}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Little-endian float32, as OpenAI-compatible servers encode `encoding_format: base64`. */
export function decodeBase64Float32(b64: string): Float32Array | undefined {
  const buf = Buffer.from(b64, 'base64');
  if (buf.byteLength % 4 !== 0) return undefined;
  if (LITTLE_ENDIAN) {
    // One copy into an aligned buffer (Buffer's pool offset may not be a multiple of 4).
    return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  }
  const out = new Float32Array(buf.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}

export function encodeBase64Float32(v: Float32Array | readonly number[]): string {
  const f = v instanceof Float32Array ? v : Float32Array.from(v);
  if (LITTLE_ENDIAN) return Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('base64');
  const buf = Buffer.alloc(f.length * 4);
  for (let i = 0; i < f.length; i++) buf.writeFloatLE(f[i]!, i * 4);
  return buf.toString('base64');
}

/** Scale to unit length so cosine similarity is a dot product. An all-zero vector stays zero (no direction to keep). */
export function l2normalize(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  if (sum === 0) return v;
  const inv = 1 / Math.sqrt(sum);
  for (let i = 0; i < v.length; i++) v[i] = v[i]! * inv;
  return v;
}

export interface ParsedReply {
  /** L2-normalised, in input order. */
  vectors: Float32Array[];
  dim: number;
  /** True when at least one embedding came back as a float array (the server ignores base64). */
  sawFloatArrays: boolean;
}

export interface ParseContext {
  base: string;
  expectedCount: number;
  /** Known dimension (configured or probed); undefined on the probe that learns it. */
  expectedDim: number | undefined;
  /** Where expectedDim came from, for the message. */
  dimSource?: string;
}

/**
 * Validate and decode a 200 reply `{ data: [{ index, embedding }] }`.
 * Throws MalformedReplyError for a body that is not that shape (retryable),
 * PermanentError for a well-formed reply with wrong content.
 */
export function parseEmbeddingsReply(body: string, ctx: ParseContext): ParsedReply {
  const where = whereServer(ctx.base);
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    // Python's json module writes NaN/Infinity literals, which are not JSON: that is bad data, not a glitch.
    if (/[[,:]\s*-?(NaN|Infinity)\b/.test(body)) {
      throw new PermanentError(
        `${where} returned non-finite numbers (NaN/Infinity) in embeddings: ${excerpt(body)}. The model output is broken; check that server.`,
      );
    }
    throw new MalformedReplyError(
      `${where} returned HTTP 200 with a body that is not JSON: ${excerpt(body) || '(empty body)'}`,
    );
  }
  const data = (json as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) {
    throw new MalformedReplyError(
      `${where} returned HTTP 200 without a "data" array (not an OpenAI embeddings reply): ${excerpt(body)}`,
    );
  }
  if (data.length !== ctx.expectedCount) {
    throw new EmbedderFaultError(
      `${where} returned ${data.length} embedding(s) for ${ctx.expectedCount} input(s); every input needs exactly one. Reply: ${excerpt(body)}`,
    );
  }
  const out: (Float32Array | undefined)[] = new Array<Float32Array | undefined>(ctx.expectedCount);
  let dim = ctx.expectedDim;
  let sawFloatArrays = false;
  for (let k = 0; k < data.length; k++) {
    const item = data[k] as { index?: unknown; embedding?: unknown } | null;
    const index = item?.index;
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= ctx.expectedCount) {
      throw new PermanentError(
        `${where} returned data[${k}] with index ${JSON.stringify(index)}; expected an integer from 0 to ${ctx.expectedCount - 1}. Reply: ${excerpt(body)}`,
      );
    }
    if (out[index] !== undefined) {
      throw new PermanentError(
        `${where} returned index ${index} twice in one reply; check the server's OpenAI compatibility. Reply: ${excerpt(body)}`,
      );
    }
    let vec: Float32Array | undefined;
    const emb = item?.embedding;
    if (typeof emb === 'string') {
      vec = decodeBase64Float32(emb);
      if (!vec) {
        throw new PermanentError(
          `${where} returned a base64 embedding at index ${index} whose length is not a whole number of float32 values; check the server's base64 encoding.`,
        );
      }
    } else if (Array.isArray(emb)) {
      sawFloatArrays = true;
      vec = new Float32Array(emb.length);
      for (let i = 0; i < emb.length; i++) {
        const x: unknown = emb[i];
        if (typeof x !== 'number') {
          throw new PermanentError(
            `${where} returned a non-number (${JSON.stringify(x)}) at embedding[${index}][${i}]; NaN is often serialised as null. The model output is broken; check that server.`,
          );
        }
        vec[i] = x;
      }
    } else {
      throw new PermanentError(
        `${where} returned data[${k}] without an "embedding" array or base64 string; check the server's OpenAI compatibility. Reply: ${excerpt(body)}`,
      );
    }
    for (let i = 0; i < vec.length; i++) {
      if (!Number.isFinite(vec[i]!)) {
        throw new PermanentError(
          `${where} returned a non-finite value (${vec[i]}) at embedding[${index}][${i}]. The model output is broken; check that server.`,
        );
      }
    }
    if (vec.length === 0) {
      throw new EmbedderFaultError(
        `${where} returned an empty embedding at index ${index}; check the model name in EMBEDDING_MODEL.`,
      );
    }
    if (dim === undefined) {
      dim = vec.length;
    } else if (vec.length !== dim) {
      const source =
        ctx.expectedDim !== undefined ? (ctx.dimSource ?? 'expected') : `the first vector of this reply`;
      throw new EmbedderFaultError(
        `${where} returned a ${vec.length}-dimensional embedding at index ${index}, but ${source} has ${dim} dimensions. ` +
          `Set EMBEDDING_DIM to the model's size, or check EMBEDDING_MODEL.`,
      );
    }
    out[index] = l2normalize(vec);
  }
  return { vectors: out as Float32Array[], dim: dim!, sawFloatArrays };
}
