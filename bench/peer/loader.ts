/**
 * The document loader a LangChain user would write for this CRM: scan every
 * record table, render each record with crm-index's own Renderer and chunker
 * (so both tools index identical texts), and emit one Document per chunk with
 * `metadata.source = recordKey` (the source id incremental cleanup groups by).
 * Reads run in short transactions of one page each, like the sweep's.
 */
import { Document } from '@langchain/core/documents';
import { _HashedDocument } from '@langchain/core/indexing';
import type { Db } from '../../crm/db.js';
import { recordTables, type SourceMap } from '../../crm/sourceMap.js';
import { chunkDocument, type ChunkSettings } from '../../pipeline/chunk.js';
import { Renderer } from '../../pipeline/render.js';

const PAGE = 2000;

export interface Loaded {
  docs: Document[];
  records: number;
}

export function loadCrmDocuments(db: Db, map: SourceMap, chunk: ChunkSettings): Loaded {
  const renderer = new Renderer(db, map);
  const docs: Document[] = [];
  let records = 0;
  for (const t of recordTables(map)) {
    for (const keys of renderer.scanKeys(t.table, PAGE)) {
      db.transaction(() => {
        for (const key of keys) {
          const doc = renderer.render(key);
          if (!doc) continue;
          records++;
          for (const text of chunkDocument(doc, chunk).texts) {
            docs.push(new Document({ pageContent: text, metadata: { source: key } }));
          }
        }
      })();
    }
  }
  return { docs, records };
}

/** What a fresh full index would hold: LangChain's point ids (content+metadata hashes) and chunk count per record. */
export function freshTruth(loaded: Loaded): { uids: Set<string>; chunksPerRecord: Map<string, number> } {
  const uids = new Set<string>();
  const chunksPerRecord = new Map<string, number>();
  for (const d of loaded.docs) {
    uids.add(_HashedDocument.fromDocument(d).uid);
    const s = d.metadata['source'] as string;
    chunksPerRecord.set(s, (chunksPerRecord.get(s) ?? 0) + 1);
  }
  return { uids, chunksPerRecord };
}
