/**
 * "Configure": the one form for every endpoint, key and interval. It reads
 * its prefill from store.json and writes store.json back with `.merge`;
 * main.ts reads the same file with `.const`, so saving restarts the daemons
 * with the new settings. Secrets are masked fields.
 *
 * Patterns mirror the parsers in config/settings.ts, so a value the form
 * accepts is one the CLI accepts too.
 */
import { sdk } from '../sdk.js';
import { storeJson } from '../store.js';
import { LOCAL_EMBEDDER_IN_IMAGE, emptyStore, storeDefaults, type Store } from '../env.js';

const { InputSpec, Value, Variants } = sdk;

export const patterns = {
  httpUrl: {
    regex: '^https?://[^\\s/?#]+(:[0-9]{1,5})?(/[^\\s]*)?$',
    description: 'A URL starting with http:// or https://, such as https://spark.local:8443',
  },
  secret: { regex: '^[\\x21-\\x7e]+$', description: 'Printable characters without spaces' },
  model: {
    regex: '^[\\x21-\\x7e]{1,200}$',
    description: 'A model name without spaces, such as BAAI/bge-base-en-v1.5',
  },
  collection: { regex: '^[A-Za-z0-9_-]{1,200}$', description: 'Letters, digits, _ and - only' },
  mcpToken: { regex: '^[\\x21-\\x7e]{16,}$', description: 'At least 16 printable characters without spaces' },
};

/** A 40-character random token: about 238 bits, far beyond guessing over the network. */
const TOKEN_SPEC = { charset: 'a-z,A-Z,0-9', len: 40 };

export const configureSpec = InputSpec.of({
  embeddingsUrl: Value.text({
    name: 'Embeddings URL',
    description: LOCAL_EMBEDDER_IN_IMAGE
      ? 'Base URL of an OpenAI-compatible /v1/embeddings server (Spark Control, vLLM, TEI, Ollama). Leave empty to use the local embedder built into this service.'
      : 'Base URL of an OpenAI-compatible /v1/embeddings server (Spark Control, vLLM, TEI, Ollama). Required: this build has no local embedder.',
    required: !LOCAL_EMBEDDER_IN_IMAGE,
    default: null,
    placeholder: 'https://spark.local:8443',
    inputmode: 'url',
    patterns: [patterns.httpUrl],
  }),
  verifyTls: Value.toggle({
    name: 'Verify the embeddings server certificate',
    description:
      'Turn off for a server with a self-signed certificate (Spark Control). Applies to that server only.',
    default: storeDefaults.verifyTls,
  }),
  embeddingsApiKey: Value.text({
    name: 'Embeddings API key',
    description:
      'Sent as "Authorization: Bearer <key>" to the embeddings server. Leave empty if it needs none.',
    required: false,
    default: null,
    masked: true,
    patterns: [patterns.secret],
  }),
  embeddingModel: Value.text({
    name: 'Embedding model',
    description: 'Model name sent to the embeddings server. Empty: BAAI/bge-base-en-v1.5.',
    required: false,
    default: null,
    placeholder: 'BAAI/bge-base-en-v1.5',
    patterns: [patterns.model],
  }),
  embeddingDim: Value.number({
    name: 'Embedding dimension',
    description: "Size of the model's vectors. Empty: asked of the server with one probe request.",
    required: false,
    default: null,
    integer: true,
    min: 1,
    max: 65_536,
  }),
  indexStore: Value.union({
    name: 'Index store',
    description:
      'Where the search index lives: a SQLite file in this service (no server needed), or a Qdrant server.',
    default: storeDefaults.indexStore,
    variants: Variants.of({
      embedded: { name: 'Embedded (SQLite file in this service)', spec: InputSpec.of({}) },
      qdrant: {
        name: 'Qdrant server',
        spec: InputSpec.of({
          qdrantUrl: Value.text({
            name: 'Qdrant URL',
            description: 'Qdrant REST URL, such as http://qdrant.local:6333.',
            required: true,
            default: null,
            placeholder: 'http://qdrant.local:6333',
            inputmode: 'url',
            patterns: [patterns.httpUrl],
          }),
          qdrantApiKey: Value.text({
            name: 'Qdrant API key',
            description: 'Sent as the api-key header. Leave empty if the Qdrant server needs none.',
            required: false,
            default: null,
            masked: true,
            patterns: [patterns.secret],
          }),
          collection: Value.text({
            name: 'Collection name',
            description: 'The alias the index is served under (the older Python tools used crm_chunks).',
            required: true,
            default: storeDefaults.collection,
            patterns: [patterns.collection],
          }),
        }),
      },
    }),
  }),
  syncIntervalMin: Value.number({
    name: 'Sweep interval',
    description:
      'Minutes between reconciliation sweeps. Changes stream in within milliseconds; the sweep only repairs drift.',
    required: true,
    default: storeDefaults.syncIntervalMin,
    integer: false,
    min: 0.01,
    max: 10_080,
    units: 'minutes',
  }),
  mcpAuthToken: Value.text({
    name: 'MCP token',
    description: 'Agents send it as "Authorization: Bearer <token>" to the MCP server. Generated on install.',
    required: true,
    default: TOKEN_SPEC,
    generate: TOKEN_SPEC,
    masked: true,
    minLength: 16,
    patterns: [patterns.mcpToken],
  }),
});

