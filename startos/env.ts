/**
 * Pure translation from the operator's settings (store.json) to what the
 * `crm-index` CLI reads: environment variables and argv. main.ts (daemons)
 * and the index actions (one-shot runs) both call these functions, so a
 * daemon and an action always see the same configuration.
 *
 * No SDK import here: the tests and the bundle check load this file alone.
 * Variable names and defaults follow config/settings.ts; only the values that
 * differ inside the container (paths, bind addresses, ports) are set here.
 */

/** The store file's shape; startos/store.ts validates the file against it. */
export interface Store {
  embeddingsUrl: string | null;
  verifyTls: boolean;
  embeddingsApiKey: string | null;
  embeddingModel: string | null;
  embeddingDim: number | null;
  /** `embedded` keeps the index in a SQLite file beside the CRM data instead of Qdrant. */
  indexStore: 'qdrant' | 'embedded';
  qdrantUrl: string | null;
  qdrantApiKey: string | null;
  collection: string;
  syncIntervalMin: number;
  mcpAuthToken: string | null;
}

/**
 * Same defaults as config/settings.ts (the store only needs the ones the form
 * shows). The embedded store, with the local embedder the image includes,
 * works with no server at all, so a fresh install indexes as soon as the CRM
 * database is there.
 */
export const storeDefaults = {
  verifyTls: true,
  indexStore: 'embedded',
  collection: 'crm_chunks',
  syncIntervalMin: 60,
} as const satisfies Partial<Store>;

export function emptyStore(): Store {
  return {
    embeddingsUrl: null,
    verifyTls: storeDefaults.verifyTls,
    embeddingsApiKey: null,
    embeddingModel: null,
    embeddingDim: null,
    indexStore: storeDefaults.indexStore,
    qdrantUrl: null,
    qdrantApiKey: null,
    collection: storeDefaults.collection,
    syncIntervalMin: storeDefaults.syncIntervalMin,
    mcpAuthToken: null,
  };
}

/**
 * The CRM's StartOS package: the one place its id lives. crm-index declares
 * it as a dependency and mounts its data volume read-write at DATA_DIR, where
 * the CRM keeps `crm.db` (docs/packaging.md, "Two ways in").
 */
export const CRM_PACKAGE_ID = 'ten31-database';
/** The CRM package's volume that holds `crm.db`. */
export const CRM_VOLUME_ID = 'main';
/**
 * Whether the image StartOS builds includes the local embedder (the
 * Dockerfile's INCLUDE_LOCAL_EMBEDDER default; a test keeps them equal). The
 * Configure form follows it: with the embedder, the embeddings URL may stay
 * empty; without it, the form requires one.
 */
export const LOCAL_EMBEDDER_IN_IMAGE = true;
/** Where the CRM's data volume is mounted in every subcontainer. */
export const DATA_DIR = '/data';
/** The CRM database, inside DATA_DIR. */
export const CRM_DB_PATH = `${DATA_DIR}/crm.db`;
/** Where crm-index's own `main` volume is mounted: the embedded index, the embedder cache, the job records. */
export const INDEX_DIR = '/index';
/** One folder per index job (Build / Refresh) under INDEX_DIR, written by `docker_entrypoint.sh --job`. */
export const JOBS_DIR = `${INDEX_DIR}/jobs`;
/** The image's entry point: its --exec and --job modes wait for the database and run as its owner. */
export const ENTRYPOINT = '/usr/local/bin/docker_entrypoint.sh';
/** How long a one-shot run waits for follow to hand over the cursor (refresh --wait defaults to 120 s). */
export const JOB_LEASE_WAIT_S = 3600;
/**
 * V8 heap cap for every CLI run. Without it V8 lets garbage grow the heap to
 * several times the live data on a machine with free memory; with it a 100k
 * record rebuild peaks near 240 MB RSS instead of 330-430 MB, at the same speed
 * (docs/benchmarks.md "Rebuild"). The Dockerfile's `crm-index` wrapper and
 * `npm run demo` pass the same flag (a test keeps them equal).
 */
export const NODE_HEAP_FLAG = '--max-old-space-size=256';
/** The CLI inside the image (Dockerfile copies dist/ to /app). */
export const CLI = ['node', NODE_HEAP_FLAG, '/app/dist/cli/main.js'] as const;
/**
 * The user the entry point starts as: root, only to read the CRM database's
 * owner and switch to it (so the CRM and crm-index can both open the WAL
 * files), and to give INDEX_DIR to that owner.
 */
