/**
 * Entity ids for chunk payloads. Entity resolution (entities/) owns the
 * tables; until it has run there are none, and records carry no entity ids.
 */
import type { Db } from '../crm/db.js';

export function entityIdsProvider(db: Db): (keys: string[]) => Map<string, string[]> {
  let fn: ((keys: string[]) => Map<string, string[]>) | null | undefined;
  return (keys) => {
    if (fn === undefined) {
      const has = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'entity_links'").get();
      fn = has ? makeLookup(db) : null;
    }
    return fn ? fn(keys) : new Map();
  };
}

function makeLookup(db: Db): (keys: string[]) => Map<string, string[]> {
  const stmt = db.prepare('SELECT entity_id FROM entity_links WHERE record_key = ?').pluck();
  return (keys) => {
    const out = new Map<string, string[]>();
    for (const k of keys) {
      const id = stmt.get(k) as string | undefined;
      if (id) out.set(k, [id]);
    }
    return out;
  };
}
