/**
 * Who may talk to the MCP HTTP server. Pure functions: the bind policy
 * (off loopback a bearer token is mandatory), the Host header check (against
 * DNS rebinding: a browser page on another site reaching a local server), the
 * Origin check the MCP Streamable HTTP spec requires of servers (a browser
 * page from a foreign origin is refused; clients that send no Origin are
 * not browsers and pass), and a constant-time token comparison.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ConfigError } from '../config/errors.js';

import { hostName, isLoopbackAddress, LOOPBACK_NAMES } from '../config/net.js';

export { hostName, isLoopbackAddress, LOOPBACK_NAMES };

export interface AuthPolicy {
  requireAuth: boolean;
  token: string | undefined;
  /** Host names (without port, lowercase, IPv6 without brackets) accepted in the Host header. */
  allowedHosts: Set<string>;
}

/**
 * The policy for a bind address. `requireAuth` forces the token even on
 * loopback (tests, or a loopback port that a proxy exposes).
 */
export function authPolicy(opts: {
  host: string;
  token?: string;
  allowedHosts?: string[];
  requireAuth?: boolean;
}): AuthPolicy {
  const loopback = isLoopbackAddress(opts.host);
  const requireAuth = opts.requireAuth ?? !loopback;
  if (requireAuth && !opts.token) {
    throw new ConfigError(
      loopback
        ? `The MCP HTTP server was asked to require a token (--require-auth) on ${opts.host}, but MCP_AUTH_TOKEN is not set. Set it to a long random value (clients send "Authorization: Bearer <token>"), or drop --require-auth.`
        : `The MCP HTTP server would listen on ${opts.host}, beyond loopback, without a token. Set MCP_AUTH_TOKEN to a long random value (clients send "Authorization: Bearer <token>"), or bind to 127.0.0.1.`,
    );
  }
  const allowed = new Set(LOOPBACK_NAMES);
  for (const h of opts.allowedHosts ?? []) allowed.add(hostName(h));
  // The address we were told to bind to is a name clients will use; a wildcard is not.
  if (!['0.0.0.0', '::', ''].includes(opts.host)) allowed.add(hostName(opts.host));
  return { requireAuth, token: opts.token, allowedHosts: allowed };
}

export function hostAllowed(policy: AuthPolicy, header: string | undefined): boolean {
  if (!header) return false;
  return policy.allowedHosts.has(hostName(header));
}

/**
 * An absent Origin passes (agents and scripts send none); a present one must
 * name an allowed host. "null" and unparsable origins are refused.
 */
export function originAllowed(policy: AuthPolicy, origin: string | undefined): boolean {
  if (origin === undefined) return true;
  try {
    const url = new URL(origin);
    return url.host !== '' && policy.allowedHosts.has(hostName(url.host));
  } catch {
    return false;
  }
}

/** Compare digests so the comparison time does not depend on where the strings differ, nor on length. */
export function tokenMatches(expected: string, header: string | undefined): boolean {
  if (!header) return false;
  const m = /^Bearer\s+(.+)$/i.exec(header.trim());
  if (!m) return false;
  const a = createHash('sha256').update(m[1]!).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export type Verdict = { ok: true } | { ok: false; status: 401 | 403; message: string };

/** The Host and Origin checks, which every route (/healthz included) passes before anything else. */
export function checkHostAndOrigin(policy: AuthPolicy, headers: { host?: string; origin?: string }): Verdict {
  if (!hostAllowed(policy, headers.host)) {
    return {
      ok: false,
      status: 403,
      message: `Host "${headers.host ?? ''}" is not allowed; add it to MCP_ALLOWED_HOSTS if this server is meant to be reached by that name.`,
    };
  }
  if (!originAllowed(policy, headers.origin)) {
    return {
      ok: false,
      status: 403,
      message: `Origin "${headers.origin ?? ''}" is not allowed: a browser page from another site may not call this server. Add its host to MCP_ALLOWED_HOSTS if it is meant to.`,
    };
  }
  return { ok: true };
}

export function checkRequest(
  policy: AuthPolicy,
  headers: { host?: string; origin?: string; authorization?: string },
): Verdict {
  const where = checkHostAndOrigin(policy, headers);
  if (!where.ok) return where;
  if (policy.requireAuth && !tokenMatches(policy.token ?? '', headers.authorization)) {
    return {
      ok: false,
      status: 401,
      message: 'missing or wrong bearer token; send "Authorization: Bearer <MCP_AUTH_TOKEN>".',
    };
  }
  return { ok: true };
}
