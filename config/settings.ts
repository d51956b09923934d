/**
 * Every setting crm-index reads, in one table: its env var, its default (with
 * why that value), and how its text is parsed. `docs/configuration.md` is the
 * prose form of this table; `test/config/settings.test.ts` keeps them in step.
 *
 * Parsers throw ConfigError naming the variable and what was expected.
 */
import { ConfigError } from './errors.js';

export type Parser<T> = (raw: string, name: string) => T;

export interface SettingSpec<T> {
  /** Environment variable (and `.env` key) name. */
  env: string;
  /** CLI flag (without the leading dashes), when one exists. */
  flag?: string;
  /** Parsed default; `undefined` means "unset" (optional setting). */
  default: T | undefined;
  parse: Parser<T>;
  /** One line for the configuration reference: what it does, and why the default. */
  doc: string;
  /** Secret values are masked when the config is printed. */
  secret?: boolean;
}

// ---------------------------------------------------------------- parsers

export const str: Parser<string> = (raw, name) => {
  const v = raw.trim();
  if (v === '') throw new ConfigError(`${name} is empty; set it to a value or unset it to use the default.`);
  return v;
};

export const path: Parser<string> = (raw, name) => {
  const v = str(raw, name);
  if (v.includes('\0')) throw new ConfigError(`${name} contains a NUL byte; give a plain file path.`);
  return v;
};

export const url: Parser<string> = (raw, name) => {
  const v = str(raw, name);
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new ConfigError(
      `${name}="${v}" is not a URL; expected a URL with a scheme, such as https://host:port.`,
    );
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ConfigError(
      `${name}="${v}" has scheme "${u.protocol.replace(':', '')}"; expected http:// or https://.`,
    );
  }
  return v.replace(/\/+$/, '');
};

export const bool: Parser<boolean> = (raw, name) => {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(`${name}="${raw}" is not a boolean; expected true or false.`);
};

export function int(min: number, max: number = Number.MAX_SAFE_INTEGER): Parser<number> {
  return (raw, name) => {
    const v = raw.trim();
    if (!/^[+-]?\d+$/.test(v)) {
      throw new ConfigError(
        `${name}="${raw}" is not a whole number; expected an integer from ${min} to ${max}.`,
      );
    }
    const n = Number(v);
    if (n < min || n > max) {
      throw new ConfigError(`${name}=${n} is out of range; expected an integer from ${min} to ${max}.`);
    }
    return n;
  };
}

export function num(min: number, max: number = Number.MAX_VALUE): Parser<number> {
  return (raw, name) => {
    const n = Number(raw.trim());
    if (raw.trim() === '' || !Number.isFinite(n)) {
      throw new ConfigError(`${name}="${raw}" is not a number; expected a number from ${min} to ${max}.`);
    }
    if (n < min || n > max) {
      throw new ConfigError(`${name}=${n} is out of range; expected a number from ${min} to ${max}.`);
    }
    return n;
  };
}

export function oneOf<T extends string>(...values: T[]): Parser<T> {
  return (raw, name) => {
    const v = raw.trim().toLowerCase() as T;
    if (!values.includes(v)) {
      throw new ConfigError(`${name}="${raw}" is not one of ${values.join(', ')}; set it to one of those.`);
    }
    return v;
  };
}

export const list: Parser<string[]> = (raw) =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

// ---------------------------------------------------------------- the table

function spec<T>(s: SettingSpec<T>): SettingSpec<T> {
  return s;
}

