/**
 * Loading the source map: the built-in default, or an operator's JSON file
 * checked against the SourceMap shape with zod. Unknown keys are errors (a
 * typo such as "tabels" must not silently index nothing), and every error
 * names the file and the JSON path of the bad value.
 *
 * Shape only: whether the map fits the live database and is consistent with
 * itself is crm/validate.ts's job.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError, SourceMapError } from '../config/errors.js';
import { DEFAULT_SOURCE_MAP, type SourceMap } from './sourceMap.js';
import { checkSourceMapConsistency } from './validate.js';

const name = z.string().min(1, 'must be a non-empty name');
const columns = z.array(name).min(1, 'must list at least one column');

const textField = z.strictObject({ column: name, label: z.string().optional() });

const relation = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('belongsTo'), name: z.string(), column: name, table: name }),
  z.strictObject({
    kind: z.literal('manyToMany'),
    name: z.string(),
    via: name,
    localColumns: columns,
    remoteColumns: columns,
    table: name,
  }),
  z.strictObject({ kind: z.literal('polymorphic'), name: z.string(), tableColumn: name, idColumn: name }),
]);

const recordTable = z.strictObject({
  kind: z.literal('record'),
  table: name,
  key: columns,
  label: z.string().min(1),
  titleColumn: name,
  text: z.array(textField),
  chunkColumns: z.array(name).optional(),
  payload: z.record(z.string(), name),
  relations: z.array(relation).optional(),
  writable: z.array(name).optional(),
  watch: z.array(name).optional(),
});

const linkTable = z.strictObject({
  kind: z.literal('link'),
  table: name,
  key: columns,
  sides: z.array(z.strictObject({ table: name, columns })).min(1, 'must list at least one side'),
});

export const sourceMapSchema = z.strictObject({
  version: z.literal(1),
  tables: z
    .array(z.discriminatedUnion('kind', [recordTable, linkTable]))
    .min(1, 'must list at least one table'),
});

/** `$.tables[2].key[0]` from a zod issue path. */
function jsonPath(p: readonly PropertyKey[]): string {
  return (
    '$' +
    p
      .map((k) =>
        typeof k === 'number'
          ? `[${k}]`
          : /^[A-Za-z_$][\w$]*$/.test(String(k))
            ? `.${String(k)}`
            : `[${JSON.stringify(String(k))}]`,
      )
      .join('')
  );
}

/** Check a parsed value against the SourceMap shape; `where` names its origin in errors. */
export function parseSourceMap(value: unknown, where: string): SourceMap {
  const r = sourceMapSchema.safeParse(value);
  if (!r.success) {
    const lines = r.error.issues.slice(0, 10).map((i) => `  ${jsonPath(i.path)}: ${i.message}`);
    const more = r.error.issues.length > 10 ? `\n  ... and ${r.error.issues.length - 10} more` : '';
    throw new SourceMapError(
      `The source map ${where} is not valid:\n${lines.join('\n')}${more}\nFix those fields (docs/source-map.md describes the format).`,
    );
  }
  return r.data as SourceMap;
}

/** The source map at `file`, or the built-in map for the reference CRM when no file is given. */
export function loadSourceMap(file?: string): SourceMap {
  if (file === undefined) return DEFAULT_SOURCE_MAP;
  const abs = path.resolve(file);
  let text: string;
  try {
    text = fs.readFileSync(abs, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `Cannot read the source map ${abs} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}). Check CRM_SOURCE_MAP (or --source-map), or unset it to use the built-in map.`,
      { cause: err },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new SourceMapError(
      `The source map ${abs} is not valid JSON: ${jsonErrorAt(text, (err as Error).message)}. Fix the syntax there.`,
      {
        cause: err,
      },
    );
  }
  const map = parseSourceMap(value, abs);
  // Self-consistency (duplicate tables, relations to unknown tables, writable key columns) needs no database.
  try {
    checkSourceMapConsistency(map);
  } catch (err) {
    throw new SourceMapError(`The source map ${abs} needs a fix: ${(err as Error).message}`, { cause: err });
  }
  origins.set(map, abs);
  return map;
}

/** Where each loaded map came from (absolute path); the built-in map has none. */
const origins = new WeakMap<SourceMap, string>();

/** "the built-in map" or the file a map was loaded from, for messages and the installed map's identity. */
export function sourceMapOrigin(map: SourceMap): string {
  return origins.get(map) ?? 'the built-in map';
}

/** The file a map was loaded from, or undefined for the built-in map. */
export function sourceMapFile(map: SourceMap): string | undefined {
  return origins.get(map);
}

/**
 * JSON.parse's message with its byte offset turned into a line and column
 * (1-based), which is what an editor shows: `Unexpected token } at line 12, column 5`.
 */
export function jsonErrorAt(text: string, message: string): string {
  const m = /at position (\d+)/.exec(message);
  const base = message.replace(/ in JSON at position \d+.*$/s, '').replace(/ at position \d+.*$/s, '');
  let pos: number;
  if (m) pos = Number(m[1]);
  else if (/Unexpected end of JSON input/.test(message)) pos = text.length;
  else return message;
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const column = pos - before.lastIndexOf('\n');
  return `${base} at line ${line}, column ${column}`;
}
