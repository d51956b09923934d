/** Temp CRM databases with the reference schema, and a snapshot of the derived entity tables. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openCrm, type Db } from '../../crm/db.js';
import { REFERENCE_SCHEMA_SQL } from '../../crm/schema.js';

export function tempCrm(name = 'crm.db'): { db: Db; file: string; dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-entities-'));
  const file = path.join(dir, name);
  const db = openCrm(file, { create: true });
  db.exec(REFERENCE_SCHEMA_SQL);
  return { db, file, dir };
}

export interface Snapshot {
  entities: unknown[];
  links: unknown[];
  keys: unknown[];
}

export function snapshot(db: Db): Snapshot {
  return {
    entities: db.prepare('SELECT id, kind, display_name, member_count FROM entities ORDER BY id').all(),
    links: db.prepare('SELECT record_key, entity_id, evidence FROM entity_links ORDER BY record_key').all(),
    keys: db
      .prepare(
        'SELECT record_key, key_type, key_value FROM entity_keys ORDER BY record_key, key_type, key_value',
      )
      .all(),
  };
}

export function entityOf(db: Db, recordKey: string): string | undefined {
  return db.prepare('SELECT entity_id FROM entity_links WHERE record_key = ?').pluck().get(recordKey) as
    string | undefined;
}
