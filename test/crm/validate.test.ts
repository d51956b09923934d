import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, SourceMapError } from '../../config/errors.js';
import { openCrm, type Db } from '../../crm/db.js';
import { loadSourceMap } from '../../crm/loadSourceMap.js';
import { REFERENCE_SCHEMA_SQL } from '../../crm/schema.js';
import {
  DEFAULT_SOURCE_MAP,
  type RecordTableMap,
  type SourceMap,
  type TableMap,
} from '../../crm/sourceMap.js';
import { checkSourceMapConsistency, inspectTable, validateSourceMap } from '../../crm/validate.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-index-validate-'));
let db: Db | undefined;
afterEach(() => db?.close());

function referenceDb(extraSql = ''): Db {
  db = openCrm(path.join(fs.mkdtempSync(path.join(dir, 'db-')), 'crm.db'), { create: true });
  db.exec(REFERENCE_SCHEMA_SQL + extraSql);
  return db;
}

/** The default map with one table's entry changed or added. */
function withTable(t: TableMap): SourceMap {
  const others = DEFAULT_SOURCE_MAP.tables.filter((x) => x.table !== t.table);
  return { version: 1, tables: [...others, t] };
}

function record(table: string, patch: Partial<RecordTableMap> = {}): RecordTableMap {
  return {
    kind: 'record',
    table,
    key: ['id'],
    label: table,
    titleColumn: 'name',
    text: [{ column: 'name' }],
    payload: {},
    ...patch,
  };
}

function messageOf(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SourceMapError);
    return (err as Error).message;
  }
  throw new Error('expected a SourceMapError, nothing was thrown');
}

