/**
 * Host-name helpers shared by every HTTP server we run (the MCP server and
 * follow's page): what counts as loopback, and the host part of a Host header.
 * Both decide whether a token is needed and block DNS rebinding with them.
 */

/** Names that always mean this machine. */
export const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];

/** A bind address or host name on the loopback interface (127.0.0.0/8, ::1, localhost). */
export function isLoopbackAddress(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** The host part of a Host header value: port dropped, brackets of IPv6 removed, lowercase. */
export function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end > 0 ? h.slice(1, end) : h;
  }
  // A bare IPv6 address has several colons and no port.
  if ((h.match(/:/g) ?? []).length > 1) return h;
  return h.replace(/:\d+$/, '');
}

/** Reply with a JSON body and its length. */
export function sendJson(
  res: import('node:http').ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}
