/**
 * Searching through a running `follow` instead of loading the index in this
 * process. follow already holds the index's search structures in memory, so
 * a one-off `crm-index search` that asks it answers in milliseconds where a
 * fresh process would first load them (seconds at a million records).
 *
 * The daemon answers GET /search.json (web/routes.ts) with the database and
 * index it serves; the CLI uses the answer only when both are its own, and
 * falls back to a local search on any other outcome (nothing listening, an
 * older daemon, another CRM, an error).
 */
import http from 'node:http';
import path from 'node:path';
import type { Config } from '../config/index.js';
import type { Hit, SearchOptions } from './engine.js';

/** Where this config's index lives: the same string on both sides means the same index. */
export function indexIdentity(config: Config): string {
  return config.storeKind === 'qdrant'
    ? `qdrant:${config.collection}`
    : `embedded:${path.resolve(config.resolvedIndexPath)}`;
}

export interface RemoteAnswer {
  db: string;
  index: string;
  hits: Hit[];
}

/** How long to wait for follow's answer: its first search after a start may load the index. */
const ANSWER_TIMEOUT_MS = 120_000;

/**
 * Hits from the follow daemon this config points at (CRM_INDEX_HTTP_HOST and
 * _PORT), or undefined when there is none, it serves another database or
 * index, or it fails: the caller then searches locally.
 */
export async function searchViaFollow(
  config: Config,
  query: string,
  opts: SearchOptions,
): Promise<{ hits: Hit[]; url: string } | undefined> {
  if (!config.httpPort) return undefined;
  const host = ['0.0.0.0', '::', ''].includes(config.httpHost) ? '127.0.0.1' : config.httpHost;
  const url = new URL(`http://${host.includes(':') ? `[${host}]` : host}:${config.httpPort}/search.json`);
  url.searchParams.set('q', query);
  url.searchParams.set('options', JSON.stringify(opts));
  try {
    // node:http, not undici: a one-off CLI search pays for every module it loads (undici: ~90 ms).
    const body = await new Promise<string | undefined>((resolve, reject) => {
      const req = http.get(
        url,
        { headers: config.mcpAuthToken ? { authorization: `Bearer ${config.mcpAuthToken}` } : {} },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            resolve(undefined);
            return;
          }
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
          res.on('error', reject);
        },
      );
      req.setTimeout(ANSWER_TIMEOUT_MS, () => req.destroy(new Error('follow did not answer in time')));
      req.on('error', reject);
    });
    if (body === undefined) return undefined;
    const answer = JSON.parse(body) as RemoteAnswer;
    if (path.resolve(answer.db) !== path.resolve(config.dbPath) || answer.index !== indexIdentity(config))
      return undefined;
    return { hits: answer.hits, url: url.origin };
  } catch {
    return undefined;
  }
}
