/**
 * Read tools: get_record, get_entity, list_recent_interactions,
 * describe_schema. All run on the read-only connection (readonly +
 * query_only); none accepts SQL: tables and columns come from the source map,
 * values are bound parameters.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { parseRecordKey, recordKey, recordTables, type RecordTableMap } from '../../crm/sourceMap.js';
import { FUSIONS, MAX_CONTEXT, MAX_LIMIT, SEARCH_MODES } from '../../search/engine.js';
import { cleanRow, q, shortTitle, ToolError, type CrmReader } from '../crm.js';
import { cellSchema, idStr, isoDate, relatedSchema, result, shortStr, type ToolEnv } from './common.js';
import { readEntity, readEntityLinks } from '../../entities/store.js';

const READ = {
  readOnlyHint: true,
  destructiveHint: false,
  idempotentHint: true,
  openWorldHint: false,
} as const;
/** Characters of an interaction's body shown in listings; get_record has the whole text. */
export const EXCERPT_CHARS = 300;
export const ENTITY_RECORDS_LIMIT = 500;
export const ENTITIES_MISSING = 'entity resolution has not run; run crm-index resolve --full';

export function registerReadTools(server: McpServer, env: ToolEnv): void {
  server.registerTool(
    'get_record',
    {
      title: 'Get a CRM record',
      description:
        "One CRM record by table and id: its indexed columns plus related records (an organization's people, deals, interactions and notes; a person's organization and interactions; an interaction's organization and participants). Use the key from a search hit (table:id).",
      inputSchema: { table: shortStr('table'), id: idStr('id') },
      outputSchema: {
        table: z.string(),
        id: z.string(),
        key: z.string(),
        record: z.record(z.string(), cellSchema),
        related: z.array(relatedSchema),
      },
      annotations: READ,
    },
    async ({ table, id }) => {
      const r = env.ctx.reader();
      const t = r.recordTable(table);
      const row = r.getRow(t, id);
      if (!row) throw new ToolError(`no record ${recordKey(table, id)}: ${table} has no row with id ${id}.`);
      return result({ table, id, key: recordKey(table, id), record: row, related: r.related(t, id, row) });
    },
  );

  server.registerTool(
    'get_entity',
    {
      title: 'Get a canonical entity',
      description:
        'A canonical entity (one real person or organization that may appear as several CRM records, e.g. duplicates) and every record linked to it, with the evidence for each link. Entity ids appear in search hit payloads (entity_ids).',
      inputSchema: { id: idStr('id') },
      outputSchema: {
        entity: z.object({
          id: z.string(),
          kind: z.string().nullable(),
          display_name: z.string().nullable(),
          member_count: z.number().nullable(),
        }),
        records: z.array(
          z.object({
            key: z.string(),
            table: z.string(),
            id: z.string(),
            title: z.string().nullable(),
            evidence: z.array(evidenceSchema),
          }),
        ),
      },
      annotations: READ,
    },
    async ({ id }) => {
      const r = env.ctx.reader();
      if (!r.hasTable('entities') || !r.hasTable('entity_links')) throw new ToolError(ENTITIES_MISSING);
      // The entities layer's own reads (entities/store.ts), as the CLI's `entity` command uses.
      const e = readEntity(r.db, id);
      if (!e)
        throw new ToolError(
          `no entity with id ${id}; entity ids appear in search hits (payload.entity_ids).`,
        );
      const links = readEntityLinks(r.db, id, ENTITY_RECORDS_LIMIT);
      return result({
        entity: { id: e.id, kind: e.kind, display_name: e.displayName, member_count: e.memberCount },
        records: links.map((l) => {
          const { table, pk } = safeParseKey(l.recordKey);
          const ref = r.ref('entity', table, pk);
          return {
            key: l.recordKey,
            table,
            id: pk,
            title: ref?.title ?? null,
            evidence: parseEvidence(l.evidence),
          };
        }),
      });
    },
  );

  server.registerTool(
    'list_recent_interactions',
    {
      title: 'List recent interactions',
      description:
        'Meetings, calls, emails and intros, newest first, optionally for one organization or person, of one kind, within a date range. Returns subject, date, organization, participants and a short excerpt; use get_record for the full text.',
      inputSchema: {
        organization_id: idStr('organization_id').optional(),
        person_id: idStr('person_id').optional(),
        kind: shortStr('kind').optional().describe('e.g. meeting, call, email, intro, event'),
        date_from: isoDate('date_from').optional(),
        date_to: isoDate('date_to').optional(),
        limit: z
          .number()
          .int('limit must be a whole number')
          .min(1, 'limit must be at least 1')
          .max(MAX_LIMIT, `limit must be at most ${MAX_LIMIT}`)
          .optional()
          .describe('default 20'),
      },
      outputSchema: {
        count: z.number(),
        interactions: z.array(
          z.object({
            key: z.string(),
            id: z.string(),
            kind: z.string().nullable(),
            date: z.string().nullable(),
            subject: z.string(),
            organization: relatedSchema.nullable(),
            participants: z.array(relatedSchema),
            excerpt: z.string(),
          }),
        ),
      },
      annotations: READ,
    },
    async (args) => {
      const r = env.ctx.reader();
      return result(listInteractions(r, { ...args, limit: args.limit ?? 20 }));
    },
  );

  server.registerTool(
    'describe_schema',
    {
      title: 'Describe what is indexed',
      description:
        'The indexed CRM tables with their fields, the fields search can filter on, the search modes, and which fields update_fields may change.',
      inputSchema: {},
      outputSchema: {
        tables: z.array(
          z.object({
            table: z.string(),
            label: z.string(),
            key: z.array(z.string()),
            title_column: z.string(),
            text_columns: z.array(z.string()),
            filter_fields: z.record(z.string(), z.string()),
            relations: z.array(
              z.object({ name: z.string(), kind: z.string(), table: z.string().nullable() }),
            ),
            writable: z.array(z.string()),
          }),
        ),
        search: z.object({
          modes: z.array(z.string()),
          fusions: z.array(z.string()),
          filters: z.array(z.string()),
          max_limit: z.number(),
          max_context: z.number(),
        }),
        read_only: z.boolean(),
      },
      annotations: READ,
    },
    async () =>
      result({
        tables: recordTables(env.ctx.sourceMap).map((t) => ({
          table: t.table,
          label: t.label,
          key: t.key,
          title_column: t.titleColumn,
          text_columns: t.text.map((f) => f.column),
          filter_fields: t.payload,
          relations: (t.relations ?? []).map((rel) => ({
            name: rel.name,
            kind: rel.kind,
            table: rel.kind === 'polymorphic' ? null : rel.table,
          })),
          writable: env.ctx.readOnly ? [] : (t.writable ?? []),
        })),
        search: {
          modes: [...SEARCH_MODES],
          fusions: [...FUSIONS],
          filters: ['tables', 'kinds', 'stages', 'organization_ids', 'entity_ids', 'date_from', 'date_to'],
          max_limit: MAX_LIMIT,
          max_context: MAX_CONTEXT,
        },
        read_only: env.ctx.readOnly,
      }),
  );
}

