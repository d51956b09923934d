/**
 * Background WAL checkpoints for the embedded store's writing connection.
 *
 * Why: with SQLite's automatic checkpoints, every ~1000th page a commit also
 * copies the WAL into the database file and fsyncs it, on the writer's (the
 * event loop's) thread. Measured at 100k points (docs/stores.md) that wait was
 * the difference between ~14k and ~22k upserted points/s. Here the writer turns
 * automatic checkpoints off and a worker thread with its own connection runs
 * `wal_checkpoint(PASSIVE)` (never blocks writers or readers) at most once per
 * `intervalMs` while commits keep arriving.
 *
 * Invariant: the WAL never grows unchecked. If the worker cannot start or dies,
 * `onFailure` runs and the owner turns automatic checkpoints back on; closing the
 * store stops the worker first, then the last connection's close checkpoints.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

/** Checkpoint passes at most per wake-up (the first one and its catch-up passes). */
const CATCH_UP_PASSES = 8;

/** Runs in the worker (eval'd, so it must not depend on CommonJS or ESM scope). */
const WORKER_SOURCE = `
import('node:worker_threads').then(async ({ parentPort, workerData }) => {
  const Database = (await import(workerData.lib)).default;
  const db = new Database(workerData.path, { fileMustExist: true });
  db.pragma('busy_timeout = 1000');
  let dirty = false;
  let timer = null;
  const checkpoint = () => {
    timer = null;
    if (!dirty) return;
    dirty = false;
    try {
      // A PASSIVE checkpoint copies the frames committed before it began. The writer starts the WAL
      // over from its beginning only when, as its next transaction begins, every frame has been
      // copied; under a steady stream of commits one landed during nearly every checkpoint, so the
      // WAL never started over and its file grew by everything written (145 MB in a long-notes
      // rebuild, which the last close then had to delete). Short catch-up passes until one finds
      // nothing new: that one most likely ended between two commits.
      let last = -1;
      for (let pass = 0; pass < workerData.maxPasses; pass++) {
        const [r] = db.pragma('wal_checkpoint(PASSIVE)');
        if (r.busy || r.checkpointed < r.log || r.log <= last) {
          last = -1;
          break;
        }
        last = r.log;
      }
      // Commits so close together that no pass fell between two: once the WAL holds restartFrames,
      // ask the writer to checkpoint the last few frames itself, between two of its transactions
      // (it is the only writer, so that one always catches up). A RESTART checkpoint from here would
      // have to catch the writer between two transactions to take its lock, and would then hold it
      // while readers of older snapshots finish.
      if (last > workerData.restartFrames) parentPort.postMessage('behind');
    } catch (err) {
      if (!String(err && err.code).startsWith('SQLITE_BUSY')) throw err;
      dirty = true;
    }
    if (dirty) timer = setTimeout(checkpoint, workerData.intervalMs);
  };
  parentPort.on('message', (m) => {
    if (m === 'close') {
      if (timer) clearTimeout(timer);
      db.close();
      parentPort.close();
      return;
    }
    dirty = true;
    if (!timer) timer = setTimeout(checkpoint, workerData.intervalMs);
  });
});
`;

export interface Checkpointer {
  /** Tell the worker a commit happened. */
  notify(): void;
  /**
   * Whether the worker could not catch up with the commits and the WAL holds more than
   * restartFrames (cleared by asking): the writer should checkpoint before its next transaction.
   */
  takeBehind(): boolean;
  /** Stop the worker (waits for a running checkpoint). */
  close(): Promise<void>;
}

export interface CheckpointerOptions {
  /** At most one wake-up per interval while commits arrive. */
  intervalMs: number;
  /** WAL frames from which a wake-up whose passes never caught up asks the writer to catch up. */
  restartFrames: number;
}

export function startCheckpointer(
  path: string,
  opts: CheckpointerOptions,
  onFailure: (err: unknown) => void,
): Checkpointer | null {
  let worker: Worker;
  try {
    const lib = pathToFileURL(createRequire(import.meta.url).resolve('better-sqlite3')).href;
    worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { lib, path, ...opts, maxPasses: CATCH_UP_PASSES },
    });
  } catch (err) {
    onFailure(err);
    return null;
  }
  let closing = false;
  let failed = false;
  const fail = (err: unknown) => {
    if (closing || failed) return;
    failed = true;
    onFailure(err);
  };
  let behind = false;
  worker.on('message', (m) => {
    if (m === 'behind') behind = true;
  });
  // A process that forgets to close the store must still exit. After the message listener, which
  // refs the worker's port again.
  worker.unref();
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`checkpoint worker exited with code ${code}`)));
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return {
    notify() {
      if (!failed && !closing) worker.postMessage(1);
    },
    takeBehind() {
      const was = behind;
      behind = false;
      return was;
    },
    async close() {
      if (closing) return exited;
      closing = true;
      if (failed) return;
      worker.postMessage('close');
      const timeout = setTimeout(() => void worker.terminate(), 5_000);
      await exited;
      clearTimeout(timeout);
    },
  };
}
