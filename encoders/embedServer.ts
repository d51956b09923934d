/**
 * Serves any DenseEmbedder over the OpenAI-compatible embeddings API
 * (`POST /v1/embeddings`, `GET /v1/models`, `GET /healthz`), so the local
 * model can stand in for a GPU server: for tests, and for tools that only
 * speak the OpenAI protocol.
 *
 * Invariant: every reply is either `{ data: [one embedding per input, index
 * i for input i] }` or an OpenAI-style `{ error: { message, type } }` with a
 * status that tells a client whether to retry (503 for transient failures of
 * the embedder, 4xx for a bad request).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { TransientError, errorMessage } from '../config/errors.js';
import { encodeBase64Float32, estimateTokens } from './httpRequests.js';
import type { DenseEmbedder } from './types.js';
import { sendJson } from '../config/net.js';

export interface EmbedServerOptions {
  embedder: DenseEmbedder;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** When set, requests must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Largest request body accepted; protects the process from a runaway client. */
  maxBodyBytes?: number;
}

export interface EmbedServer {
  /** Base URL, e.g. http://127.0.0.1:8089 (clients append /v1/embeddings). */
  url: string;
  close(): Promise<void>;
}

/** 32 MiB: thousands of chunk-sized texts, far beyond one sensible batch. */
const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024;

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string = 'invalid_request_error',
  ) {
    super(message);
  }
}

export interface EmbeddingsRequest {
  model: string | undefined;
  input: string[];
  format: 'float' | 'base64';
}

/** Validate a request body the way OpenAI does, with messages that say which field is wrong. */
export function parseEmbeddingsRequest(raw: string): EmbeddingsRequest {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch (err) {
    throw new HttpProblem(400, `The request body is not valid JSON (${errorMessage(err)}).`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpProblem(400, 'The request body must be a JSON object with "model" and "input".');
  }
  const b = body as { model?: unknown; input?: unknown; encoding_format?: unknown };
  if (b.input === undefined) throw new HttpProblem(400, "'input' is a required property.");
  let input: string[];
  if (typeof b.input === 'string') input = [b.input];
  else if (Array.isArray(b.input) && b.input.every((x) => typeof x === 'string')) input = b.input as string[];
  else {
    throw new HttpProblem(
      400,
      "'input' must be a string or an array of strings (token id arrays are not supported).",
    );
  }
  if (input.length === 0) throw new HttpProblem(400, "'input' must not be an empty array.");
  const fmt = b.encoding_format ?? 'float';
  if (fmt !== 'float' && fmt !== 'base64') {
    throw new HttpProblem(
      400,
      `Unsupported value for 'encoding_format': ${JSON.stringify(fmt)}; use "float" or "base64".`,
    );
  }
  if (b.model !== undefined && typeof b.model !== 'string')
    throw new HttpProblem(400, "'model' must be a string.");
  return { model: b.model, input, format: fmt };
}

/** The OpenAI reply body for vectors already computed. */
export function buildEmbeddingsReply(
  req: EmbeddingsRequest,
  vectors: Float32Array[],
  modelId: string,
): unknown {
  const tokens = req.input.reduce((a, t) => a + estimateTokens(t), 0);
  return {
    object: 'list',
    data: vectors.map((v, index) => ({
      object: 'embedding',
      index,
      embedding: req.format === 'base64' ? encodeBase64Float32(v) : Array.from(v),
    })),
    model: req.model ?? modelId,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  };
}

export async function startEmbedServer(opts: EmbedServerOptions): Promise<EmbedServer> {
  const { embedder } = opts;
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  await embedder.init();

  const server = http.createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      const p =
        err instanceof HttpProblem
          ? err
          : err instanceof TransientError
            ? new HttpProblem(503, errorMessage(err), 'server_error')
            : new HttpProblem(500, errorMessage(err), 'server_error');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendJson(
        res,
        p.status,
        { error: { message: p.message, type: p.type } },
        p.status === 503 ? { 'retry-after': '1' } : {},
      );
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!.replace(/\/+$/, '') || '/';
    if (path === '/healthz' && req.method === 'GET') {
      sendJson(res, 200, { status: 'ok', model: embedder.modelId, dim: embedder.dim });
      return;
    }
    if (opts.apiKey && req.headers.authorization !== `Bearer ${opts.apiKey}`) {
      throw new HttpProblem(401, 'Missing or incorrect API key: send "Authorization: Bearer <key>".');
    }
    if (path === '/v1/models' && req.method === 'GET') {
      sendJson(res, 200, {
        object: 'list',
        data: [{ id: embedder.modelId, object: 'model', owned_by: 'crm-index', created: 0 }],
      });
      return;
    }
    if (path === '/v1/embeddings' || path === '/embeddings') {
      if (req.method !== 'POST') throw new HttpProblem(405, `Use POST for ${path}.`);
      const raw = await readBody(req, maxBody);
      const parsed = parseEmbeddingsRequest(raw);
      const vectors = await embedder.embed(parsed.input);
      sendJson(res, 200, buildEmbeddingsReply(parsed, vectors, embedder.modelId));
      return;
    }
    throw new HttpProblem(
      404,
      `No route ${req.method} ${path}; this server speaks POST /v1/embeddings and GET /v1/models.`,
      'not_found',
    );
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function readBody(req: http.IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        reject(new HttpProblem(413, `The request body is over ${maxBytes} bytes; send smaller batches.`));
        // Drain rather than destroy, so the 413 reaches the client instead of a reset.
        req.removeAllListeners('data');
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
