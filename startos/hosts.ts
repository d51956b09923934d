/**
 * The host names StartOS publishes the MCP interface under: `<name>.local`,
 * the LAN and VPN IP addresses, the `.onion` address, and private and public
 * domains. StartOS's proxy passes the client's Host header through, so the
 * MCP server must accept each of them (its Host check guards against DNS
 * rebinding and refuses everything else). main.ts reads them with
 * `sdk.host.getOwn(...).const()`, so a new address restarts the MCP daemon
 * with the new list.
 *
 * Pure: takes the SDK's Host shape (bindings → addresses.available →
 * hostname), returns sorted, distinct names without ports or brackets.
 */
import type { T } from '@start9labs/start-sdk';

type HostLike = Pick<T.Host, 'bindings' | 'publicDomains' | 'privateDomains'>;

export function publishedHostNames(host: HostLike | null | undefined): string[] {
  if (!host) return [];
  const names = new Set<string>();
  const add = (raw: string) => {
    const name = raw
      .trim()
      .toLowerCase()
      .replace(/^\[|\]$/g, '');
    if (name !== '') names.add(name);
  };
  for (const binding of Object.values(host.bindings ?? {})) {
    for (const info of binding?.addresses?.available ?? []) add(info.hostname);
  }
  for (const domain of Object.keys(host.publicDomains ?? {})) add(domain);
  for (const domain of Object.keys(host.privateDomains ?? {})) add(domain);
  return [...names].sort();
}
