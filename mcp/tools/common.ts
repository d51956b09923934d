/**
 * Shared pieces of the MCP tools: bounded input schemas and the result shape.
 *
 * Invariant ("results are data"): a tool returns record text only inside JSON
 * data (structuredContent, and the same JSON as the text content); no record
 * text is ever put into a description, an instruction or a template.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { DATE_BOUND_HELP, isDateBound } from '../../stores/dates.js';
import type { McpContext } from '../context.js';

/** A note or interaction body: 64 KB of UTF-8, the limit. */
export const MAX_BODY_BYTES = 64 * 1024;
/** Names, ids, kinds, short labels. */
export const MAX_SHORT = 256;
/** Queries and subjects: a long sentence or two, not a document. */
export const MAX_TEXT = 2000;
/** Items in a filter list or a person list. */
export const MAX_LIST = 50;

export const shortStr = (what: string) =>
  z.string().min(1, `${what} is empty`).max(MAX_SHORT, `${what} is longer than ${MAX_SHORT} characters`);

export const idStr = (what: string) =>
  z
    .union([z.string(), z.number().int()])
    .transform((v) => String(v))
    .pipe(shortStr(what));

/** A date bound: only what stores/dates.ts can normalise to RFC 3339 (both stores compare the same instant). */
export const isoDate = (what: string) =>
  z
    .string()
    .max(40, `${what} is longer than 40 characters`)
    .refine(isDateBound, { message: `${what} is not a date; give ${DATE_BOUND_HELP}` });

export const bodyStr = (what: string) =>
  z
    .string()
    .min(1, `${what} is empty`)
    .refine((s) => s.trim().length > 0, { message: `${what} is only white space` })
    .refine((s) => Buffer.byteLength(s, 'utf8') <= MAX_BODY_BYTES, {
      message: `${what} is larger than ${MAX_BODY_BYTES} bytes (64 KB)`,
    });

export const cellSchema = z.union([z.string(), z.number(), z.null()]);

export const relatedSchema = z.object({
  relation: z.string(),
  table: z.string(),
  key: z.string(),
  id: z.string(),
  title: z.string(),
  date: z.string().nullable(),
});

export interface ToolEnv {
  ctx: McpContext;
  /** The connected client's name (MCP initialize clientInfo), or a transport-level fallback. */
  client(): string | undefined;
}

export function result<T extends Record<string, unknown>>(data: T): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(data, null, 2) }], structuredContent: data };
}
