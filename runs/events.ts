/**
 * Typed pipeline events. The CLI's progress output, the logs and the metrics
 * subscribe to these; stages only emit.
 */
import { EventEmitter } from 'node:events';
import type { BatchCounts } from '../pipeline/prepare.js';
import type { HighWaterRepair } from '../triggers/changelog.js';

export interface PipelineEvents {
  'batch:written': [
    { records: number; counts: BatchCounts; seq: number; ms: number; oldestChangeAt: number | null },
  ];
  'batch:retry': [{ attempt: number; delayMs: number; error: string }];
  /** The embedder failed for every record (EmbedderFaultError): paused and retried, nothing dead-lettered. */
  'embedder:fault': [{ error: string }];
  'record:dead': [{ recordKey: string; step: string; error: string }];
  'drain:idle': [{ seq: number }];
  'sweep:done': [SweepReport];
  'rebuild:progress': [{ table: string; done: number; total: number }];
  'lease:paused': [{ wantedBy: string }];
  'lease:resumed': [Record<string, never>];
  /** The changelog's seq had fallen below the cursor and was restored (see restoreHighWater): sweep. */
  'changelog:reset': [HighWaterRepair];
}

export interface SweepReport {
  at: string;
  ms: number;
  checked: number;
  stored: number;
  missing: number;
  stale: number;
  orphans: number;
  failed: number;
  triggersRepaired: string[];
  /** Stopped early (a signal): only part of the records were checked, and nothing was deleted or repaired. */
  aborted?: boolean;
}

export class PipelineEmitter extends EventEmitter<PipelineEvents> {}
