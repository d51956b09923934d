/**
 * Write tools: add_note, log_interaction, update_fields. Each runs through
 * `loggedWrite` (one transaction with its mcp_write_log row), on the normal
 * CRM connection so the capture triggers index the change like any CRM write.
 * update_fields changes only columns in the source map's `writable` allowlist.
 * None of them contacts anyone: they only write rows to the CRM database.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import type { Db } from '../../crm/db.js';
import { isConstraintError } from '../../config/sqliteErrors.js';
import { encodePk, recordKey, recordTables, type RecordTableMap } from '../../crm/sourceMap.js';
import { loggedWrite } from '../audit.js';
import { cleanRow, CrmReader, q, ToolError, type Row } from '../crm.js';
import {
  MAX_BODY_BYTES,
  MAX_LIST,
  MAX_SHORT,
  MAX_TEXT,
  bodyStr,
  cellSchema,
  idStr,
  isoDate,
  result,
  shortStr,
  type ToolEnv,
} from './common.js';

const WRITE = { readOnlyHint: false, openWorldHint: false } as const;
/** Fields per update_fields call: a form's worth. */
export const MAX_FIELDS = 50;

const writeOutput = {
  key: z.string(),
  id: z.string(),
  audit_id: z.number(),
  record: z.record(z.string(), cellSchema),
};