export const SETTINGS = {
  dbPath: spec({
    env: 'CRM_DB_PATH',
    flag: 'db',
    default: './data/crm.db',
    parse: path,
    doc: "The CRM's SQLite database. The container image sets /data/crm.db; ./data/crm.db locally so the demo needs no setup.",
  }),
  indexPath: spec({
    env: 'CRM_INDEX_PATH',
    flag: 'index',
    default: undefined as string | undefined,
    parse: path,
    doc: 'Embedded store file. Unset: index.db beside the CRM database, so backups of the data folder include it.',
  }),
  sourceMapPath: spec({
    env: 'CRM_SOURCE_MAP',
    flag: 'source-map',
    default: undefined as string | undefined,
    parse: path,
    doc: 'JSON source map describing what is indexed. Unset: the built-in map for the reference CRM schema.',
  }),
  sparkControlUrl: spec({
    env: 'SPARK_CONTROL_URL',
    flag: 'embed-url',
    default: undefined as string | undefined,
    parse: url,
    doc: 'Base URL of an OpenAI-compatible /v1/embeddings server (Spark Control). Unset: the local GloVe-SIF embedder.',
  }),
  sparkControlVerifyTls: spec({
    env: 'SPARK_CONTROL_VERIFY_TLS',
    default: true,
    parse: bool,
    doc: 'false turns off certificate checks for the embeddings endpoint only (Spark Control uses a self-signed certificate).',
  }),
  sparkControlApiKey: spec({
    env: 'SPARK_CONTROL_API_KEY',
    default: undefined as string | undefined,
    parse: str,
    secret: true,
    doc: 'Sent as "Authorization: Bearer <key>" to the embeddings endpoint when set.',
  }),
  embeddingModel: spec({
    env: 'EMBEDDING_MODEL',
    flag: 'model',
    default: undefined as string | undefined,
    parse: str,
    doc: 'Model name sent to the embeddings endpoint. Unset: "BAAI/bge-base-en-v1.5" for HTTP, "glove-sif-100d" locally.',
  }),
  embeddingDim: spec({
    env: 'EMBEDDING_DIM',
    default: undefined as number | undefined,
    parse: int(1, 65_536),
    doc: 'Dense vector size. Unset: asked of the endpoint with one probe request (100 for the local embedder).',
  }),
  embedBatchSize: spec({
    env: 'EMBED_BATCH_SIZE',
    default: 64,
    parse: int(1, 4096),
    doc: 'Texts per embeddings request; 64 keeps a GPU server busy without huge request bodies.',
  }),
  embedMaxTokensPerRequest: spec({
    env: 'EMBED_MAX_TOKENS_PER_REQUEST',
    default: 16_384,
    parse: int(64, 10_000_000),
    doc: 'Approximate token budget per request (chars/4); providers reject requests over their limit.',
  }),
  embedConcurrency: spec({
    env: 'EMBED_CONCURRENCY',
    default: 4,
    parse: int(1, 256),
    doc: 'Requests in flight to the embeddings endpoint; 4 overlaps network latency without queueing on the GPU.',
  }),
  embedTimeoutMs: spec({
    env: 'EMBED_TIMEOUT_MS',
    default: 60_000,
    parse: int(100, 3_600_000),
    doc: 'Per-request timeout; a cold model load on the GPU box can take tens of seconds.',
  }),
  embedMaxRetries: spec({
    env: 'EMBED_MAX_RETRIES',
    default: 6,
    parse: int(0, 100),
    doc: 'Retries for transient embedding errors (network, 5xx, 429) with exponential backoff (about a minute in all).',
  }),
  embedBackoffBaseMs: spec({
    env: 'EMBED_BACKOFF_BASE_MS',
    default: 500,
    parse: int(1, 600_000),
    doc: 'First retry delay bound; doubles per attempt with full jitter (0.5 s, 1 s, 2 s ... capped at 30 s).',
  }),
  embedServerHost: spec({
    env: 'EMBED_SERVER_HOST',
    flag: 'embed-server-host',
    default: '127.0.0.1',
    parse: str,
    doc: '`crm-index embed-server` listen address; loopback so the local model is not exposed by accident.',
  }),
  embedServerPort: spec({
    env: 'EMBED_SERVER_PORT',
    flag: 'embed-server-port',
    default: 8089,
    parse: int(0, 65_535),
    doc: '`crm-index embed-server` port; 0 picks a free one.',
  }),
  embedServerApiKey: spec({
    env: 'EMBED_SERVER_API_KEY',
    default: undefined as string | undefined,
    parse: str,
    secret: true,
    doc: 'When set, `crm-index embed-server` requires "Authorization: Bearer <key>".',
  }),
  cacheDir: spec({
    env: 'CRM_INDEX_CACHE_DIR',
    default: undefined as string | undefined,
    parse: path,
    doc: 'Where the local embedder keeps its converted GloVe cache (~140 MB). Unset: $XDG_CACHE_HOME/crm-index or ~/.cache/crm-index.',
  }),
  qdrantUrl: spec({
    env: 'QDRANT_URL',
    flag: 'qdrant-url',
    default: undefined as string | undefined,
    parse: url,
    doc: 'Qdrant REST URL. Unset: the embedded SQLite store.',
  }),
  qdrantApiKey: spec({
    env: 'QDRANT_API_KEY',
    default: undefined as string | undefined,
    parse: str,
    secret: true,
    doc: 'Qdrant API key, sent as the api-key header.',
  }),
  collection: spec({
    env: 'QDRANT_COLLECTION',
    flag: 'collection',
    default: 'crm_chunks',
    parse: (raw, name) => {
      const v = str(raw, name);
      if (!/^[A-Za-z0-9_-]{1,200}$/.test(v)) {
        throw new ConfigError(
          `${name}="${raw}" is not a valid collection name; use letters, digits, _ and -.`,
        );
      }
      return v;
    },
    doc: 'Alias the index is served under; the older Python tools used crm_chunks.',
  }),
  qdrantShards: spec({
    env: 'QDRANT_SHARD_NUMBER',
    default: undefined as number | undefined,
    parse: int(1, 1024),
    doc: "Shards per generation collection. Unset: Qdrant's default (1 on a single node, one per peer on a cluster). BM25 IDF is computed per shard.",
  }),
  qdrantReplication: spec({
    env: 'QDRANT_REPLICATION_FACTOR',
    default: undefined as number | undefined,
    parse: int(1, 64),
    doc: "Copies of each shard. Unset: Qdrant's default (1).",
  }),
  qdrantWriteConsistency: spec({
    env: 'QDRANT_WRITE_CONSISTENCY',
    default: undefined as number | undefined,
    parse: int(1, 64),
    doc: "Replicas that must confirm a write; at most QDRANT_REPLICATION_FACTOR. Unset: Qdrant's default (1).",
  }),
  qdrantTimeoutMs: spec({
    env: 'QDRANT_TIMEOUT_MS',
    default: 30_000,
    parse: int(100, 600_000),
    doc: "Deadline of one Qdrant request; a write that waits for replicas on a busy cluster fits, a stuck search does not hold an agent for the client's default 300 s.",
  }),
  syncIntervalMin: spec({
    env: 'CRM_INGEST_SYNC_INTERVAL_MIN',
    flag: 'interval',
    default: 60,
    parse: num(0.01, 10_080),
    doc: 'Minutes between safety sweeps in follow; the old hourly sync interval, now only a drift repair.',
  }),
  httpHost: spec({
    env: 'CRM_INDEX_HTTP_HOST',
    flag: 'host',
    default: '127.0.0.1',
    parse: str,
    doc: 'Address follow serves /healthz, /metrics and the status page on; loopback unless packaged.',
  }),
  httpPort: spec({
    env: 'CRM_INDEX_HTTP_PORT',
    flag: 'port',
    default: 8787,
    parse: int(0, 65_535),
    doc: "Port for follow's /healthz and /metrics (0 picks a free port).",
  }),
  mcpPort: spec({
    env: 'MCP_HTTP_PORT',
    default: 8788,
    parse: int(0, 65_535),
    doc: 'Port for `crm-index mcp --http`.',
  }),
  mcpHost: spec({
    env: 'MCP_HTTP_HOST',
    default: '127.0.0.1',
    parse: str,
    doc: 'Address for `crm-index mcp --http`; loopback needs no token, any other address requires MCP_AUTH_TOKEN.',
  }),
  mcpReadOnly: spec({
    env: 'MCP_READ_ONLY',
    default: false,
    parse: bool,
    doc: 'true removes the MCP write tools (add_note, log_interaction, update_fields), as `crm-index mcp --read-only`.',
  }),
  mcpAuthToken: spec({
    env: 'MCP_AUTH_TOKEN',
    default: undefined as string | undefined,
    parse: (raw, name) => {
      const v = str(raw, name);
      if (v.length < 16)
        throw new ConfigError(`${name} is shorter than 16 characters; use a long random token.`);
      return v;
    },
    secret: true,
    doc: 'Bearer token required by the MCP HTTP server when bound beyond loopback.',
  }),
  mcpAllowedHosts: spec({
    env: 'MCP_ALLOWED_HOSTS',
    default: [] as string[],
    parse: list,
    doc: 'Extra Host header values the MCP HTTP server accepts (loopback names are always accepted).',
  }),
  chunkMaxTokens: spec({
    env: 'CHUNK_MAX_TOKENS',
    default: 256,
    parse: int(16, 8192),
    doc: 'Model tokens per chunk, header included, as estimated for BERT-family tokenizers (within a few % on prose); 256 fits every common embedding model.',
  }),
  chunkOverlapTokens: spec({
    env: 'CHUNK_OVERLAP_TOKENS',
    default: 32,
    parse: int(0, 4096),
    doc: 'Estimated tokens repeated between neighbouring chunks so a sentence cut at a boundary is still found.',
  }),
  maxChunksPerRecord: spec({
    env: 'MAX_CHUNKS_PER_RECORD',
    default: 256,
    parse: int(1, 100_000),
    doc: 'Chunks kept per record; a 10 MB field would make ~6,000, so the rest is cut with a warning.',
  }),
  leaseTtlMs: spec({
    env: 'LEASE_TTL_MS',
    default: 15_000,
    parse: int(1_000, 3_600_000),
    doc: 'Cursor lease lifetime; renewed every third of it, so a killed holder is replaced within this time.',
  }),
  retryBaseMs: spec({
    env: 'RETRY_BASE_MS',
    default: 500,
    parse: int(1, 600_000),
    doc: 'First backoff after a transient failure (store or embedder down, database busy); doubles up to RETRY_MAX_MS.',
  }),
  retryMaxMs: spec({
    env: 'RETRY_MAX_MS',
    default: 30_000,
    parse: int(1, 3_600_000),
    doc: 'Longest backoff between retries of a transient failure; the pipeline retries forever and loses nothing.',
  }),
  batchMaxRecords: spec({
    env: 'BATCH_MAX_RECORDS',
    default: 512,
    parse: int(1, 100_000),
    doc: 'Records per pipeline batch; large enough to amortise a transaction, small enough for low latency.',
  }),
  batchLingerMs: spec({
    env: 'BATCH_LINGER_MS',
    default: 5,
    parse: int(0, 60_000),
    doc: 'How long a batch waits for more changes before it runs; 5 ms coalesces bursts at little latency cost.',
  }),
  pollIntervalMs: spec({
    env: 'POLL_INTERVAL_MS',
    default: 200,
    parse: int(10, 600_000),
    doc: 'PRAGMA data_version poll, the fallback for dropped file events; one cheap query per tick.',
  }),
  busyTimeoutMs: spec({
    env: 'SQLITE_BUSY_TIMEOUT_MS',
    default: 5_000,
    parse: int(0, 600_000),
    doc: 'How long to wait when the CRM holds the write lock before reporting it busy.',
  }),
  entityResolutionHeapMb: spec({
    env: 'ENTITY_RESOLUTION_HEAP_MB',
    default: 1536,
    parse: int(64, 65_536),
    doc: "Heap limit of the full entity resolution (a rebuild's first step), which runs in a worker of its own: about 1 GB per 250,000 people. Past it the rebuild goes on with the last resolution's entity ids and says so.",
  }),
  deadLetterAttempts: spec({
    env: 'DEAD_LETTER_ATTEMPTS',
    default: 5,
    parse: int(1, 1000),
    doc: 'Attempts before a failing record goes to the dead-letter table; the batch goes on without it.',
  }),
  pruneBatchSize: spec({
    env: 'CHANGELOG_PRUNE_BATCH',
    default: 5_000,
    parse: int(1, 1_000_000),
    doc: 'Changelog rows deleted per prune transaction; small enough to never hold the write lock long.',
  }),
  entityWriteBatch: spec({
    env: 'ENTITY_WRITE_BATCH',
    default: 2_000,
    parse: int(1, 1_000_000),
    doc: 'Entity-table rows written per transaction; a few ms of write lock each, so the CRM never waits long.',
  }),
  logLevel: spec({
    env: 'LOG_LEVEL',
    flag: 'log-level',
    default: 'info' as 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent',
    parse: oneOf('trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'),
    doc: 'Log level for the JSON logs on stderr.',
  }),
} as const;

