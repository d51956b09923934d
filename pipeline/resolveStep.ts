/**
 * The first step of a rebuild: a full entity resolution, when the entities
 * layer is present, so chunks carry fresh entity ids.
 */
import type { PipelineContext } from './context.js';

export async function resolveStep(ctx: PipelineContext): Promise<void> {
  const mod = (await import('../entities/resolve.js').catch(() => null)) as null | {
    resolveFull?: (db: PipelineContext['db']) => unknown;
  };
  if (!mod?.resolveFull) {
    ctx.deps.log.warn('entity resolution is not available; indexing without entity ids');
    return;
  }
  const started = performance.now();
  mod.resolveFull(ctx.db);
  ctx.deps.log.info({ ms: Math.round(performance.now() - started) }, 'entity resolution done');
}
