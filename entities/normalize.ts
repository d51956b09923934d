/**
 * Normalization of the values entity resolution compares: organization names,
 * domains, emails and person names. Pure functions; each returns null when
 * nothing comparable is left, so an empty or junk value never becomes a key
 * that would join unrelated records.
 */

/** Lowercase, NFKD with diacritics stripped, punctuation removed, whitespace collapsed. */
export function normalizeText(raw: string | null | undefined): string {
  if (raw === null || raw === undefined) return '';
  return (
    raw
      .normalize('NFKD')
      .replace(/\p{M}+/gu, '')
      .toLowerCase()
      // Dots and apostrophes join ("l.l.c." -> "llc", "o'brien" -> "obrien"); other punctuation separates.
      .replace(/['’.]/g, '')
      .replace(/[^\p{L}\p{N}]+/gu, ' ')
      .trim()
  );
}

/** Legal-form words dropped from the end of organization names (also in the middle of "Acme Co Ltd"). */
const LEGAL_SUFFIXES = new Set([
  'inc',
  'incorporated',
  'llc',
  'ltd',
  'limited',
  'gmbh',
  'ag',
  'sa',
  'sas',
  'corp',
  'corporation',
  'co',
  'company',
  'plc',
  'lp',
  'llp',
  'bv',
  'nv',
  'srl',
  'pty',
  'oy',
  'ab',
]);

/** "The Acme Co., Inc." -> "acme". Null when only legal words (or nothing) remain. */
export function normalizeOrgName(raw: string | null | undefined): string | null {
  const words = normalizeText(raw)
    .split(' ')
    .filter((w) => w !== '');
  if (words[0] === 'the' && words.length > 1) words.shift();
  while (words.length > 1 && LEGAL_SUFFIXES.has(words[words.length - 1]!)) words.pop();
  if (words.length === 1 && LEGAL_SUFFIXES.has(words[0]!)) return null;
  const out = words.join(' ');
  return out === '' ? null : out;
}

/** A person's full name, normalized; order kept ("Smith John" is not "John Smith"). */
export function normalizePersonName(raw: string | null | undefined): string | null {
  const out = normalizeText(raw);
  return out === '' ? null : out;
}

/** A phone number as its digits (a leading + and formatting dropped); null when under 7 digits. */
export function normalizePhone(raw: string | null | undefined): string | null {
  if (!raw) return null;
  const digits = raw.replace(/\D+/g, '');
  return digits.length >= 7 ? digits : null;
}

/**
 * Webmail and consumer mail providers: a shared address domain there says
 * nothing about a shared organization. Exact names, plus provider families
 * whose country variants are many (yahoo.co.uk, hotmail.fr, gmx.de).
 */
const WEBMAIL = new Set([
  'gmail.com',
  'googlemail.com',
  'outlook.com',
  'live.com',
  'msn.com',
  'icloud.com',
  'me.com',
  'mac.com',
  'proton.me',
  'protonmail.com',
  'pm.me',
  'aol.com',
  'mail.com',
  'zoho.com',
  'yandex.com',
  'yandex.ru',
  'mail.ru',
  'fastmail.com',
  'hey.com',
  'qq.com',
  '163.com',
  'comcast.net',
  'verizon.net',
  'att.net',
  'web.de',
  'tutanota.com',
]);
const WEBMAIL_FAMILIES = ['yahoo', 'ymail', 'hotmail', 'gmx', 'live', 'outlook', 'aol'];

export function isWebmailDomain(domain: string): boolean {
  if (WEBMAIL.has(domain)) return true;
  const first = domain.split('.')[0] ?? '';
  return WEBMAIL_FAMILIES.includes(first);
}

/**
 * A domain from a domain or website column: scheme, credentials, port, path,
 * "www." and a trailing dot removed. Null when it is not a dotted host name.
 */
export function normalizeDomain(raw: string | null | undefined): string | null {
  if (!raw) return null;
  let v = raw.trim().toLowerCase();
  v = v.replace(/^[a-z][a-z0-9+.-]*:\/\//, '');
  v = v.replace(/^[^@/]*@/, '');
  v = v.split(/[/?#]/)[0] ?? '';
  v = v
    .replace(/:\d+$/, '')
    .replace(/\.$/, '')
    .replace(/^www\d*\./, '');
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(v)) return null;
  return v;
}

/** An organization-identifying domain: normalized and not webmail. */
export function orgDomain(raw: string | null | undefined): string | null {
  const d = normalizeDomain(raw);
  return d !== null && !isWebmailDomain(d) ? d : null;
}

const GMAIL = new Set(['gmail.com', 'googlemail.com']);

/**
 * An email for comparison: lowercase, "+tag" removed; Gmail also ignores dots
 * in the local part and treats googlemail.com as gmail.com. Null when not an
 * address.
 */
export function normalizeEmail(raw: string | null | undefined): string | null {
  if (!raw) return null;
  const v = raw
    .trim()
    .toLowerCase()
    .replace(/^mailto:/, '');
  const at = v.lastIndexOf('@');
  if (at <= 0 || at === v.length - 1) return null;
  let local = v.slice(0, at);
  let domain = normalizeDomain(v.slice(at + 1));
  if (domain === null) return null;
  local = local.split('+')[0] ?? '';
  if (GMAIL.has(domain)) {
    local = local.replace(/\./g, '');
    domain = 'gmail.com';
  }
  if (local === '' || /\s/.test(local)) return null;
  return `${local}@${domain}`;
}

/** The organization domain of an email, or null for webmail and non-addresses. */
export function emailOrgDomain(raw: string | null | undefined): string | null {
  const e = normalizeEmail(raw);
  if (e === null) return null;
  const d = e.slice(e.lastIndexOf('@') + 1);
  return isWebmailDomain(d) ? null : d;
}
