/**
 * The operator's settings: one JSON file (`store.json` in the `startos`
 * volume), the single source of truth that the Configure action writes and
 * that main.ts and the index actions turn into environment variables through
 * `envFromStore`. Nothing else holds a copy of an endpoint or a key.
 *
 * Every field has a `.catch` default so a partial or hand-edited file still
 * parses: a bad value falls back to "unset" instead of stopping the service.
 */
import { FileHelper, z } from '@start9labs/start-sdk';
import { sdk } from './sdk.js';
import { storeDefaults } from './env.js';

const optionalText = z.string().trim().min(1).nullable().catch(null);

export const storeShape = z.object({
  embeddingsUrl: optionalText,
  verifyTls: z.boolean().catch(storeDefaults.verifyTls),
  embeddingsApiKey: optionalText,
  embeddingModel: optionalText,
  embeddingDim: z.number().int().min(1).max(65_536).nullable().catch(null),
  indexStore: z.enum(['qdrant', 'embedded']).catch(storeDefaults.indexStore),
  qdrantUrl: optionalText,
  qdrantApiKey: optionalText,
  collection: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,200}$/)
    .catch(storeDefaults.collection),
  syncIntervalMin: z.number().min(0.01).max(10_080).catch(storeDefaults.syncIntervalMin),
  mcpAuthToken: z.string().min(16).nullable().catch(null),
});

export const storeJson = FileHelper.json({ base: sdk.volumes.startos, subpath: 'store.json' }, storeShape);
