/**
 * The source map: a declarative description of what is indexed. Triggers,
 * rendering, dependents (fan-out) and the MCP write allowlist all derive from
 * it, so adapting crm-index to another CRM schema means editing only this
 * (or a JSON file of the same shape, see docs/source-map.md).
 *
 * Record key: `table:pk`, pk = the key column values as text, joined with '/'
 * in key-column order, each part percent-escaping '%' and '/'.
 */
import { createHash } from 'node:crypto';

/** A column rendered into the document text, as "Label: value" (or the bare value without a label). */
export interface TextField {
  column: string;
  label?: string;
}

/** This record shows the title of the record its `column` points at (e.g. a person's organization). */
export interface BelongsToRelation {
  kind: 'belongsTo';
  /** Name in the rendered header, e.g. "Organization". */
  name: string;
  column: string;
  table: string;
}

/** This record shows the titles of records linked through a link table (e.g. an interaction's participants). */
export interface ManyToManyRelation {
  kind: 'manyToMany';
  name: string;
  /** The link table. */
  via: string;
  /** Link-table columns that hold this record's key, in key order. */
  localColumns: string[];
  /** Link-table columns that hold the other record's key, in key order. */
  remoteColumns: string[];
  table: string;
}

/** This record shows the title of any record named by (table column, id column) (e.g. a note's subject). */
export interface PolymorphicRelation {
  kind: 'polymorphic';
  name: string;
  tableColumn: string;
  idColumn: string;
}

export type Relation = BelongsToRelation | ManyToManyRelation | PolymorphicRelation;

export interface RecordTableMap {
  kind: 'record';
  table: string;
  /** Primary-key columns in order. */
  key: string[];
  /** Record type shown in the context header, e.g. "Organization". */
  label: string;
  /** Column that names the record: its title in hits and in other records' context. */
  titleColumn: string;
  /** Columns rendered into text, in order. */
  text: TextField[];
  /** Long-text columns (a subset of `text`) that are split into several chunks. */
  chunkColumns?: string[];
  /**
   * Payload fields for filters: payload field name -> column. Well-known
   * fields: kind, stage, organization_id, date, owner.
   */
  payload: Record<string, string>;
  relations?: Relation[];
  /** Columns MCP `update_fields` may change (the write allowlist). */
  writable?: string[];
  /** Extra columns whose change is captured though not rendered (entity resolution reads them). */
  watch?: string[];
}

export interface LinkTableMap {
  kind: 'link';
  table: string;
  key: string[];
  /** Each side: the record table and the link columns that hold its key, in key order. */
  sides: { table: string; columns: string[] }[];
}

export type TableMap = RecordTableMap | LinkTableMap;

export interface SourceMap {
  version: 1;
  tables: TableMap[];
}

// ---------------------------------------------------------------- the default, for the reference CRM

export const DEFAULT_SOURCE_MAP: SourceMap = {
  version: 1,
  tables: [
    {
      kind: 'record',
      table: 'organizations',
      key: ['id'],
      label: 'Organization',
      titleColumn: 'name',
      text: [
        { column: 'name', label: 'Name' },
        { column: 'kind', label: 'Kind' },
        { column: 'sector', label: 'Sector' },
        { column: 'location', label: 'Location' },
        { column: 'domain', label: 'Domain' },
        { column: 'description', label: 'Description' },
      ],
      chunkColumns: ['description'],
      payload: { kind: 'kind', date: 'created_at' },
      writable: ['name', 'domain', 'website', 'kind', 'sector', 'location', 'description'],
      watch: ['website'],
    },
    {
      kind: 'record',
      table: 'people',
      key: ['id'],
      label: 'Person',
      titleColumn: 'full_name',
      text: [
        { column: 'full_name', label: 'Name' },
        { column: 'title', label: 'Title' },
        { column: 'email', label: 'Email' },
        { column: 'notes', label: 'Notes' },
      ],
      chunkColumns: ['notes'],
      payload: { organization_id: 'organization_id', date: 'created_at' },
      relations: [
        { kind: 'belongsTo', name: 'Organization', column: 'organization_id', table: 'organizations' },
      ],
      writable: [
        'full_name',
        'email',
        'email_secondary',
        'phone',
        'title',
        'organization_id',
        'linkedin',
        'notes',
      ],
      watch: ['email_secondary', 'phone'],
    },
    {
      kind: 'record',
      table: 'deals',
      key: ['id'],
      label: 'Deal',
      titleColumn: 'name',
      text: [
        { column: 'name', label: 'Deal' },
        { column: 'stage', label: 'Stage' },
        { column: 'round', label: 'Round' },
        { column: 'amount_usd', label: 'Amount (USD)' },
        { column: 'owner', label: 'Owner' },
        { column: 'memo', label: 'Memo' },
      ],
      chunkColumns: ['memo'],
      payload: { stage: 'stage', organization_id: 'organization_id', owner: 'owner', date: 'created_at' },
      relations: [
        { kind: 'belongsTo', name: 'Organization', column: 'organization_id', table: 'organizations' },
      ],
      writable: ['name', 'stage', 'amount_usd', 'round', 'owner', 'memo'],
    },
    {
      kind: 'record',
      table: 'interactions',
      key: ['id'],
      label: 'Interaction',
      titleColumn: 'subject',
      text: [
        { column: 'subject', label: 'Subject' },
        { column: 'kind', label: 'Kind' },
        { column: 'occurred_at', label: 'Date' },
        { column: 'body' },
      ],
      chunkColumns: ['body'],
      payload: { kind: 'kind', organization_id: 'organization_id', owner: 'owner', date: 'occurred_at' },
      relations: [
        { kind: 'belongsTo', name: 'Organization', column: 'organization_id', table: 'organizations' },
        {
          kind: 'manyToMany',
          name: 'Participants',
          via: 'interaction_people',
          localColumns: ['interaction_id'],
          remoteColumns: ['person_id'],
          table: 'people',
        },
      ],
      writable: ['kind', 'occurred_at', 'subject', 'body', 'organization_id', 'owner'],
    },
    {
      kind: 'link',
      table: 'interaction_people',
      key: ['interaction_id', 'person_id'],
      sides: [
        { table: 'interactions', columns: ['interaction_id'] },
        { table: 'people', columns: ['person_id'] },
      ],
    },
    {
      kind: 'record',
      table: 'notes',
      key: ['id'],
      label: 'Note',
      titleColumn: 'body',
      text: [{ column: 'author', label: 'Author' }, { column: 'body' }],
      chunkColumns: ['body'],
      payload: { owner: 'author', date: 'created_at' },
      relations: [
        { kind: 'polymorphic', name: 'About', tableColumn: 'subject_table', idColumn: 'subject_id' },
      ],
      writable: ['body'],
    },
  ],
};

