/**
 * Prometheus metrics for follow, fed by pipeline events (stages never touch
 * metrics directly). Gauges that need a query (backlog, lag, dead letters)
 * are computed at scrape time.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { PipelineContext } from './context.js';
import { backlog } from '../triggers/changelog.js';
import { countDeadLetters } from './failures.js';
import { lagSeconds } from './drain.js';

export function createMetrics(ctx: PipelineContext, consumer: string): Registry {
  const registry = new Registry();
  // prom-client's default names already start with process_ or nodejs_ (crm_index_process_cpu_user_seconds_total).
  collectDefaultMetrics({ register: registry, prefix: 'crm_index_' });
  const batches = new Counter({
    name: 'crm_index_batches_total',
    help: 'Batches written to the store',
    registers: [registry],
  });
  const points = new Counter({
    name: 'crm_index_points_written_total',
    help: 'Chunks (points) written',
    registers: [registry],
  });
  const records = new Counter({
    name: 'crm_index_records_total',
    help: 'Records processed, by result',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const errors = new Counter({
    name: 'crm_index_errors_total',
    help: 'Batch retries after a transient error',
    registers: [registry],
  });
  const dead = new Counter({
    name: 'crm_index_dead_lettered_total',
    help: 'Records moved to dead letters',
    registers: [registry],
  });
  const sweeps = new Counter({
    name: 'crm_index_sweeps_total',
    help: 'Safety sweeps run',
    registers: [registry],
  });
  const lastSweep = new Gauge({
    name: 'crm_index_last_sweep_timestamp_seconds',
    help: 'When the last sweep finished',
    registers: [registry],
  });
  const repaired = new Counter({
    name: 'crm_index_sweep_repaired_total',
    help: 'Records the sweep repaired (missing, stale, orphan)',
    registers: [registry],
  });
  new Gauge({
    name: 'crm_index_backlog',
    help: 'Changelog rows after the index cursor',
    registers: [registry],
    collect() {
      this.set(backlog(ctx.db, consumer));
    },
  });
  new Gauge({
    name: 'crm_index_lag_seconds',
    help: 'Age of the oldest change not yet indexed (0 when caught up)',
    registers: [registry],
    collect() {
      this.set(lagSeconds(ctx, consumer));
    },
  });
  new Gauge({
    name: 'crm_index_dead_letters',
    help: 'Records in the dead-letter table',
    registers: [registry],
    collect() {
      this.set(countDeadLetters(ctx.db));
    },
  });
  ctx.events.on('batch:written', (e) => {
    batches.inc();
    points.inc(e.counts.chunks);
    for (const k of ['added', 'updated', 'unchanged', 'deleted', 'failed'] as const)
      records.inc({ result: k }, e.counts[k]);
  });
  ctx.events.on('batch:retry', () => errors.inc());
  ctx.events.on('record:dead', () => dead.inc());
  ctx.events.on('sweep:done', (r) => {
    sweeps.inc();
    lastSweep.set(Date.parse(r.at) / 1000);
    repaired.inc(r.missing + r.stale + r.orphans);
  });
  return registry;
}
