/**
 * What LangChain.js needs beside `index()` for the peer benchmark, written
 * here because `@langchain/core` ships only the interfaces (MemoryVectorStore
 * lives in the `langchain` package, and no record manager is exported):
 *
 * - `SqliteVectorStore`: a minimal LangChain `VectorStore` over one
 *   better-sqlite3 table (WAL, synchronous=NORMAL, like crm-index's embedded
 *   store), brute-force cosine search. Every write commits before it resolves.
 * - `SqliteRecordManager`: a `RecordManager` with the semantics of LangChain's
 *   SQL record manager (key, group id, updated_at), in the same file.
 *
 * Invariant: `getTime()` is strictly increasing within the process, so a run's
 * start time is later than every key written by an earlier run; incremental
 * cleanup relies on `updated_at < start` to find a source's stale keys.
 */
import Database from 'better-sqlite3';
import type { DocumentInterface } from '@langchain/core/documents';
import { Document } from '@langchain/core/documents';
import type { EmbeddingsInterface } from '@langchain/core/embeddings';
import { RecordManager, type ListKeyOptions, type UpdateOptions } from '@langchain/core/indexing';
import { VectorStore } from '@langchain/core/vectorstores';

function openDb(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  return db;
}

function toBlob(v: number[]): Buffer {
  const f = Float32Array.from(v);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength);
}

export class SqliteVectorStore extends VectorStore {
  declare FilterType: { source?: string };
  private readonly db: Database.Database;
  private readonly put: Database.Statement;
  private readonly del: Database.Statement;

  _vectorstoreType(): string {
    return 'bench-sqlite';
  }

  constructor(
    embeddings: EmbeddingsInterface,
    readonly path: string,
  ) {
    super(embeddings, {});
    this.db = openDb(path);
    this.db.exec(`CREATE TABLE IF NOT EXISTS lc_points (
      id TEXT PRIMARY KEY, source TEXT, content TEXT NOT NULL, metadata TEXT NOT NULL, vector BLOB NOT NULL);
      CREATE INDEX IF NOT EXISTS lc_points_source ON lc_points(source);`);
    this.put = this.db.prepare(
      'INSERT OR REPLACE INTO lc_points (id, source, content, metadata, vector) VALUES (?, ?, ?, ?, ?)',
    );
    this.del = this.db.prepare('DELETE FROM lc_points WHERE id = ?');
  }

  async addVectors(
    vectors: number[][],
    documents: DocumentInterface[],
    options?: { ids?: string[] },
  ): Promise<string[]> {
    const ids = options?.ids ?? documents.map(() => crypto.randomUUID());
    this.db.transaction(() => {
      documents.forEach((d, i) => {
        const source = d.metadata['source'];
        this.put.run(
          ids[i]!,
          typeof source === 'string' ? source : null,
          d.pageContent,
          JSON.stringify(d.metadata),
          toBlob(vectors[i]!),
        );
      });
    })();
    return ids;
  }

  async addDocuments(documents: DocumentInterface[], options?: { ids?: string[] }): Promise<string[]> {
    const vectors = await this.embeddings.embedDocuments(documents.map((d) => d.pageContent));
    return this.addVectors(vectors, documents, options);
  }

  override async delete(params?: { ids?: string[] }): Promise<void> {
    const ids = params?.ids ?? [];
    this.db.transaction(() => {
      for (const id of ids) this.del.run(id);
    })();
  }

  async similaritySearchVectorWithScore(
    query: number[],
    k: number,
    filter?: this['FilterType'],
  ): Promise<[DocumentInterface, number][]> {
    const rows = (
      filter?.source !== undefined
        ? this.db
            .prepare('SELECT content, metadata, vector FROM lc_points WHERE source = ?')
            .all(filter.source)
        : this.db.prepare('SELECT content, metadata, vector FROM lc_points').all()
    ) as { content: string; metadata: string; vector: Buffer }[];
    const q = Float32Array.from(query);
    const scored = rows.map((r) => {
      const v = new Float32Array(r.vector.buffer, r.vector.byteOffset, r.vector.byteLength / 4);
      let dot = 0;
      for (let d = 0; d < q.length; d++) dot += q[d]! * v[d]!;
      return { r, dot };
    });
    scored.sort((a, b) => b.dot - a.dot);
    return scored
      .slice(0, k)
      .map(({ r, dot }) => [new Document({ pageContent: r.content, metadata: JSON.parse(r.metadata) }), dot]);
  }

