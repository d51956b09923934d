/**
 * Dense embeddings from any OpenAI-compatible `POST /v1/embeddings` server
 * (Spark Control, vLLM, TEI, Ollama, LM Studio, OpenAI) over undici.
 *
 * Owns: the connection pool (a dedicated keep-alive Agent, so turning TLS
 * verification off affects this endpoint only), batching, bounded
 * concurrency, retries with backoff, and the base64/float negotiation.
 *
 * Invariant: `embed(texts)` resolves to exactly `texts.length` finite,
 * L2-normalised vectors of `dim` values, in input order, or rejects with a
 * TransientError (worth retrying later: the server is down or busy) or a
 * PermanentError (this input or this configuration will never work), whose
 * message quotes what the server said. Request bodies and reply checks are
 * pure functions in httpRequests.ts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import PQueue from 'p-queue';
import { Agent, request } from 'undici';
import {
  ConfigError,
  PermanentError,
  TransientError,
  maskCredentials,
  errorMessage,
  logger,
  type Config,
} from '../config/index.js';
import {
  MalformedReplyError,
  buildEmbeddingsBody,
  buildHeaders,
  embeddingsUrl,
  isEncodingFormatRejection,
  parseEmbeddingsReply,
  parseRetryAfter,
  planBatches,
  retryDelayMs,
  statusError,
  whereServer,
  type EncodingFormat,
} from './httpRequests.js';
import type { DenseEmbedder } from './types.js';

export interface HttpEmbedderSettings {
  /** Server base URL; `/v1/embeddings` is appended (a trailing /v1 is accepted). */
  baseUrl: string;
  model: string;
  apiKey?: string;
  verifyTls: boolean;
  /** Known dimension; checked on the probe. Undefined: learned from the probe. */
  dim?: number;
  batchSize: number;
  maxTokensPerRequest: number;
  concurrency: number;
  timeoutMs: number;
  maxRetries: number;
  backoffBaseMs: number;
  /** Starting encoding; falls back to float for the embedder's lifetime if the server cannot do base64. */
  encodingFormat?: EncodingFormat;
  /** For tests: the jitter source. */
  random?: () => number;
}

export type HttpEmbedderOverrides = Partial<HttpEmbedderSettings>;

/** Counters for metrics and tests; they only grow. */
export interface HttpEmbedderStats {
  requests: number;
  retries: number;
  texts: number;
  truncated: number;
}

/** TLS verification failures: a configuration problem, so retrying is pointless. */
const TLS_ERROR_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Text of the probe request: short, so it costs nothing, and real words, so every tokenizer accepts it. */
const PROBE_TEXT = 'dimension probe';
/** Idle keep-alive sockets live this long; below typical server idle timeouts (often 5-60 s) to avoid reuse races. */
const KEEP_ALIVE_MS = 4_000;

export function createHttpEmbedder(config: Config, opts: HttpEmbedderOverrides = {}): HttpEmbedder {
  return new HttpEmbedder(httpEmbedderSettings(config, opts));
}

/** The client's settings from the configuration; throws a ConfigError when there is no URL. */
export function httpEmbedderSettings(config: Config, opts: HttpEmbedderOverrides = {}): HttpEmbedderSettings {
  const baseUrl = opts.baseUrl ?? config.sparkControlUrl;
  if (!baseUrl) {
    throw new ConfigError(
      'SPARK_CONTROL_URL is not set, so there is no embeddings server to call; set it (or --embed-url) or use the local embedder.',
    );
  }
  return {
    baseUrl,
    model: config.embeddingModel ?? config.resolvedModel,
    apiKey: config.sparkControlApiKey,
    verifyTls: config.sparkControlVerifyTls,
    dim: config.embeddingDim,
    batchSize: config.embedBatchSize,
    maxTokensPerRequest: config.embedMaxTokensPerRequest,
    concurrency: config.embedConcurrency,
    timeoutMs: config.embedTimeoutMs,
    maxRetries: config.embedMaxRetries,
    backoffBaseMs: config.embedBackoffBaseMs,
    ...opts,
  };
}

export class HttpEmbedder implements DenseEmbedder {
  readonly modelId: string;
  readonly queues = true;
  readonly stats: HttpEmbedderStats = { requests: 0, retries: 0, texts: 0, truncated: 0 };
  private readonly s: HttpEmbedderSettings;
  private readonly url: string;
  private readonly agent: Agent;
  private readonly queue: PQueue;
  private readonly log = logger('encoders.http');
  private format: EncodingFormat;
  private knownDim: number | undefined;
  private dimSource: string | undefined;
  private initPromise: Promise<void> | undefined;
  private closed = false;

