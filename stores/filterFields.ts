/**
 * The payload filter fields, in one table: every spelling of a field and how
 * each layer treats it. `SearchFilter` (stores/types.ts), the embedded store's
 * columns (stores/embedded/sql.ts) and in-memory index (stores/embedded/mirror.ts),
 * the Qdrant filter and payload indexes (stores/qdrantRequests.ts), the engine's
 * cleaning (search/engine.ts), the MCP `search` schema and the CLI's options
 * all derive from it, so adding a field is one entry here (and a rebuild, for
 * the embedded store to fill the new column of a generation made before it).
 *
 * The date range (`dateFrom`/`dateTo` on `date`) is not in this table: it is a
 * range, not a match, and lives in stores/dates.ts.
 */

export interface FilterField {
  /** Payload key (Qdrant payload, ChunkPayload). */
  payload: string;
  /** Column of the embedded store's points table. */
  column: string;
  /** Key in the MCP `search` tool's `filters` object; absent: not offered to agents. */
  mcp?: string;
  /** `crm-index search --<cli>`; absent: no option. */
  cli?: string;
  /** One value per point, or a list of values (any of them matches). */
  many: boolean;
  /**
   * Where the embedded store evaluates the filter: `memory` keeps dictionary
   * codes per point (small, few distinct values); `sql` asks the unique key
   * for matching rows (one value per record, too many to keep in memory).
   */
  evaluate: 'memory' | 'sql';
  /** One line for agents and `--help`. */
  doc: string;
}

export const FILTER_FIELDS = {
  tables: {
    payload: 'table',
    column: 'tbl',
    mcp: 'tables',
    cli: 'table',
    many: false,
    evaluate: 'memory',
    doc: 'Record tables, e.g. ["interactions", "notes"].',
  },
  kinds: {
    payload: 'kind',
    column: 'kind',
    mcp: 'kinds',
    cli: 'kind',
    many: false,
    evaluate: 'memory',
    doc: 'Record kinds, e.g. interaction kind "meeting" or organization kind "portfolio".',
  },
  stages: {
    payload: 'stage',
    column: 'stage',
    mcp: 'stages',
    cli: 'stage',
    many: false,
    evaluate: 'memory',
    doc: 'Deal stages: sourced, diligence, term_sheet, closed, passed.',
  },
  organizationIds: {
    payload: 'organization_id',
    column: 'organization_id',
    mcp: 'organization_ids',
    cli: 'organization',
    many: false,
    evaluate: 'memory',
    doc: 'Only records about these organizations.',
  },
  entityIds: {
    payload: 'entity_ids',
    column: 'entity_ids',
    mcp: 'entity_ids',
    cli: 'entity',
    many: true,
    evaluate: 'memory',
    doc: 'Only records linked to these canonical entities (see get_entity).',
  },
  recordKeys: {
    payload: 'record_key',
    column: 'record_key',
    many: false,
    evaluate: 'sql',
    doc: 'Only chunks of these records (neighbour context).',
  },
} as const satisfies Record<string, FilterField>;

export type FilterFieldName = keyof typeof FILTER_FIELDS;

export const FILTER_FIELD_NAMES = Object.keys(FILTER_FIELDS) as FilterFieldName[];

/** The fields the embedded store's mirror keeps codes for, in table order. */
export const MEMORY_FIELDS = FILTER_FIELD_NAMES.filter((k) => FILTER_FIELDS[k].evaluate === 'memory');