export type SettingKey = keyof typeof SETTINGS;

/** Variables crm-index reads besides SETTINGS (the container entrypoint's and the tests'). */
const OTHER_KNOWN_ENV = ['CRM_INDEX_CACHE_DIR', 'XDG_CACHE_HOME'];

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/**
 * Environment variables that look like a misspelt setting (`CRM_DB_PAHT`):
 * not a known name, but within two edits of one. Returns one warning per
 * variable, naming the setting it probably meant. Unrelated variables that
 * merely share a prefix are not reported.
 */
/** Settings that no longer exist, with what replaced them: named when they are still set. */
const RETIRED_ENV: Record<string, string> = {
  CRM_INDEX_WORKERS:
    'the pipeline has no prepare workers any more (one RxJS stage stream, decision 060); remove it',
};

export function misspeltSettings(env: NodeJS.ProcessEnv): string[] {
  const known = new Set<string>([...Object.values(SETTINGS).map((s) => s.env), ...OTHER_KNOWN_ENV]);
  const out: string[] = [];
  for (const name of Object.keys(env)) {
    if (RETIRED_ENV[name] !== undefined) {
      out.push(`${name} is no longer a crm-index setting and is ignored: ${RETIRED_ENV[name]}.`);
      continue;
    }
    if (known.has(name) || !/^[A-Z][A-Z0-9_]*$/.test(name)) continue;
    let best: string | undefined;
    let bestD = 3;
    for (const k of known) {
      if (Math.abs(k.length - name.length) >= bestD) continue;
      const d = editDistance(name, k);
      if (d < bestD) {
        bestD = d;
        best = k;
      }
    }
    if (best) out.push(`${name} is not a crm-index setting and is ignored; did you mean ${best}? Rename it.`);
  }
  return out;
}
