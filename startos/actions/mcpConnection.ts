/**
 * "MCP connection": what an agent needs to connect, as credential rows the
 * operator can copy: the MCP URLs StartOS publishes (LAN, .local, Tor,
 * domains) and the bearer token, masked.
 */
import { sdk } from '../sdk.js';
import { storeJson } from '../store.js';
import { MCP_PORT, emptyStore } from '../env.js';
import type { T } from '@start9labs/start-sdk';

/** Pure, for tests: one copyable row per URL, then the token (masked). */
export function connectionMembers(urls: readonly string[], token: string | null): T.ActionResultMember[] {
  const rows: T.ActionResultMember[] = urls.map((url, i) => ({
    type: 'single',
    name: urls.length === 1 ? 'MCP URL' : `MCP URL ${i + 1}`,
    description: i === 0 ? 'The Streamable HTTP endpoint; any of these addresses works.' : null,
    value: url,
    copyable: true,
    qr: false,
    masked: false,
  }));
  rows.push({
    type: 'single',
    name: 'MCP token',
    description: 'Agents send it as "Authorization: Bearer <token>". Change it with the Configure action.',
    value: token ?? 'not set: run the Configure action',
    copyable: token !== null,
    qr: false,
    masked: token !== null,
  });
  return rows;
}

export const mcpConnection = sdk.Action.withoutInput(
  'mcp-connection',
  async () => ({
    name: 'MCP connection',
    description: 'Show the MCP server URLs and the token an agent needs to connect.',
    warning: null,
    allowedStatuses: 'any',
    group: null,
    visibility: 'enabled',
  }),
  async ({ effects }) => {
    const urls =
      (await sdk.host
        .getOwn(effects, 'mcp', (h) =>
          h?.bindings[MCP_PORT]?.interfaces['mcp']?.addressInfo.nonLocal.format(),
        )
        .once()) ?? [];
    const store = (await storeJson.read().once()) ?? emptyStore();
    return {
      version: '1',
      title: 'MCP connection',
      message: urls.length === 0 ? 'StartOS has published no address for the MCP interface yet.' : null,
      result: { type: 'group', value: connectionMembers(urls, store.mcpAuthToken) },
    };
  },
);