/** Why a record is linked to its entity: the rule, the shared value and the records sharing it. */
const evidenceSchema = z.object({
  rule: z.string(),
  value: z.string(),
  records: z.array(z.string()),
  count: z.number().optional(),
  dropped: z.boolean().optional(),
});
type EvidenceOut = z.infer<typeof evidenceSchema>;

/** entity_links.evidence is JSON text; agents get it as objects. Text that is not that JSON is kept as one item. */
function parseEvidence(raw: unknown): EvidenceOut[] {
  if (raw === null || raw === undefined || raw === '') return [];
  try {
    const v = JSON.parse(String(raw)) as unknown;
    const parsed = z.array(evidenceSchema).safeParse(v);
    if (parsed.success) return parsed.data;
  } catch {
    // fall through: not JSON
  }
  return [{ rule: 'text', value: String(raw), records: [] }];
}

function safeParseKey(key: string): { table: string; pk: string } {
  try {
    return parseRecordKey(key);
  } catch {
    return { table: '', pk: key };
  }
}

/** The interactions table as the source map describes it: date, kind, organization and participant columns. */
export function interactionsMap(r: CrmReader): {
  t: RecordTableMap;
  date?: string;
  kind?: string;
  org?: string;
  body?: string;
} {
  const t = r.recordTable('interactions');
  const live = r.tableColumns(t.table);
  const col = (c: string | undefined) => (c && live.has(c) ? c : undefined);
  return {
    t,
    date: col(t.payload.date),
    kind: col(t.payload.kind),
    org: col(t.payload.organization_id),
    body: col(t.chunkColumns?.[0]),
  };
}