  /** Points held (chunks). */
  count(): number {
    return this.db.prepare('SELECT count(*) FROM lc_points').pluck().get() as number;
  }

  /** Every point as (id, source). */
  points(): { id: string; source: string }[] {
    return this.db.prepare('SELECT id, source FROM lc_points').all() as { id: string; source: string }[];
  }

  close(): void {
    this.db.close();
  }
}

export class SqliteRecordManager extends RecordManager {
  override lc_namespace = ['bench', 'recordmanagers', 'sqlite'];
  private readonly db: Database.Database;
  private last = 0;

  constructor(readonly path: string) {
    super();
    this.db = openDb(path);
  }

  async createSchema(): Promise<void> {
    this.db.exec(`CREATE TABLE IF NOT EXISTS upsertion_record (
      key TEXT PRIMARY KEY, group_id TEXT, updated_at REAL NOT NULL);
      CREATE INDEX IF NOT EXISTS upsertion_record_group ON upsertion_record(group_id);
      CREATE INDEX IF NOT EXISTS upsertion_record_updated ON upsertion_record(updated_at);`);
  }

  async getTime(): Promise<number> {
    this.last = Math.max(Date.now(), this.last + 0.001);
    return this.last;
  }

  async update(keys: string[], opts: UpdateOptions = {}): Promise<void> {
    const groupIds = opts.groupIds ?? keys.map(() => null);
    if (groupIds.length !== keys.length) {
      throw new Error(
        `SqliteRecordManager.update: ${keys.length} keys but ${groupIds.length} groupIds; pass one group id per key.`,
      );
    }
    const now = await this.getTime();
    if (opts.timeAtLeast !== undefined && now < opts.timeAtLeast) {
      throw new Error(`SqliteRecordManager.update: clock went backwards (${now} < ${opts.timeAtLeast}).`);
    }
    const st = this.db.prepare(
      `INSERT INTO upsertion_record (key, group_id, updated_at) VALUES (?, ?, ?)
       ON CONFLICT(key) DO UPDATE SET updated_at = excluded.updated_at,
         group_id = coalesce(excluded.group_id, upsertion_record.group_id)`,
    );
    this.db.transaction(() => {
      keys.forEach((k, i) => st.run(k, groupIds[i] ?? null, now));
    })();
  }

  async exists(keys: string[]): Promise<boolean[]> {
    if (keys.length === 0) return [];
    const have = new Set(
      this.db
        .prepare('SELECT key FROM upsertion_record WHERE key IN (SELECT value FROM json_each(?))')
        .pluck()
        .all(JSON.stringify(keys)) as string[],
    );
    return keys.map((k) => have.has(k));
  }

  async listKeys(opts: ListKeyOptions = {}): Promise<string[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (opts.before !== undefined) {
      where.push('updated_at < ?');
      params.push(opts.before);
    }
    if (opts.after !== undefined) {
      where.push('updated_at > ?');
      params.push(opts.after);
    }
    if (opts.groupIds !== undefined) {
      where.push('group_id IN (SELECT value FROM json_each(?))');
      params.push(JSON.stringify(opts.groupIds.filter((g) => g !== null)));
    }
    const sql = `SELECT key FROM upsertion_record${where.length ? ` WHERE ${where.join(' AND ')}` : ''}${opts.limit ? ` LIMIT ${Math.floor(opts.limit)}` : ''}`;
    return this.db
      .prepare(sql)
      .pluck()
      .all(...params) as string[];
  }

  async deleteKeys(keys: string[]): Promise<void> {
    const st = this.db.prepare('DELETE FROM upsertion_record WHERE key = ?');
    this.db.transaction(() => {
      for (const k of keys) st.run(k);
    })();
  }

  close(): void {
    this.db.close();
  }
}
