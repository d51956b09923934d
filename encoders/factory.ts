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

export interface DenseEmbedderOptions {
  /**
   * The HTTP client on a thread of its own (httpThread.ts): for the runs, which keep a server busy with
   * batch after batch while their own thread prepares the next ones. A query embeds one text: it stays
   * in-thread.
   */
  thread?: boolean;
}

export async function createDenseEmbedder(
  config: Config,
  opts: DenseEmbedderOptions = {},
): Promise<DenseEmbedder> {
  if (config.embedderKind === 'http') {
    const { createHttpEmbedder, httpEmbedderSettings } = await import('./http.js');
    if (!opts.thread) return createHttpEmbedder(config);
    const { ThreadedHttpEmbedder } = await import('./httpThread.js');
    return new ThreadedHttpEmbedder(httpEmbedderSettings(config));
  }
  const { LocalGloveEmbedder } = await import('./local.js');
  const { defaultCacheDir } = await import('./gloveCache.js');
  return new LocalGloveEmbedder({ cacheDir: config.cacheDir ?? defaultCacheDir() });
}