export function listInteractions(
  r: CrmReader,
  f: {
    organization_id?: string;
    person_id?: string;
    kind?: string;
    date_from?: string;
    date_to?: string;
    limit: number;
  },
) {
  const m = interactionsMap(r);
  const { t } = m;
  const keyCol = t.key[0]!;
  const where: string[] = [];
  const params: unknown[] = [];
  const need = (col: string | undefined, what: string) => {
    if (!col)
      throw new ToolError(
        `the source map gives interactions no ${what} column, so it cannot be filtered on.`,
      );
    return col;
  };
  if (f.organization_id !== undefined) {
    where.push(`a.${q(need(m.org, 'organization_id'))} = ?`);
    params.push(f.organization_id);
  }
  if (f.kind !== undefined) {
    where.push(`a.${q(need(m.kind, 'kind'))} = ?`);
    params.push(f.kind);
  }
  if (f.date_from !== undefined) {
    where.push(`a.${q(need(m.date, 'date'))} >= ?`);
    params.push(f.date_from);
  }
  if (f.date_to !== undefined) {
    where.push(`a.${q(need(m.date, 'date'))} <= ?`);
    params.push(/^\d{4}-\d{2}-\d{2}$/.test(f.date_to) ? `${f.date_to}T23:59:59.999Z` : f.date_to);
  }
  const people = (t.relations ?? []).find((x) => x.kind === 'manyToMany' && x.table === 'people');
  if (f.person_id !== undefined) {
    if (!people || people.kind !== 'manyToMany')
      throw new ToolError('the source map links no people to interactions.');
    where.push(
      `EXISTS (SELECT 1 FROM ${q(people.via)} v WHERE v.${q(people.localColumns[0]!)} = a.${q(keyCol)} AND v.${q(people.remoteColumns[0]!)} = ?)`,
    );
    params.push(f.person_id);
  }
  const cols = [keyCol, t.titleColumn, m.date, m.kind, m.org, m.body].filter((c): c is string => !!c);
  const sql = `SELECT ${[...new Set(cols)].map((c) => `a.${q(c)}`).join(', ')} FROM ${q(t.table)} a ${
    where.length ? `WHERE ${where.join(' AND ')}` : ''
  } ${m.date ? `ORDER BY a.${q(m.date)} DESC,` : 'ORDER BY'} a.${q(keyCol)} DESC LIMIT ?`;
  const rows = r.db.prepare(sql).all(...params, f.limit) as Record<string, unknown>[];
  const interactions = rows.map((raw) => {
    const row = cleanRow(raw);
    const id = String(row[keyCol]);
    const rel = r.related(t, id, row);
    const orgRef = rel.find((x) => x.table === 'organizations' && x.relation !== 'interactions') ?? null;
    const body = m.body ? row[m.body] : null;
    return {
      key: recordKey(t.table, id),
      id,
      kind: m.kind && row[m.kind] !== null ? String(row[m.kind]) : null,
      date: m.date && row[m.date] !== null ? String(row[m.date]) : null,
      subject: shortTitle(row[t.titleColumn]),
      organization: orgRef,
      participants: people ? rel.filter((x) => x.relation === people.name) : [],
      excerpt: body === null || body === undefined ? '' : shortExcerpt(String(body)),
    };
  });
  return { count: interactions.length, interactions };
}

function shortExcerpt(s: string): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > EXCERPT_CHARS ? `${t.slice(0, EXCERPT_CHARS - 1)}…` : t;
}