describe('validateSourceMap against the live database', () => {
  it('accepts the default map on the reference schema', () => {
    expect(validateSourceMap(referenceDb(), DEFAULT_SOURCE_MAP)).toBeUndefined();
  });

  it('names a missing table', () => {
    const d = referenceDb();
    expect(messageOf(() => validateSourceMap(d, withTable(record('companies'))))).toMatch(
      /table "companies", which does not exist/,
    );
  });

  it('names a missing column, where the map names it, and lists the columns that exist', () => {
    const d = referenceDb();
    const orgs = DEFAULT_SOURCE_MAP.tables.find((t) => t.table === 'organizations') as RecordTableMap;
    const bad = { ...orgs, text: [...orgs.text, { column: 'headcount', label: 'Headcount' }] };
    const msg = messageOf(() => validateSourceMap(d, withTable(bad)));
    expect(msg).toMatch(/Table "organizations" has no column "headcount"/);
    expect(msg).toMatch(/its columns are id, name, domain/);
  });

  it('names a missing key column of a link table', () => {
    const d = referenceDb();
    const link = DEFAULT_SOURCE_MAP.tables.find((t) => t.table === 'interaction_people')!;
    const bad = { ...link, key: ['interaction_id', 'people_id'] };
    expect(messageOf(() => validateSourceMap(d, withTable(bad)))).toMatch(
      /"interaction_people" has no column "people_id"/,
    );
  });

  it('rejects a table keyed only by the implicit rowid', () => {
    const d = referenceDb(`CREATE TABLE tags (name TEXT, color TEXT);`);
    expect(messageOf(() => validateSourceMap(d, withTable(record('tags', { key: ['rowid'] }))))).toMatch(
      /Table "tags" has no primary key/,
    );
    expect(messageOf(() => validateSourceMap(d, withTable(record('tags', { key: ['name'] }))))).toMatch(
      /no primary key/,
    );
  });

  it('accepts an INTEGER PRIMARY KEY rowid table and sees its rowid alias', () => {
    const d = referenceDb();
    const info = inspectTable(d, 'organizations');
    expect(info.kind === 'table' && info.rowidAlias).toBe('id');
    const link = inspectTable(d, 'interaction_people');
    expect(link.kind === 'table' && [link.withoutRowid, link.rowidAlias, link.primaryKey]).toEqual([
      true,
      null,
      ['interaction_id', 'person_id'],
    ]);
  });

  it('rejects a key that is neither the primary key nor a UNIQUE index, and accepts a UNIQUE one', () => {
    const d = referenceDb(
      `CREATE TABLE funds (id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE, name TEXT, vintage TEXT);`,
    );
    expect(messageOf(() => validateSourceMap(d, withTable(record('funds', { key: ['vintage'] }))))).toMatch(
      /key \(vintage\) is neither its primary key \(id\) nor a UNIQUE index/,
    );
    expect(validateSourceMap(d, withTable(record('funds', { key: ['code'] })))).toBeUndefined();
  });

  it('rejects a view', () => {
    const d = referenceDb(
      `CREATE VIEW portfolio AS SELECT id, name FROM organizations WHERE kind = 'portfolio';`,
    );
    expect(messageOf(() => validateSourceMap(d, withTable(record('portfolio'))))).toMatch(
      /"portfolio", which is a view/,
    );
  });

  it('rejects an FTS5 virtual table', () => {
    const d = referenceDb(`CREATE VIRTUAL TABLE org_search USING fts5(name, description);`);
    expect(
      messageOf(() => validateSourceMap(d, withTable(record('org_search', { key: ['rowid'] })))),
    ).toMatch(/"org_search", which is a virtual table \(FTS5/);
  });

  it('finds tables and columns whatever their case, as SQLite does', () => {
    const d = referenceDb();
    const map: SourceMap = {
      version: 1,
      tables: [record('Organizations', { key: ['ID'], titleColumn: 'Name', text: [] })],
    };
    expect(validateSourceMap(d, map)).toBeUndefined();
  });
});

describe('checkSourceMapConsistency', () => {
  it('rejects a relation that points at a table not in the map', () => {
    const people = DEFAULT_SOURCE_MAP.tables.find((t) => t.table === 'people') as RecordTableMap;
    const map: SourceMap = { version: 1, tables: [{ ...people }] };
    expect(messageOf(() => checkSourceMapConsistency(map))).toMatch(
      /relation "Organization" points at "organizations", which is not a record table in the source map/,
    );
  });

  it('rejects a link side whose column count does not match the side table key', () => {
    const link = DEFAULT_SOURCE_MAP.tables.find((t) => t.table === 'interaction_people')!;
    const bad = {
      ...link,
      sides: [{ table: 'interactions', columns: ['interaction_id', 'person_id'] }],
    } as TableMap;
    expect(messageOf(() => checkSourceMapConsistency(withTable(bad)))).toMatch(
      /side 0 gives 2 column\(s\) for "interactions", whose key has 1/,
    );
  });

  it('rejects a manyToMany relation via a table that is not a mapped link table', () => {
    const inter = DEFAULT_SOURCE_MAP.tables.find((t) => t.table === 'interactions') as RecordTableMap;
    const map: SourceMap = {
      version: 1,
      tables: DEFAULT_SOURCE_MAP.tables.filter((t) => t.table !== 'interaction_people'),
    };
    expect(messageOf(() => checkSourceMapConsistency(map))).toMatch(
      /goes via "interaction_people", which is not a link table/,
    );
    expect(inter.relations).toBeDefined();
  });

  it('rejects a table listed twice, an empty key, and our own tables', () => {
    expect(
      messageOf(() => checkSourceMapConsistency({ version: 1, tables: [record('a'), record('A')] })),
    ).toMatch(/twice/);
    expect(
      messageOf(() => checkSourceMapConsistency({ version: 1, tables: [record('a', { key: [] })] })),
    ).toMatch(/no key columns/);
    expect(
      messageOf(() => checkSourceMapConsistency({ version: 1, tables: [record('_cdc_changelog')] })),
    ).toMatch(/crm-index or SQLite owns/);
  });

  it('rejects a chunk column that is not rendered', () => {
    expect(
      messageOf(() =>
        checkSourceMapConsistency({ version: 1, tables: [record('a', { chunkColumns: ['body'] })] }),
      ),
    ).toMatch(/chunk column "body" is not one of its text columns/);
  });
});

describe('loadSourceMap', () => {
  const write = (name: string, text: string): string => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text);
    return f;
  };

  it('returns the built-in map when no file is given', () => {
    expect(loadSourceMap()).toBe(DEFAULT_SOURCE_MAP);
  });

  it('reads a JSON file equal to the built-in map', () => {
    const f = write('map.json', JSON.stringify(DEFAULT_SOURCE_MAP));
    expect(loadSourceMap(f)).toEqual(DEFAULT_SOURCE_MAP);
  });

  it('names the file when it does not exist', () => {
    expect(() => loadSourceMap(path.join(dir, 'absent.json'))).toThrow(ConfigError);
    expect(() => loadSourceMap(path.join(dir, 'absent.json'))).toThrow(
      /absent\.json \(ENOENT\).*CRM_SOURCE_MAP/,
    );
  });

  it('names the file when it is not JSON', () => {
    const f = write('broken.json', '{ "version": 1, tables: [ }');
    expect(() => loadSourceMap(f)).toThrow(SourceMapError);
    expect(() => loadSourceMap(f)).toThrow(/broken\.json is not valid JSON/);
  });

  it('names the file and the JSON path of each bad value, including unknown keys', () => {
    const map = JSON.parse(JSON.stringify(DEFAULT_SOURCE_MAP));
    map.tables[1].key = [];
    map.tables[2].tabel = 'typo';
    delete map.tables[4].sides[1].columns;
    const f = write('bad.json', JSON.stringify(map));
    const msg = messageOf(() => loadSourceMap(f));
    expect(msg).toContain('bad.json');
    expect(msg).toContain('$.tables[1].key');
    expect(msg).toMatch(/\$\.tables\[2\].*tabel/);
    expect(msg).toContain('$.tables[4].sides[1].columns');
  });
});
