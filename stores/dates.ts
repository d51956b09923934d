/**
 * Date bounds of a search filter, normalised once at the edge to one RFC 3339
 * form (UTC, `YYYY-MM-DDTHH:MM:SS[.fraction]Z`) that every Qdrant version
 * parses, and the instant a stored date names, for the embedded store.
 *
 * Why: Qdrant's datetime parser (`lib/segment/src/types.rs`,
 * `FromStr for DateTimePayloadType`) accepts RFC 3339 and a few naive forms,
 * but answers 400 to `…T10:00Z`, `…T10:00+02:00`, `…T10` and (before 1.18)
 * `…T10:00`. The embedded store would answer those, so the two stores differed.
 * Here every accepted form becomes the same instant in the one form; what names
 * no instant is refused with a ConfigError naming the argument.
 *
 * Accepted: `YYYY-MM-DD`, and `YYYY-MM-DD` + `T`/space + `HH:MM[:SS[.f]]` with
 * an optional zone `Z`, `±HH`, `±HHMM` or `±HH:MM`. No zone means UTC, as in
 * Qdrant. A date-only upper bound means the end of that day.
 */
import { ConfigError } from '../config/errors.js';

const FORM =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?)?$/;

/** What the edges say a bound may look like (MCP schema descriptions, CLI help). */
export const DATE_BOUND_HELP =
  'YYYY-MM-DD, or YYYY-MM-DDTHH:MM[:SS[.fff]] with an optional Z or ±HH:MM offset (no offset = UTC)';

interface Parsed {
  /** Epoch milliseconds of the whole seconds. */
  ms: number;
  /** Fraction of a second as written (digits after the point), '' when none. */
  frac: string;
  dateOnly: boolean;
}

function parse(raw: string): Parsed | undefined {
  const m = FORM.exec(raw.trim());
  if (!m) return undefined;
  const [, ys, mos, ds, hs, mis, ss, frac, zone] = m;
  const y = Number(ys);
  const mo = Number(mos);
  const d = Number(ds);
  const h = hs === undefined ? 0 : Number(hs);
  const mi = mis === undefined ? 0 : Number(mis);
  const s = ss === undefined ? 0 : Number(ss);
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return undefined;
  let offsetMin = 0;
  if (zone && zone !== 'Z' && zone !== 'z') {
    const digits = zone.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = digits.length > 2 ? Number(digits.slice(2)) : 0;
    if (oh > 23 || om > 59) return undefined;
    offsetMin = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0-99 to 1900-1999.
  const day = new Date(0);
  day.setUTCFullYear(y, mo - 1, d);
  if (day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d) return undefined; // 2024-02-30
  const ms = day.getTime() + ((h * 60 + mi - offsetMin) * 60 + s) * 1000;
  const year = new Date(ms).getUTCFullYear();
  if (year < 0 || year > 9999) return undefined;
  return { ms, frac: frac ?? '', dateOnly: hs === undefined };
}

function rfc3339(ms: number, frac: string): string {
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z for years 0-9999
  return `${iso.slice(0, 19)}${frac ? `.${frac}` : ''}Z`;
}

/** Whether `raw` is a date bound this module can normalise. */
export function isDateBound(raw: string): boolean {
  return parse(raw) !== undefined;
}

function refuse(name: string, raw: string): ConfigError {
  return new ConfigError(
    `${name}="${raw}" is not a date this index can compare; give ${DATE_BOUND_HELP}, e.g. 2024-03-31 or 2024-03-31T10:00:00Z.`,
  );
}

/** The inclusive lower bound as RFC 3339 UTC. Throws ConfigError naming `name`. */
export function normaliseDateFrom(raw: string, name = 'dateFrom'): string {
  const p = parse(raw);
  if (!p) throw refuse(name, raw);
  return rfc3339(p.ms, p.frac);
}

/**
 * The inclusive upper bound as RFC 3339 UTC; a bare date becomes the last
 * microsecond of that day (Qdrant keeps datetimes to the microsecond).
 */
export function normaliseDateTo(raw: string, name = 'dateTo'): string {
  const p = parse(raw);
  if (!p) throw refuse(name, raw);
  return p.dateOnly ? rfc3339(p.ms + 86_399_000, '999999') : rfc3339(p.ms, p.frac);
}

/**
 * The instant a stored or normalised date names, in epoch milliseconds (the
 * fraction kept below the millisecond), or NaN when it names none: such a point
 * never matches a date filter, as in Qdrant, whose datetime index skips it.
 */
export function instantMs(raw: string | null | undefined): number {
  if (raw === null || raw === undefined) return NaN;
  const p = parse(raw);
  if (!p) return NaN;
  return p.ms + (p.frac ? Number(`0.${p.frac}`) * 1000 : 0);
}
