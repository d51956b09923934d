import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../config/errors.js';
import { hostName, isLoopbackAddress, listen } from '../../config/net.js';

describe('config/net', () => {
  it('says which setting to change when the port is already taken', async () => {
    const a = http.createServer();
    await listen(a, 0, '127.0.0.1', 'X_PORT');
    const port = (a.address() as AddressInfo).port;
    const b = http.createServer();
    const err = await listen(b, port, '127.0.0.1', 'X_PORT').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(
      new RegExp(`127\\.0\\.0\\.1:${port} is already in use.*set X_PORT`),
    );
    await new Promise((r) => a.close(r));
  });

  it('recognises loopback names and reads the host part of Host headers', () => {
    expect(['127.0.0.1', '127.5.6.7', '::1', '[::1]', 'LOCALHOST'].every(isLoopbackAddress)).toBe(true);
    expect(['0.0.0.0', '10.0.0.1', 'example.com'].some(isLoopbackAddress)).toBe(false);
    expect([hostName('Example.com:8080'), hostName('[::1]:80'), hostName('fe80::1')]).toEqual([
      'example.com',
      '::1',
      'fe80::1',
    ]);
  });
});