export function registerWriteTools(server: McpServer, env: ToolEnv): void {
  server.registerTool(
    'add_note',
    {
      title: 'Add a note to a record',
      description:
        'Attach a free-text note to a CRM record (organization, person, deal, interaction). The write is logged with your client name and becomes searchable once the indexer catches up.',
      inputSchema: {
        subject_table: shortStr('subject_table'),
        subject_id: idStr('subject_id'),
        body: bodyStr('body').describe(`Note text, at most ${MAX_BODY_BYTES} bytes.`),
        author: shortStr('author').optional(),
      },
      outputSchema: writeOutput,
      annotations: { ...WRITE, destructiveHint: false, idempotentHint: false },
    },
    async (args) => {
      const db = env.ctx.writer();
      const r = new CrmReader(db, env.ctx.sourceMap);
      const notes = notesMap(r);
      const subject = r.recordTable(args.subject_table);
      if (subject.table === notes.t.table)
        throw new ToolError(
          'subject_table cannot be the notes table itself; attach the note to the record it is about.',
        );
      const values: Record<string, unknown> = {
        [notes.tableCol]: args.subject_table,
        [notes.idCol]: args.subject_id,
        [notes.bodyCol]: args.body,
      };
      if (args.author !== undefined) {
        if (!notes.authorCol)
          throw new ToolError('the source map gives notes no author (payload owner) column; omit author.');
        values[notes.authorCol] = args.author;
      }
      const out = loggedWrite(db, { tool: 'add_note', args, client: env.client() }, () => {
        if (!r.getRow(subject, args.subject_id)) {
          throw new ToolError(
            `subject_id: no record ${recordKey(args.subject_table, args.subject_id)} to attach the note to.`,
          );
        }
        const id = insertRow(db, notes.t, values, 'add_note');
        const after = r.getRow(notes.t, id)!;
        return { before: null, after, result: { id, after } };
      });
      return result({
        key: recordKey(notes.t.table, out.result.id),
        id: out.result.id,
        audit_id: out.auditId,
        record: out.result.after,
      });
    },
  );

  server.registerTool(
    'log_interaction',
    {
      title: 'Log an interaction',
      description:
        'Record a meeting, call, email, intro or event that happened, with its organization and participants. Logging only: it does not contact anyone.',
      inputSchema: {
        kind: shortStr('kind').describe('meeting, call, email, intro or event'),
        occurred_at: isoDate('occurred_at'),
        subject: z
          .string()
          .min(1, 'subject is empty')
          .max(MAX_TEXT, `subject is longer than ${MAX_TEXT} characters`),
        body: bodyStr('body').optional(),
        organization_id: idStr('organization_id').optional(),
        person_ids: z
          .array(idStr('person_ids'))
          .max(MAX_LIST, `person_ids has more than ${MAX_LIST} items`)
          .optional(),
        owner: shortStr('owner').optional(),
      },
      outputSchema: { ...writeOutput, participants: z.array(z.string()) },
      annotations: { ...WRITE, destructiveHint: false, idempotentHint: false },
    },
    async (args) => {
      const db = env.ctx.writer();
      const r = new CrmReader(db, env.ctx.sourceMap);
      const t = r.recordTable('interactions');
      const live = r.tableColumns(t.table);
      const col = (c: string | undefined, what: string) => {
        if (!c || !live.has(c))
          throw new ToolError(`the source map gives interactions no ${what} column; omit ${what}.`);
        return c;
      };
      const values: Record<string, unknown> = {
        [col(t.payload.kind, 'kind')]: args.kind,
        [col(t.payload.date, 'occurred_at')]: args.occurred_at,
        [t.titleColumn]: args.subject,
      };
      if (args.body !== undefined) values[col(t.chunkColumns?.[0], 'body')] = args.body;
      if (args.organization_id !== undefined)
        values[col(t.payload.organization_id, 'organization_id')] = args.organization_id;
      if (args.owner !== undefined) values[col(t.payload.owner, 'owner')] = args.owner;
      const people = (t.relations ?? []).find((x) => x.kind === 'manyToMany' && x.table === 'people');
      const personIds = [...new Set(args.person_ids ?? [])];
      const linked = new Set<string>();
      const out = loggedWrite(db, { tool: 'log_interaction', args, client: env.client() }, () => {
        if (
          args.organization_id !== undefined &&
          !r.getRow(r.recordTable('organizations'), args.organization_id)
        ) {
          throw new ToolError(`organization_id: no organization with id ${args.organization_id}.`);
        }
        const id = insertRow(db, t, values, 'log_interaction');
        if (personIds.length) {
          if (!people || people.kind !== 'manyToMany')
            throw new ToolError('person_ids: the source map links no people to interactions.');
          const pt = r.recordTable('people');
          const link = db.prepare(
            `INSERT INTO ${q(people.via)} (${q(people.localColumns[0]!)}, ${q(people.remoteColumns[0]!)}) VALUES (?, ?)`,
          );
          for (const p of personIds) {
            // Checked inside the transaction: a missing person rolls back the interaction too.
            const person = r.getRow(pt, p);
            if (!person) throw new ToolError(`person_ids: no person with id ${p}; nothing was written.`);
            // "1" and "01" name the same person: link each person once, by their stored key.
            const canonical = encodePk(pt.key.map((k) => person[k] ?? null));
            if (linked.has(canonical)) continue;
            linked.add(canonical);
            runWrite(() => link.run(id, p), 'log_interaction');
          }
        }
        const after = r.getRow(t, id)!;
        return { before: null, after: { ...after, participants: [...linked] }, result: { id, after } };
      });
      return result({
        key: recordKey(t.table, out.result.id),
        id: out.result.id,
        audit_id: out.auditId,
        record: out.result.after,
        participants: [...linked],
      });
    },
  );

  server.registerTool(
    'update_fields',
    {
      title: 'Update fields of a record',
      description:
        'Change some fields of one CRM record. Only fields on the allowlist may change (see describe_schema: writable); any other field is refused and nothing is written. The old and new values are logged.',
      inputSchema: {
        table: shortStr('table'),
        id: idStr('id'),
        fields: z
          .record(
            z
              .string()
              .min(1, 'fields has an empty field name')
              .max(MAX_SHORT, 'fields has a field name that is too long'),
            z.union([
              z.string().refine((s) => Buffer.byteLength(s, 'utf8') <= MAX_BODY_BYTES, {
                message: `fields has a value larger than ${MAX_BODY_BYTES} bytes (64 KB)`,
              }),
              z.number(),
              z.null(),
            ]),
          )
          .refine((o) => Object.keys(o).length >= 1, {
            message: 'fields is empty; give at least one field to change',
          })
          .refine((o) => Object.keys(o).length <= MAX_FIELDS, {
            message: `fields has more than ${MAX_FIELDS} entries`,
          }),
      },
      outputSchema: { ...writeOutput, before: z.record(z.string(), cellSchema) },
      annotations: { ...WRITE, destructiveHint: true, idempotentHint: true },
    },
    async (args) => {
      const db = env.ctx.writer();
      const r = new CrmReader(db, env.ctx.sourceMap);
      const t = r.recordTable(args.table);
      const allowed = new Set(t.writable ?? []);
      const live = r.tableColumns(t.table);
      for (const f of Object.keys(args.fields)) {
        if (!allowed.has(f) || !live.has(f)) {
          throw new ToolError(
            `fields.${f}: "${f}" is not writable on ${t.table}; writable fields are: ${[...allowed].filter((c) => live.has(c)).join(', ') || 'none'}. Nothing was written.`,
          );
        }
      }
      const names = Object.keys(args.fields);
      const vals = r.keyValues(t, args.id);
      const pick = (row: Row) => Object.fromEntries(names.map((n) => [n, row[n] ?? null]));
      const out = loggedWrite(db, { tool: 'update_fields', args, client: env.client() }, () => {
        const before = r.getRow(t, args.id);
        if (!before)
          throw new ToolError(`id: no record ${recordKey(t.table, args.id)}; nothing was written.`);
        const set = names.map((n) => `${q(n)} = ?`).join(', ');
        const where = t.key.map((k) => `${q(k)} = ?`).join(' AND ');
        runWrite(
          () =>
            db
              .prepare(`UPDATE ${q(t.table)} SET ${set} WHERE ${where}`)
              .run(...names.map((n) => args.fields[n]), ...vals),
          'update_fields',
        );
        const after = r.getRow(t, args.id)!;
        return { before: pick(before), after: pick(after), result: { before: pick(before), after } };
      });
      return result({
        key: recordKey(t.table, args.id),
        id: args.id,
        audit_id: out.auditId,
        record: out.result.after,
        before: out.result.before,
      });
    },
  );
}

