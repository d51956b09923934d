/**
 * A prepare worker (see preparePool.ts): its own connection to the CRM, its
 * own renderer and BM25 encoder, and the same `prepareKeys` the main thread
 * runs inline. It reads the CRM and nothing else; it never writes anywhere.
 *
 * Messages in: `{ id, keys, fps, entities, kind }`. Out: `{ id, result }`
 * (kind 'prepare', the default), `{ id, fingerprints }` (kind
 * 'fingerprints', for the sweep) or `{ id, error }` (the main thread then
 * redoes that batch inline, where a real error surfaces with its proper
 * class).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../config/errors.js';
import { logger, setLogLevel } from '../config/log.js';
import { openCrm } from '../crm/db.js';
import { loadSourceMap } from '../crm/loadSourceMap.js';
import { Bm25Encoder } from '../encoders/bm25.js';
import { entityIdsFor, hasEntityLinks } from '../entities/lookup.js';
import { fingerprintKeys, prepareKeys, type PrepareDeps } from './indexer.js';
import { Renderer } from './render.js';
import { toWire, type PrepareRequest, type PrepareResponse, type WorkerInit } from './preparePool.js';

const init = workerData as WorkerInit;
setLogLevel(init.logLevel);
let entities = true;
let deps: PrepareDeps;
let db: ReturnType<typeof openCrm>;
try {
  db = openCrm(init.dbPath, { busyTimeoutMs: init.busyTimeoutMs });
  const map = loadSourceMap(init.sourceMapPath);
  deps = {
    db,
    renderer: new Renderer(db, map),
    sparse: new Bm25Encoder(),
    chunk: init.chunk,
    log: logger('pipeline'),
    dense: { modelId: init.modelId },
    entityIds: (keys) => (entities && hasEntityLinks(db) ? entityIdsFor(db, keys, { map }) : new Map()),
  };
} catch (err) {
  // Say why, then end this thread; the pool redoes its batches inline.
  parentPort!.postMessage({ fatal: errorMessage(err) });
  process.exit(1);
}

parentPort!.on('message', (m: PrepareRequest | 'close') => {
  if (m === 'close') {
    db.close();
    parentPort!.close();
    return;
  }
  let out: PrepareResponse;
  let transfer: ArrayBuffer[] = [];
  try {
    entities = m.entities;
    if (m.kind === 'fingerprints') {
      out = { id: m.id, fingerprints: fingerprintKeys(deps, m.keys) };
    } else {
      const packed = toWire(prepareKeys(deps, m.keys, new Map(m.fps)));
      out = { id: m.id, result: packed.wire };
      transfer = packed.transfer;
    }
  } catch (err) {
    out = { id: m.id, error: errorMessage(err) };
  }
  parentPort!.postMessage(out, transfer);
});
