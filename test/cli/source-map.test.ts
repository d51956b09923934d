/**
 * Custom source maps through CRM_SOURCE_MAP, as an operator writes them: a
 * mistake is refused when the map is loaded, with the file, the place and
 * what to do, before any command acts on it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createDemoDatabase } from '../../crm/demo/create.js';
import { DEFAULT_SOURCE_MAP, type SourceMap } from '../../crm/sourceMap.js';
import { tempDir } from '../search/fixtures.js';
import { runCli } from './helpers.js';

const dir = tempDir('crm-index-source-map-cli-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const db = path.join(dir, 'crm.db');
createDemoDatabase({ dbPath: db, records: 100, seed: 2 });

describe('crm-index source-map with a custom map', () => {
  it('refuses a map that makes a key column writable, naming the table, the column and the fix', () => {
    const map = structuredClone(DEFAULT_SOURCE_MAP) as SourceMap;
    const org = map.tables.find((t) => t.table === 'organizations');
    if (org?.kind !== 'record') throw new Error('organizations is a record table');
    org.writable = ['id', 'name'];
    const file = path.join(dir, 'writable-key.json');
    fs.writeFileSync(file, JSON.stringify(map, null, 2));
    for (const args of [['source-map', '--check'], ['source-map'], ['install']]) {
      const r = runCli(args, { cwd: dir, env: { CRM_DB_PATH: db, CRM_SOURCE_MAP: file } });
      expect(r.code, args.join(' ')).toBe(3);
      expect(r.stderr).toContain(
        `crm-index: The source map ${file} needs a fix: Table "organizations": key column "id" is listed in "writable"`,
      );
      expect(r.stderr).toMatch(/remove "id" from "writable"/);
    }
  });

  it('gives the line and column of a JSON syntax error, not a byte offset', () => {
    const file = path.join(dir, 'broken.json');
    fs.writeFileSync(file, '{\n  "version": 1,\n  "tables": [\n    { "kind": "record", }\n  ]\n}\n');
    const r = runCli(['source-map', '--check'], { cwd: dir, env: { CRM_DB_PATH: db, CRM_SOURCE_MAP: file } });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/is not valid JSON: .* at line 4, column 25\. Fix the syntax there\./);
    expect(r.stderr).not.toMatch(/position/);
  });
});
