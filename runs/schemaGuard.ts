/**
 * Which mapped tables the live CRM schema no longer fits. A CRM migration
 * that renames or drops a mapped column would otherwise make every render of
 * that table quietly leave the column out (rows are read with SELECT *), so
 * the index would lose text while looking healthy. The pipeline holds such a
 * table's records back (parked for a retry, nothing acked as indexed) and
 * health reports the table until the map or the schema is fixed.
 *
 * Recomputed only when PRAGMA schema_version changes: one pragma read a page.
 */
import type { Statement } from 'better-sqlite3';
import type { SourceMapError } from '../config/errors.js';
import type { Db } from '../crm/db.js';
import type { SourceMap } from '../crm/sourceMap.js';
import { tableProblems } from '../crm/validate.js';

export class SchemaGuard {
  private seen = -1;
  private cached = new Map<string, SourceMapError>();
  private readonly version: Statement;

  constructor(
    private readonly db: Db,
    private readonly map: SourceMap,
  ) {
    this.version = db.prepare('PRAGMA schema_version').pluck();
  }

  /** Mapped tables that do not fit the live schema, each with the error that says what to fix. */
  problems(): ReadonlyMap<string, SourceMapError> {
    const v = this.version.get() as number;
    if (v !== this.seen) {
      this.cached = tableProblems(this.db, this.map);
      this.seen = v;
    }
    return this.cached;
  }

  /** One sentence per blocked table, for health and logs. */
  messages(): string[] {
    return [...this.problems().values()].map(
      (e) => `Indexing of this table is held back until the source map fits again: ${e.message}`,
    );
  }
}
