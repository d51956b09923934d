/**
 * A full entity resolution in a child process of its own (see fullInWorker.ts):
 * its own connection to the CRM database and its own heap limit.
 */
import { errorMessage } from '../config/errors.js';
import { openCrm } from '../crm/db.js';
import { resolveFull } from './resolve.js';

const [dbPath, busyTimeoutMs] = [process.argv[2]!, Number(process.argv[3])];
try {
  const db = openCrm(dbPath, { busyTimeoutMs });
  try {
    process.send!({ ok: true, summary: resolveFull(db) });
  } finally {
    db.close();
  }
} catch (err) {
  process.send!({ ok: false, message: errorMessage(err), kind: (err as { kind?: string }).kind });
}
