/**
 * HTML escaping for the operator page. Invariant: every string that came from
 * the CRM, the index, the request or an error message reaches the page only
 * through `esc` (text and quoted attribute values alike), so record text can
 * never open a tag, close an attribute or start a script.
 */

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

/** Escape for HTML text and for attribute values in double or single quotes. */
export function esc(value: unknown): string {
  if (value === null || value === undefined) return '';
  return String(value).replace(/[&<>"'`]/g, (c) => ENTITIES[c] ?? c);
}
