/**
 * Host-name helpers shared by every HTTP server we run (the MCP server and
 * follow's page): what counts as loopback, and the host part of a Host header.
 * Both decide whether a token is needed and block DNS rebinding with them.
 */

import { ConfigError } from './errors.js';

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

/**
 * Listen, turning the usual failures into errors that name the setting:
 * a port in use or not allowed, an address this machine does not have.
 */
export function listen(
  server: import('node:http').Server,
  port: number,
  host: string,
  setting: string,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const where = `${host}:${port}`;
      if (err.code === 'EADDRINUSE') {
        reject(
          new ConfigError(
            `${where} is already in use (another crm-index?); stop that process or set ${setting} to a free port (0 picks one).`,
          ),
        );
      } else if (err.code === 'EACCES') {
        reject(new ConfigError(`Not allowed to listen on ${where}; set ${setting} to a port above 1024.`));
      } else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') {
        reject(
          new ConfigError(
            `${host} is not an address of this machine; set the host to 127.0.0.1, 0.0.0.0 or one of its addresses.`,
          ),
        );
      } else reject(err);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
