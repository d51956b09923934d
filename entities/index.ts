/** Entity resolution: the public API other layers call. */
export { resolveFull, type FullSummary, type ResolveOptions } from './resolve.js';
export {
  resolveIncremental,
  resolveChanged,
  ENTITIES_CONSUMER,
  type IncrementalOptions,
  type IncrementalResult,
} from './incremental.js';
export { entityIdsFor } from './lookup.js';
export { setOverride, removeOverride, listOverrides, type Verdict } from './overrides.js';
export { ensureEntityTables, dropEntityTables, ENTITY_TABLE_NAMES } from './store.js';
export { DEFAULT_ENTITY_SOURCE, type EntitySource } from './source.js';
export type { Evidence, Override } from './cluster.js';
export type { EntityKind } from './rules.js';