/** The notes table: the record table with a polymorphic "about" relation. */
function notesMap(r: CrmReader): {
  t: RecordTableMap;
  tableCol: string;
  idCol: string;
  bodyCol: string;
  authorCol?: string;
} {
  for (const t of recordTables(r.map)) {
    const rel = (t.relations ?? []).find((x) => x.kind === 'polymorphic');
    if (rel && rel.kind === 'polymorphic') {
      const bodyCol = t.chunkColumns?.[0] ?? t.titleColumn;
      const author = t.payload.owner;
      return {
        t,
        tableCol: rel.tableColumn,
        idCol: rel.idColumn,
        bodyCol,
        authorCol: author && r.tableColumns(t.table).has(author) ? author : undefined,
      };
    }
  }
  throw new ToolError(
    'the source map has no notes table (a record table with a polymorphic relation); add_note is unavailable.',
  );
}

/** Insert a row and return its pk text; a constraint failure becomes a tool error naming the tool. */
function insertRow(db: Db, t: RecordTableMap, values: Record<string, unknown>, tool: string): string {
  const cols = Object.keys(values);
  const info = runWrite(
    () =>
      db
        .prepare(
          `INSERT INTO ${q(t.table)} (${cols.map(q).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`,
        )
        .run(...cols.map((c) => values[c])),
    tool,
  );
  // Read the key back by rowid: the key column need not be the rowid alias.
  const row = db
    .prepare(`SELECT ${t.key.map(q).join(', ')} FROM ${q(t.table)} WHERE rowid = ?`)
    .get(info.lastInsertRowid) as Record<string, unknown> | undefined;
  return encodePk(t.key.map((k) => cleanRow(row ?? {})[k]));
}

function runWrite<T>(fn: () => T, tool: string): T {
  try {
    return fn();
  } catch (err) {
    if (isConstraintError(err)) {
      throw new ToolError(
        `${tool}: the CRM refused the values (${(err as Error).message}); nothing was written.`,
      );
    }
    throw err;
  }
}
