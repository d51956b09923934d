/**
 * Who may talk to the MCP HTTP server. Pure functions: the bind policy
 * (off loopback a bearer token is mandatory), the Host header check (against
 * DNS rebinding: a browser page on another site reaching a local server), and
 * a constant-time token comparison.
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
      `The MCP HTTP server would listen on ${opts.host}, beyond loopback, without a token. Set MCP_AUTH_TOKEN to a long random value (clients send "Authorization: Bearer <token>"), or bind to 127.0.0.1.`,
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

export function checkRequest(
  policy: AuthPolicy,
  headers: { host?: string; authorization?: string },
): Verdict {
  if (!hostAllowed(policy, headers.host)) {
    return {
      ok: false,
      status: 403,
      message: `Host "${headers.host ?? ''}" is not allowed; add it to MCP_ALLOWED_HOSTS if this server is meant to be reached by that name.`,
    };
  }
  if (policy.requireAuth && !tokenMatches(policy.token ?? '', headers.authorization)) {
    return {
      ok: false,
      status: 401,
      message: 'missing or wrong bearer token; send "Authorization: Bearer <MCP_AUTH_TOKEN>".',
    };
  }
  return { ok: true };
}