export const RUN_AS = 'root';
/** follow's /healthz, /metrics and status page (CRM_INDEX_HTTP_PORT default). */
export const INDEXER_PORT = 8787;
/** The MCP Streamable HTTP server (MCP_HTTP_PORT default). */
export const MCP_PORT = 8788;

/**
 * The environment for every `crm-index` process in the package. Unset
 * optional settings are left out (not set to ''), because the CLI treats an
 * empty value as an error rather than "use the default".
 */
export function envFromStore(store: Store, allowedHosts: readonly string[] = []): Record<string, string> {
  const env: Record<string, string> = {
    CRM_DB_PATH,
    CRM_INDEX_PATH: `${INDEX_DIR}/index.db`,
    CRM_INDEX_CACHE_DIR: `${INDEX_DIR}/cache`,
    CRM_INDEX_STORE: store.indexStore,
    SPARK_CONTROL_VERIFY_TLS: String(store.verifyTls),
    QDRANT_COLLECTION: store.collection,
    CRM_INGEST_SYNC_INTERVAL_MIN: String(store.syncIntervalMin),
    // StartOS reaches the status page through the container's address, not loopback.
    CRM_INDEX_HTTP_HOST: '0.0.0.0',
    CRM_INDEX_HTTP_PORT: String(INDEXER_PORT),
    MCP_HTTP_PORT: String(MCP_PORT),
  };
  const optional: Record<string, string | number | null> = {
    SPARK_CONTROL_URL: store.embeddingsUrl,
    SPARK_CONTROL_API_KEY: store.embeddingsApiKey,
    EMBEDDING_MODEL: store.embeddingModel,
    EMBEDDING_DIM: store.embeddingDim,
    // With the embedded store chosen, QDRANT_URL stays unset: the CLI picks its store from it.
    QDRANT_URL: store.indexStore === 'qdrant' ? store.qdrantUrl : null,
    QDRANT_API_KEY: store.indexStore === 'qdrant' ? store.qdrantApiKey : null,
    MCP_AUTH_TOKEN: store.mcpAuthToken,
    // The names StartOS publishes the MCP interface under (its proxy passes the client's Host through).
    MCP_ALLOWED_HOSTS: allowedHosts.join(','),
  };
  for (const [name, value] of Object.entries(optional)) {
    if (value !== null && String(value).trim() !== '') env[name] = String(value).trim();
  }
  return env;
}

export type CliRun = 'follow' | 'mcp' | 'rebuild' | 'refresh' | 'status' | 'uninstall';
export type JobKind = 'rebuild' | 'refresh';

/** The crm-index argv (without the entry point) for one run inside the image. */
export function cliArgsFor(run: CliRun): [string, ...string[]] {
  const wait = ['--wait', String(JOB_LEASE_WAIT_S)];
  switch (run) {
    case 'follow':
      return [...CLI, 'follow'];
    case 'mcp':
      return [...CLI, 'mcp', '--http', '--host', '0.0.0.0', '--port', String(MCP_PORT)];
    case 'rebuild':
      return [...CLI, 'rebuild', '--json', ...wait];
    case 'refresh':
      return [...CLI, 'refresh', '--json', ...wait];
    case 'status':
      return [...CLI, 'status', '--json'];
    case 'uninstall':
      return [...CLI, 'uninstall', '--json'];
  }
}

/** A daemon or a short run: the entry point waits for the CRM database, then runs it as the database's owner. */
export function execArgsFor(run: CliRun): [string, ...string[]] {
  return [ENTRYPOINT, '--exec', ...cliArgsFor(run)];
}

/** An index job: the entry point records its state, output and counts in JOBS_DIR/<id>. */
export function jobArgsFor(kind: JobKind, id: string): [string, ...string[]] {
  return [ENTRYPOINT, '--job', `${JOBS_DIR}/${id}`, ...cliArgsFor(kind)];
}

export type FollowerDecision = { start: true } | { start: false; reason: string };

/**
 * Whether the ingest follower runs: the same rule as docker_entrypoint.sh.
 * It needs somewhere to embed and somewhere to write: an embeddings endpoint
 * and a Qdrant URL, or the operator's explicit choice of the embedded store
 * (which also works with the local embedder when no endpoint is set).
 */
export function followerDecision(env: Record<string, string | undefined>): FollowerDecision {
  if (env.CRM_INDEX_STORE === 'embedded') return { start: true };
  const missing = ['SPARK_CONTROL_URL', 'QDRANT_URL'].filter((name) => !env[name]);
  if (missing.length === 0) return { start: true };
  return {
    start: false,
    reason: `${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} not set and CRM_INDEX_STORE is not embedded`,
  };
}
