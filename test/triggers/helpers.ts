/** Shared setup for capture tests: a fresh reference CRM in a temp dir, with capture installed. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openCrm, type Db } from '../../crm/db.js';
import { REFERENCE_SCHEMA_SQL } from '../../crm/schema.js';
import { DEFAULT_SOURCE_MAP } from '../../crm/sourceMap.js';
import { installCapture } from '../../triggers/install.js';

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'crm-index-capture-'));
}

/** A new reference CRM file; `install` also installs capture with the default map. */
export function referenceCrm(opts: { install?: boolean } = {}): { db: Db; file: string; dir: string } {
  const dir = tempDir();
  const file = path.join(dir, 'crm.db');
  const db = openCrm(file, { create: true });
  db.exec(REFERENCE_SCHEMA_SQL);
  if (opts.install ?? true) installCapture(db, DEFAULT_SOURCE_MAP);
  return { db, file, dir };
}

/** Every changelog row as compact `table:pk:op` strings, oldest first. */
export function changes(db: Db, afterSeq = 0): string[] {
  return (
    db
      .prepare(
        `SELECT t.name AS tbl, c.row_key AS pk, c.op AS op FROM _cdc_changelog c JOIN _cdc_tables t ON t.id = c.table_id WHERE c.seq > ? ORDER BY c.seq`,
      )
      .all(afterSeq) as { tbl: string; pk: string; op: string }[]
  ).map((r) => `${r.tbl}:${r.pk}:${r.op}`);
}

/** The current end of the changelog, so a test can look at only what its own statements captured. */
export function lastSeq(db: Db): number {
  return (db.prepare(`SELECT coalesce(max(seq), 0) AS s FROM _cdc_changelog`).get() as { s: number }).s;
}

/** Run `fn` and return what it captured. */
export function captured(db: Db, fn: () => void): string[] {
  const before = lastSeq(db);
  fn();
  return changes(db, before);
}