  constructor(settings: HttpEmbedderSettings) {
    this.s = settings;
    this.modelId = settings.model;
    this.url = embeddingsUrl(settings.baseUrl);
    this.format = settings.encodingFormat ?? 'base64';
    this.knownDim = settings.dim;
    this.dimSource = settings.dim !== undefined ? `EMBEDDING_DIM=${settings.dim}` : undefined;
    this.agent = new Agent({
      connections: settings.concurrency,
      keepAliveTimeout: KEEP_ALIVE_MS,
      headersTimeout: settings.timeoutMs,
      bodyTimeout: settings.timeoutMs,
      // Scoped to this Agent: other HTTPS clients in the process keep verifying certificates.
      ...(settings.verifyTls ? {} : { connect: { rejectUnauthorized: false } }),
    });
    this.queue = new PQueue({ concurrency: settings.concurrency });
  }

  /** Vector size; 0 until `init()` has probed an endpoint whose dimension was not configured. */
  get dim(): number {
    return this.knownDim ?? 0;
  }

  /** The encoding currently requested ('float' once the server has shown it cannot do base64). */
  get encoding(): EncodingFormat {
    return this.format;
  }

  /**
   * One tiny request: learns the dimension (or checks EMBEDDING_DIM against
   * it), whether base64 works, and that URL, key and model are right, so a
   * misconfiguration fails at startup rather than on the first batch.
   */
  init(): Promise<void> {
    this.initPromise ??= this.probe().catch((err: unknown) => {
      this.initPromise = undefined; // a later call may succeed once the server is up
      throw err;
    });
    return this.initPromise;
  }

  private async probe(): Promise<void> {
    const configured = this.knownDim;
    // Learn rather than check, so a mismatch message can name both sizes.
    const vectors = await this.sendWithRetries([PROBE_TEXT], undefined, true);
    const got = vectors[0]!.length;
    if (configured !== undefined && got !== configured) {
      throw new PermanentError(
        `EMBEDDING_DIM=${configured}, but ${whereServer(this.s.baseUrl)} returns ${got}-dimensional vectors for model "${this.modelId}". ` +
          `Set EMBEDDING_DIM=${got} (an existing index of the old size must then be rebuilt) or check EMBEDDING_MODEL.`,
      );
    }
    this.knownDim = got;
    this.dimSource ??= `the probe of model "${this.modelId}"`;
    this.log.info(
      { url: maskCredentials(this.url), model: this.modelId, dim: got, encoding: this.format },
      'embeddings endpoint ready',
    );
  }

