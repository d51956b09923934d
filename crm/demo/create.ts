/**
 * Creating a demo CRM file from scratch: refuse to clobber a database that
 * has data (unless forced), apply the reference schema, generate, write the
 * facts file, and checkpoint so the .db file stands on its own.
 */
import fs from 'node:fs';
import { ConfigError } from '../../config/errors.js';
import { openCrm } from '../db.js';
import { REFERENCE_SCHEMA_SQL } from '../schema.js';
import { defaultFactsPath, writeFacts, type DemoFacts } from './facts.js';
import { generateDemo, type DemoProgress } from './generate.js';

export interface CreateDemoOptions {
  dbPath: string;
  records: number;
  seed: number;
  /** Replace an existing non-empty database file. */
  force?: boolean;
  /** Default `<dbPath>.facts.json`. */
  factsPath?: string;
  busyTimeoutMs?: number;
  onProgress?: (p: DemoProgress) => void;
}

export interface CreateDemoResult {
  facts: DemoFacts;
  factsPath: string;
  ms: number;
}

const SIDE_FILES = ['', '-wal', '-shm', '-journal'];

export function createDemoDatabase(opts: CreateDemoOptions): CreateDemoResult {
  const { dbPath } = opts;
  if (fs.existsSync(dbPath) && fs.statSync(dbPath).size > 0) {
    if (!opts.force) {
      throw new ConfigError(
        `The database ${dbPath} already exists and is not empty; demo-data will not overwrite it. Pass --force to replace it (its data is deleted), or choose another file with --db or CRM_DB_PATH.`,
      );
    }
    for (const s of SIDE_FILES) fs.rmSync(dbPath + s, { force: true });
  }
  const started = performance.now();
  const db = openCrm(dbPath, { create: true, busyTimeoutMs: opts.busyTimeoutMs });
  let facts: DemoFacts;
  try {
    db.exec(REFERENCE_SCHEMA_SQL);
    facts = generateDemo(db, { records: opts.records, seed: opts.seed, onProgress: opts.onProgress });
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
  const factsPath = opts.factsPath ?? defaultFactsPath(dbPath);
  writeFacts(factsPath, facts);
  return { facts, factsPath, ms: performance.now() - started };
}
