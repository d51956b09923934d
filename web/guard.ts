/**
 * Who may do what on the operator page. Invariants:
 * - every POST carries the per-process CSRF token and, when the browser says
 *   where it came from (Origin, else Referer), comes from this same host;
 * - bound to loopback, the Host header must be a loopback name (a page on
 *   another site reaching us through DNS rebinding is refused);
 * - bound beyond loopback, nothing on the page is served without the MCP
 *   bearer token (MCP_AUTH_TOKEN): as `Authorization: Bearer`, or as the
 *   session cookie the login form sets. With no token configured there, the
 *   page refuses to serve rather than expose CRM text.
 * Comparisons of secrets are constant-time over digests.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { hostName, isLoopbackAddress } from '../config/net.js';

export const SESSION_COOKIE = 'crm_index_session';

/** Shared with the MCP server (config/net.ts). */
export const isLoopbackHost = isLoopbackAddress;
export const hostOnly = hostName;

export function sameSecret(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    const k = part.slice(0, i).trim();
    const v = part.slice(i + 1).trim();
    try {
      out.set(k, decodeURIComponent(v));
    } catch {
      out.set(k, v);
    }
  }
  return out;
}

/**
 * Same-origin check for a state-changing request: Origin (sent by browsers on
 * every form POST) must name the Host we were reached by; without Origin the
 * Referer must; without either (curl, scripts) the CSRF token alone decides.
 */
export function sameOrigin(headers: IncomingHttpHeaders): boolean {
  const host = headers.host?.toLowerCase();
  if (!host) return false;
  const from = headers.origin ?? headers.referer;
  if (from === undefined) return true;
  try {
    return new URL(from).host.toLowerCase() === host;
  } catch {
    return false; // "null" origins (sandboxed frames, file:) and garbage
  }
}

export type Access = { ok: true } | { ok: false; status: 401 | 403; reason: string; login: boolean };

export class WebGuard {
  /** Random per process: a page from before a restart cannot post. */
  readonly csrf = randomBytes(24).toString('base64url');
  private readonly secret = randomBytes(32);
  readonly loopback: boolean;

  constructor(
    readonly bindHost: string,
    private readonly token: string | undefined,
  ) {
    this.loopback = isLoopbackHost(bindHost);
  }

  get requireAuth(): boolean {
    return !this.loopback;
  }

  /** The cookie value a correct login earns: an HMAC of the token under a per-process key, never the token itself. */
  sessionValue(): string {
    return createHmac('sha256', this.secret)
      .update(this.token ?? '')
      .digest('base64url');
  }

  tokenMatches(candidate: string | undefined): boolean {
    return this.token !== undefined && candidate !== undefined && sameSecret(this.token, candidate);
  }

  authenticated(headers: IncomingHttpHeaders): boolean {
    if (!this.requireAuth) return true;
    if (this.token === undefined) return false;
    const m = /^Bearer\s+(.+)$/i.exec(headers.authorization?.trim() ?? '');
    if (m && this.tokenMatches(m[1])) return true;
    const cookie = parseCookies(headers.cookie).get(SESSION_COOKIE);
    return cookie !== undefined && sameSecret(cookie, this.sessionValue());
  }

  /** May this request see the page at all? */
  access(headers: IncomingHttpHeaders): Access {
    if (this.loopback && !(headers.host && isLoopbackHost(hostOnly(headers.host)))) {
      return {
        ok: false,
        status: 403,
        reason: `Host "${headers.host ?? ''}" is not a loopback name; this page is bound to ${this.bindHost}, open it as http://127.0.0.1:<port>/.`,
        login: false,
      };
    }
    if (this.requireAuth && this.token === undefined) {
      return {
        ok: false,
        status: 403,
        reason: `follow listens on ${this.bindHost}, beyond loopback, and MCP_AUTH_TOKEN is not set; set it to a long random value to use this page, or bind CRM_INDEX_HTTP_HOST to 127.0.0.1.`,
        login: false,
      };
    }
    if (!this.authenticated(headers)) {
      return {
        ok: false,
        status: 401,
        reason: 'sign in with the MCP token (MCP_AUTH_TOKEN) to use this page.',
        login: true,
      };
    }
    return { ok: true };
  }

  /** A POST's CSRF and origin checks; the reason says what was wrong. */
  checkPost(headers: IncomingHttpHeaders, form: URLSearchParams): string | null {
    if (!sameOrigin(headers))
      return 'the request came from another origin (Origin/Referer does not match Host).';
    const t = form.get('csrf');
    if (!t || !sameSecret(t, this.csrf)) return 'missing or stale CSRF token; reload the page and try again.';
    return null;
  }
}