  async embed(texts: string[], opts: { signal?: AbortSignal } = {}): Promise<Float32Array[]> {
    if (this.closed)
      throw new PermanentError(
        'The HTTP embedder was used after close(); this is a bug in the caller; report it with the stack trace.',
      );
    if (texts.length === 0) return [];
    await abortable(this.init(), opts.signal);
    const batches = planBatches(texts, this.s.batchSize, this.s.maxTokensPerRequest);
    const out = new Array<Float32Array>(texts.length);
    // One failed batch fails the call, so the batches still queued stop instead of spending the server's time.
    const group = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, group.signal]) : group.signal;
    try {
      await Promise.all(
        batches.map((b) => {
          if (b.truncated.length > 0) {
            this.stats.truncated += b.truncated.length;
            this.log.warn(
              { inputs: b.truncated, maxTokens: this.s.maxTokensPerRequest },
              'text longer than EMBED_MAX_TOKENS_PER_REQUEST was truncated before embedding',
            );
          }
          return (
            this.queue
              // No queue-level signal: p-queue would add one abort listener per batch. A task that
              // starts after an abort fails at once in sendWithRetries instead.
              .add(() => this.sendWithRetries(b.texts, signal), { throwOnTimeout: true })
              .then((vecs) => {
                for (let k = 0; k < vecs.length; k++) out[b.start + k] = vecs[k]!;
              })
          );
        }),
      );
    } catch (err) {
      group.abort(err);
      // The caller's abort reason wins over the queue's generic AbortError.
      if (opts.signal?.aborted) throw opts.signal.reason;
      throw err;
    }
    this.stats.texts += texts.length;
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.queue.clear();
    await this.agent.destroy();
  }

  /** One batch, retried on transient errors. Base64 rejections switch to float without using up a retry. */
  private async sendWithRetries(
    texts: string[],
    signal: AbortSignal | undefined,
    learnDim = false,
  ): Promise<Float32Array[]> {
    let attempt = 0;
    for (;;) {
      signal?.throwIfAborted();
      try {
        return await this.sendOnce(texts, signal, learnDim);
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (err instanceof EncodingRejected) {
          this.log.info(
            { url: maskCredentials(this.url) },
            'server rejected encoding_format=base64; using float from now on',
          );
          this.format = 'float';
          continue;
        }
        if (!(err instanceof TransientError)) throw err;
        if (attempt >= this.s.maxRetries) {
          const tail = `(gave up after ${attempt + 1} attempt(s); EMBED_MAX_RETRIES=${this.s.maxRetries})`;
          // A 200 that stays unreadable is not going to fix itself: dead-letter rather than loop forever.
          if (err instanceof MalformedReplyError)
            throw new PermanentError(`${err.message} ${tail}`, { cause: err });
          throw new TransientError(`${err.message} ${tail}`, { cause: err, retryAfterMs: err.retryAfterMs });
        }
        const delay = retryDelayMs(attempt, err.retryAfterMs, this.s.backoffBaseMs, this.s.random);
        this.log.warn(
          { attempt: attempt + 1, delayMs: delay, err: err.message },
          'embeddings request failed; retrying',
        );
        this.stats.retries++;
        attempt++;
        try {
          await sleep(delay, undefined, { signal });
        } catch {
          throw signal?.reason ?? new TransientError('Embedding was cancelled while waiting to retry.');
        }
      }
    }
  }

  private async sendOnce(
    texts: string[],
    outer: AbortSignal | undefined,
    learnDim: boolean,
  ): Promise<Float32Array[]> {
    const timeout = AbortSignal.timeout(this.s.timeoutMs);
    const signal = outer ? AbortSignal.any([outer, timeout]) : timeout;
    const format = this.format;
    this.stats.requests++;
    let status: number;
    let body: string;
    let retryAfter: string | string[] | undefined;
    try {
      const res = await request(this.url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: buildHeaders(this.s.apiKey),
        body: buildEmbeddingsBody(this.modelId, texts, format),
        signal,
      });
      status = res.statusCode;
      retryAfter = res.headers['retry-after'];
      body = await res.body.text();
    } catch (err) {
      if (outer?.aborted) throw outer.reason;
      throw this.networkError(err, timeout.aborted, texts.length);
    }
    if (status < 200 || status > 299) {
      if (format === 'base64' && isEncodingFormatRejection(status, body)) throw new EncodingRejected();
      throw statusError(status, body, parseRetryAfter(retryAfter, Date.now()), this.s.baseUrl, texts.length);
    }
    const parsed = parseEmbeddingsReply(body, {
      base: this.s.baseUrl,
      expectedCount: texts.length,
      expectedDim: learnDim ? undefined : this.knownDim,
      dimSource: this.dimSource,
    });
    if (format === 'base64' && parsed.sawFloatArrays) {
      // Some servers ignore encoding_format and send arrays; asking for floats saves them a pointless branch.
      this.format = 'float';
      this.log.info(
        { url: maskCredentials(this.url) },
        'server answers base64 requests with float arrays; using float from now on',
      );
    }
    return parsed.vectors;
  }

  private networkError(err: unknown, timedOut: boolean, n: number): Error {
    const where = whereServer(this.s.baseUrl);
    const codes = errorCodes(err);
    const code = codes[0];
    const tlsCode = codes.find((c) => TLS_ERROR_CODES.has(c));
    if (timedOut || codes.includes('UND_ERR_HEADERS_TIMEOUT') || codes.includes('UND_ERR_BODY_TIMEOUT')) {
      return new TransientError(
        `${where} did not answer a batch of ${n} text(s) within EMBED_TIMEOUT_MS=${this.s.timeoutMs} ms. ` +
          'Retrying; raise EMBED_TIMEOUT_MS if the model is slow to load, or lower EMBED_BATCH_SIZE.',
        { cause: err },
      );
    }
    if (tlsCode) {
      return new ConfigError(
        `${where} presented a certificate that failed verification (${tlsCode}: ${errorMessage(err)}). ` +
          'If it is a self-signed certificate you trust, set SPARK_CONTROL_VERIFY_TLS=false (affects this endpoint only).',
        { cause: err },
      );
    }
    return new TransientError(
      `${where} could not be reached or dropped the connection (${code ?? 'error'}: ${errorMessage(err)}). ` +
        'Retrying; check that the server is running and SPARK_CONTROL_URL is right.',
      { cause: err },
    );
  }
}

/** Stop waiting for `p` when `signal` aborts (p itself runs on; init() is shared by all callers). */
function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** The server refused encoding_format=base64; internal signal to switch to float. */
class EncodingRejected extends Error {}

/** Error codes along the cause chain (undici wraps socket and TLS errors). */
function errorCodes(err: unknown): string[] {
  const codes: string[] = [];
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    e = (e as { cause?: unknown }).cause;
  }
  return codes;
}