// ---------------------------------------------------------------- helpers derived from a map

export function recordTables(map: SourceMap): RecordTableMap[] {
  return map.tables.filter((t): t is RecordTableMap => t.kind === 'record');
}

export function tableMap(map: SourceMap, table: string): TableMap | undefined {
  return map.tables.find((t) => t.table === table);
}

function escapeKeyPart(v: string): string {
  return v.replace(/%/g, '%25').replace(/\//g, '%2F');
}

function unescapeKeyPart(v: string): string {
  return v.replace(/%2F/gi, '/').replace(/%25/g, '%');
}

/** The pk text of a row: key values joined with '/', each escaped. */
export function encodePk(values: unknown[]): string {
  return values.map((v) => escapeKeyPart(v === null || v === undefined ? '' : String(v))).join('/');
}

export function decodePk(pk: string): string[] {
  return pk.split('/').map(unescapeKeyPart);
}

export function recordKey(table: string, pk: string): string {
  return `${table}:${pk}`;
}

/** Split `table:pk` at the first ':' (table names may not contain ':'; pks may). */
export function parseRecordKey(key: string): { table: string; pk: string } {
  const i = key.indexOf(':');
  if (i <= 0) throw new Error(`"${key}" is not a record key; expected table:pk.`);
  return { table: key.slice(0, i), pk: key.slice(i + 1) };
}

/**
 * The columns whose change must be captured: key, rendered text, payload and
 * relation columns. Anything else (updated_at, counters, flags) does not fire
 * the UPDATE trigger.
 */
export function watchedColumns(t: TableMap): string[] {
  const cols = new Set<string>(t.key);
  if (t.kind === 'link') {
    for (const s of t.sides) for (const c of s.columns) cols.add(c);
  } else {
    cols.add(t.titleColumn);
    for (const f of t.text) cols.add(f.column);
    for (const c of Object.values(t.payload)) cols.add(c);
    for (const c of t.watch ?? []) cols.add(c);
    for (const r of t.relations ?? []) {
      if (r.kind === 'belongsTo') cols.add(r.column);
      if (r.kind === 'polymorphic') {
        cols.add(r.tableColumn);
        cols.add(r.idColumn);
      }
    }
  }
  return [...cols];
}

/**
 * Records whose rendering shows a record of `table` (its dependents): for each
 * relation in the map that points at `table`, who points. The pipeline expands
 * a change to `table:pk` into these (docs/architecture.md, "fan-out").
 */
export function dependentsOf(map: SourceMap, table: string): { from: RecordTableMap; relation: Relation }[] {
  const out: { from: RecordTableMap; relation: Relation }[] = [];
  for (const t of recordTables(map)) {
    for (const r of t.relations ?? []) {
      if (r.kind === 'polymorphic' || r.table === table) out.push({ from: t, relation: r });
    }
  }
  return out;
}

/**
 * A short identity of a map's content (SHA-256 of its JSON, 12 hex digits):
 * two maps with the same tables, keys, text, payload, relations and writable
 * lists have the same identity, whatever file they came from. Stored with
 * the capture triggers so a process can tell whether it has the installed map.
 */
export function sourceMapIdentity(map: SourceMap): string {
  let id = identities.get(map);
  if (id === undefined) {
    id = createHash('sha256').update(JSON.stringify(map)).digest('hex').slice(0, 12);
    identities.set(map, id);
  }
  return id;
}

/** Maps are not changed after loading; follow asks for its map's identity before every job. */
const identities = new WeakMap<SourceMap, string>();
