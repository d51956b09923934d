/**
 * Picks the dense embedder from the configuration: the HTTP client when an
 * embeddings URL is set, otherwise the local GloVe-SIF model.
 *
 * Invariant: neither implementation is imported until it is chosen, so a
 * deployment that uses Spark Control never touches the GloVe package and the
 * local path never loads undici. The returned embedder is not yet
 * initialised; callers run `init()` (it is idempotent).
 */
import type { Config } from '../config/index.js';
import type { DenseEmbedder } from './types.js';

export async function createDenseEmbedder(config: Config): Promise<DenseEmbedder> {
  if (config.embedderKind === 'http') {
    const { createHttpEmbedder } = await import('./http.js');
    return createHttpEmbedder(config);
  }
  const { LocalGloveEmbedder } = await import('./local.js');
  const { defaultCacheDir } = await import('./gloveCache.js');
  return new LocalGloveEmbedder({ cacheDir: config.cacheDir ?? defaultCacheDir() });
}
