/**
 * The first step of a rebuild, as in the old "Build search index" action: a
 * full entity resolution, so the new generation's chunks carry fresh entity ids.
 */
import type { PipelineContext } from './context.js';

export async function resolveStep(ctx: PipelineContext): Promise<void> {
  const started = performance.now();
  // In a worker with its own heap limit: at a million records it needs several times the run's heap.
  const changed = await ctx.entities.fullInWorker({
    dbPath: ctx.config.dbPath,
    busyTimeoutMs: ctx.config.busyTimeoutMs,
    heapMb: ctx.config.entityResolutionHeapMb,
  });
  ctx.deps.log.info({ ms: Math.round(performance.now() - started), changed }, 'entity resolution done');
}