export type ConfigureInput = typeof configureSpec._TYPE;

/** Which pattern each text field must match when not empty, with its label for messages. */
const fieldPatterns: [keyof Store, string, { regex: string; description: string }][] = [
  ['embeddingsUrl', 'Embeddings URL', patterns.httpUrl],
  ['embeddingsApiKey', 'Embeddings API key', patterns.secret],
  ['embeddingModel', 'Embedding model', patterns.model],
  ['qdrantUrl', 'Qdrant URL', patterns.httpUrl],
  ['qdrantApiKey', 'Qdrant API key', patterns.secret],
  ['collection', 'Collection name', patterns.collection],
  ['mcpAuthToken', 'MCP token', patterns.mcpToken],
];

/**
 * The form's patterns, checked again on the server: the SDK's validator only
 * checks types, and the store schema would quietly turn a bad value into
 * "unset" (an MCP server without a token, say). Returns one line per problem.
 */
export function inputProblems(input: ConfigureInput): string[] {
  const problems: string[] = [];
  // The MCP server listens beyond loopback, where the CLI refuses to start without a token.
  if (input.mcpAuthToken.trim() === '') problems.push('MCP token: required; use the generate button.');
  const q = input.indexStore.selection === 'qdrant' ? input.indexStore.value : null;
  if (q && (q.qdrantUrl ?? '').trim() === '')
    problems.push('Qdrant URL: required when the index store is Qdrant.');
  if (!LOCAL_EMBEDDER_IN_IMAGE && (input.embeddingsUrl ?? '').trim() === '')
    problems.push('Embeddings URL: required; this build has no local embedder.');
  const flat = storeFromInput(input);
  for (const [key, label, pattern] of fieldPatterns) {
    const value = flat[key];
    if (typeof value !== 'string' || value.trim() === '') continue;
    if (!new RegExp(pattern.regex).test(value.trim())) problems.push(`${label}: ${pattern.description}.`);
  }
  return problems;
}

/** Form values from the store (prefill). */
export function inputFromStore(store: Store): ConfigureInput {
  const { indexStore, qdrantUrl, qdrantApiKey, collection, ...rest } = store;
  return {
    ...rest,
    indexStore:
      indexStore === 'qdrant'
        ? { selection: 'qdrant', value: { qdrantUrl, qdrantApiKey, collection } }
        : { selection: 'embedded', value: {} },
    mcpAuthToken: store.mcpAuthToken ?? '',
  } as ConfigureInput;
}

/**
 * The store from a submitted form: empty text means "unset". Choosing the
 * embedded store keeps the Qdrant settings from `previous`, so switching
 * back does not mean typing them again.
 */
export function storeFromInput(input: ConfigureInput, previous: Store = emptyStore()): Store {
  const blank = (v: string | null | undefined) => (v == null || v.trim() === '' ? null : v.trim());
  const q = input.indexStore.selection === 'qdrant' ? input.indexStore.value : null;
  return {
    embeddingsUrl: blank(input.embeddingsUrl)?.replace(/\/+$/, '') ?? null,
    verifyTls: input.verifyTls,
    embeddingsApiKey: blank(input.embeddingsApiKey),
    embeddingModel: blank(input.embeddingModel),
    embeddingDim: input.embeddingDim ?? null,
    indexStore: input.indexStore.selection,
    qdrantUrl: q ? (blank(q.qdrantUrl)?.replace(/\/+$/, '') ?? null) : previous.qdrantUrl,
    qdrantApiKey: q ? blank(q.qdrantApiKey) : previous.qdrantApiKey,
    collection: q ? q.collection.trim() : previous.collection,
    syncIntervalMin: input.syncIntervalMin,
    mcpAuthToken: blank(input.mcpAuthToken),
  };
}

export const configure = sdk.Action.withInput(
  'configure',
  async () => ({
    name: 'Configure',
    description: 'Set the embeddings server, the index store, the sweep interval and the MCP token.',
    warning: null,
    allowedStatuses: 'any',
    group: null,
    visibility: 'enabled',
  }),
  configureSpec,
  async () => inputFromStore((await storeJson.read().once()) ?? emptyStore()),
  async ({ effects, input }) => {
    const problems = inputProblems(input);
    if (problems.length > 0) throw new Error(`Configure was not saved:\n${problems.join('\n')}`);
    const previous = (await storeJson.read().once()) ?? emptyStore();
    await storeJson.merge(effects, storeFromInput(input, previous));
    return null;
  },
);
