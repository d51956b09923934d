/**
 * `follow`: the daemon. An RxJS stream of wake-ups drives the drain:
 *
 *   fs events on the database folder (hints: each starts PRAGMA data_version
 *     checks, which see other connections' commits only)
 *   + a PRAGMA data_version poll (the fallback: catches every commit by
 *     another connection, our own acks excluded)
 *   + the due-retry timer and the sweep interval
 *   → auditTime(linger) → exhaustMap(run pending work until none is left)
 *
 * Wake-ups are hints (invariant 4): every run drains until the changelog is
 * empty, and the flags set by a wake that arrives mid-run are picked up by
 * the same run before it ends. Work is strictly serial: drain and sweep never
 * overlap (invariant 2).
 */
import path from 'node:path';
import { watch } from 'chokidar';
import {
  auditTime,
  exhaustMap,
  from,
  interval,
  merge,
  Observable,
  of,
  Subscription,
  filter,
  map,
  retry,
  tap,
  timer,
  catchError,
  EMPTY,
} from 'rxjs';
import { errorMessage } from '../config/errors.js';
import { CaptureMissingError } from '../crm/db.js';
import { ensureConsumer, pruneChangelog } from '../triggers/changelog.js';
import { installCapture, verifyCapture } from '../triggers/install.js';
import { checkMapHandover, type MapHandover } from './mapHandover.js';
import { SourceMapError } from '../config/errors.js';
import { INDEX_CONSUMER, type PipelineContext } from './context.js';
import { drainUntilEmpty } from './drain.js';
import { FOLLOW_ERROR_STATE, nextRetryAt, setState } from './failures.js';
import { Lease, makeOwner } from './lease.js';
import { sweep } from './sweep.js';
import { dropLeftoverGenerations } from './rebuild.js';
import { createStore } from '../stores/factory.js';
import { sleep } from '../pipeline/signals.js';

type Job = 'drain' | 'sweep' | 'check';

/**
 * How often capture is verified even when the schema did not seem to change (a check also runs at
 * once when PRAGMA schema_version changes, and after an error that names a missing _cdc_ table).
 */
const CAPTURE_CHECK_MS = 30_000;
/** How often follow's latest error is written to _index_state for other processes to read. */
const PUBLISH_ERROR_EVERY_MS = 5_000;
/** Prune consumed changelog rows at most this often: cheap, but no need to do it after every batch. */
const PRUNE_EVERY_MS = 60_000;
/**
 * After a file event on the database's folder whose PRAGMA data_version check found nothing new,
 * the waits (ms) before checking again; a later event starts over. A check costs a few
 * microseconds; the last waits cover a writer whose commit becomes visible a while after its WAL
 * write (its fsync on a busy disk).
 */
const FS_RECHECK_MS = [1, 1, 2, 4, 8, 16, 32, 64];

/**
 * Whether a file event on the database's folder (path `p`, as chokidar gives it) concerns the
 * database `base` (its name, -wal, -shm, -journal). fs.watch may give no file name: such an event
 * counts, since a check is cheap (and a throw here would escape from the watcher's callback).
 */
export function isHintFor(base: string, p: unknown): boolean {
  return typeof p !== 'string' || path.basename(p).startsWith(base);
}

export interface FollowHandle {
  /** Resolves when the daemon has stopped (after `stop()` or a fatal error). */
  done: Promise<void>;
  /** Graceful: finish or abandon the current batch (never a partial ack), release the lease. */
  stop(): Promise<void>;
  /** Ask for a drain now (tests, the HTTP refresh endpoint). */
  kick(job?: Job): void;
  readonly lease: Lease;
  state(): FollowState;
  /** Conditions that stop indexing until someone acts (see health.ts), one sentence each. */
  problems(): string[];
}

export interface FollowState {
  startedAt: number;
  paused: boolean;
  lastBatchAt: number | null;
  /** When a drain last found the changelog empty (caught up), or null before the first. */
  lastIdleAt: number | null;
  lastError: { at: number; message: string } | null;
  running: boolean;
  /** False while the wake-up stream is down (it restarts itself after a backoff). */
  streamAlive: boolean;
  /** Set when follow ended because capture now belongs to another source map (see mapHandover.ts). */
  mapHandover?: MapHandover;
}

/** Backoff (ms) before the wake-up stream is resubscribed after an error, by consecutive failure. */
const STREAM_RESTART_MS = [100, 500, 2_000, 5_000];

export async function startFollow(
  ctx: PipelineContext,
  opts: { waitForLeaseMs?: number } = {},
): Promise<FollowHandle> {
  const { db, config } = ctx;
  const log = ctx.deps.log;
  const handover = checkMapHandover(db, ctx.map);
  if (handover.action !== 'same') throw new SourceMapError(handover.message);
  const v = verifyCapture(db, ctx.map);
  if (!v.ok) {
    installCapture(db, ctx.map);
    log.warn({ missing: v.missing, stale: v.stale }, 'installed or repaired capture triggers');
  }
  const lease = new Lease(db, INDEX_CONSUMER, makeOwner('follow'), config.leaseTtlMs);
  ensureConsumer(db, INDEX_CONSUMER, 'beginning');
  await lease.acquire(opts.waitForLeaseMs ?? 365 * 24 * 3600_000, (holder) =>
    log.warn({ holder }, `waiting for the index cursor lease held by ${holder}`),
  );
  await dropLeftoverGenerations(ctx);

  const abort = new AbortController();
  const pending = new Set<Job>(['drain']);
  const state: FollowState = {
    startedAt: Date.now(),
    paused: false,
    lastBatchAt: null,
    lastIdleAt: null,
    lastError: null,
    running: true,
    streamAlive: true,
  };
  /** Current problems by kind; set and cleared by the checks that find them. */
  const problems = new Map<string, string>();
  let publishedErrorAt = 0;
  const noteError = (err: unknown, what: string): void => {
    const message = errorMessage(err);
    state.lastError = { at: Date.now(), message };
    log.error({ err: message }, `follow: ${what}: ${message}`);
    // Published in the CRM database (at most every few seconds) so a one-shot run that cannot get
    // the cursor can say what follow is doing instead of assuming it keeps the index fresh.
    if (Date.now() - publishedErrorAt > PUBLISH_ERROR_EVERY_MS) {
      publishedErrorAt = Date.now();
      try {
        setState(db, FOLLOW_ERROR_STATE, { at: Date.now(), message });
      } catch {
        // The database itself may be what fails; health still has it.
      }
    }
  };
  let lastDataVersion = -1;
  let lastPrune = 0;
  const dataVersion = db.prepare('PRAGMA data_version').pluck();
  const readVersion = (): number => dataVersion.get() as number;

  ctx.events.on('batch:written', () => {
    state.lastBatchAt = Date.now();
    state.lastError = null;
    problems.delete('embedder');
    if (publishedErrorAt > 0) {
      publishedErrorAt = 0;
      try {
        setState(db, FOLLOW_ERROR_STATE, null);
      } catch {
        // Cleared on the next batch.
        publishedErrorAt = 1;
      }
    }
  });
  ctx.events.on('embedder:fault', (e) =>
    problems.set(
      'embedder',
      `The embeddings server fails for every record, so indexing is paused and retried (nothing is dead-lettered): ${e.error}`,
    ),
  );
  ctx.events.on('batch:retry', (e) => {
    state.lastError = { at: Date.now(), message: e.error };
  });
  ctx.events.on('changelog:reset', () => pending.add('sweep'));
  ctx.events.on('drain:idle', () => {
    state.lastIdleAt = Date.now();
  });

  /** Hand the lease over to a waiting one-shot run, wait until it is done, take it back. */
  async function yieldLease(wantedBy: string): Promise<void> {
    state.paused = true;
    ctx.events.emit('lease:paused', { wantedBy });
    log.info({ wantedBy }, `handing the index cursor to ${wantedBy}; pausing`);
    lease.release();
    while (!abort.signal.aborted) {
      await sleep(100, abort.signal);
      try {
        if (lease.tryAcquire(true)) break;
      } catch (err) {
        noteError(err, 'taking the index cursor back after the hand-over');
      }
    }
    if (abort.signal.aborted) return;
    // A rebuild may have switched generations: reopen the store so writes follow the new one.
    await ctx.store.close().catch(() => undefined);
    for (let attempt = 0; !abort.signal.aborted; attempt++) {
      try {
        ctx.store = await createStore(config, { longRunning: true });
        await ctx.store.ensure({ dim: ctx.dense.dim, model: ctx.dense.modelId });
        break;
      } catch (err) {
        noteError(err, 'reopening the index after the hand-over');
        await sleep(Math.min(config.retryMaxMs, config.retryBaseMs * 2 ** attempt), abort.signal);
      }
    }
    state.paused = false;
    pending.add('drain');
    ctx.events.emit('lease:resumed', {});
    log.info('resumed after the hand-over');
  }

  const schemaVersion = db.prepare('PRAGMA schema_version').pluck();
  let checkedSchema = -1;
  /**
   * Verify capture and repair it at once when it is damaged but still ours: a CRM migration that
   * rebuilds a table drops its triggers, and a dropped _cdc_ table makes every CRM write fail. A
   * capture installed from another source map is reported, never rewritten.
   */
  function checkCapture(): void {
    checkedSchema = schemaVersion.get() as number;
    const v = verifyCapture(db, ctx.map);
    if (v.ok) {
      problems.delete('capture');
      return;
    }
    const sameMap = v.installedFingerprint === null || v.installedFingerprint === v.expectedFingerprint;
    if (!sameMap) {
      problems.set(
        'capture',
        `Capture on the CRM was installed from another source map (fingerprint ${v.installedFingerprint}) than this follower's (${v.expectedFingerprint}); it is left as it is. Run follow with the map that was installed, or run \`crm-index install\` with the new map and restart follow with it.`,
      );
      return;
    }
    if (ctx.schema.problems().size > 0) return; // reported by the schema guard; install would refuse
    const r = installCapture(db, ctx.map);
    problems.delete('capture');
    log.error(
      { missing: v.missing, stale: v.stale, extra: v.extra },
      `capture was damaged (missing: ${v.missing.join(', ') || 'none'}; stale: ${v.stale.join(', ') || 'none'}): re-installed it${r.highWater ? ', and restored the changelog above the cursor' : ''}; a sweep now repairs writes made meanwhile`,
    );
    pending.add('sweep');
  }

  /** Drain what is pending now (the poll compares against the data_version read here). */
  function drainNow(yieldWhenWanted: boolean): ReturnType<typeof drainUntilEmpty> {
    pending.delete('drain');
    lastDataVersion = readVersion();
    return drainUntilEmpty(ctx, { consumer: INDEX_CONSUMER, lease, signal: abort.signal, yieldWhenWanted });
  }

  async function runPending(): Promise<void> {
    while (pending.size > 0 && !abort.signal.aborted) {
      // Everything in here can fail (a CRM writer holding the lock past the busy timeout makes even
      // the lease renewal throw): every failure is reported and retried, none ends the daemon.
      try {
        // Capture now belongs to another source map: stop (the daemon reloads or exits; mapHandover.ts).
        const handover = checkMapHandover(db, ctx.map);
        if (handover.action !== 'same') {
          state.mapHandover = handover;
          log.error(handover.message);
          setImmediate(() => void handle.stop());
          return;
        }
        const wantedBy = lease.wantedByOther();
        if (wantedBy) {
          await yieldLease(wantedBy);
          continue;
        }
        if (!lease.renew()) {
          log.error('lost the index cursor lease; re-acquiring before doing more work');
          await lease.acquire(365 * 24 * 3600_000);
        }
        if (pending.has('check')) {
          pending.delete('check');
          checkCapture();
          continue;
        }
        if (pending.has('sweep')) {
          pending.delete('sweep');
          const r = await sweep(ctx, {
            signal: abort.signal,
            lease,
            // Live edits that arrive during a long sweep are drained between its pages.
            between: async () => {
              if (!pending.has('drain') || abort.signal.aborted || lease.wantedByOther()) return false;
              const d = await drainNow(false);
              return d.counts.added + d.counts.updated + d.counts.deleted > 0;
            },
          });
          log.info(
            r,
            `sweep: checked ${r.checked}, missing ${r.missing}, stale ${r.stale}, orphans ${r.orphans}`,
          );
          // Page-level damage in the index file shows in health before a search trips over it.
          const damage = await ctx.store.checkIntegrity();
          if (damage.length === 0) problems.delete('index');
          else
            problems.set(
              'index',
              `The index file is damaged (${damage.slice(0, 3).join('; ')}): stop follow, move the file aside and run \`crm-index rebuild\`.`,
            );
          continue;
        }
        await drainNow(true);
        // Stopped early for a one-shot run: hand the lease over now (the loop's top), then carry on.
        if (lease.wantedByOther()) pending.add('drain');
        if (Date.now() - lastPrune > PRUNE_EVERY_MS) {
          lastPrune = Date.now();
          const n = pruneChangelog(db, config.pruneBatchSize);
          if (n > 0) log.debug({ rows: n }, 'pruned the changelog below the smallest cursor');
        }
      } catch (err) {
        // Not transient-and-retried inside the drain: log clearly, keep the daemon alive, try again later.
        noteError(err, `retrying in ${config.retryMaxMs} ms`);
        // A missing _cdc_ table: re-create it before the retry rather than at the next sweep.
        if (err instanceof CaptureMissingError) pending.add('check');
        await sleep(config.retryMaxMs, abort.signal);
        pending.add('drain');
      }
    }
  }

  const dir = path.dirname(config.dbPath);
  const base = path.basename(config.dbPath);
  /** Whether another connection has committed since the last drain began. */
  const changed = (): boolean => {
    try {
      return readVersion() !== lastDataVersion;
    } catch {
      return true; // a database that went away: wake, and let the drain report it clearly
    }
  };
  // A file event is only a hint. Our own writes (acks, the lease) cause them too, so waking on each
  // would wake again on the drain's own ack, without end; and a writer's WAL write comes before its
  // commit is visible (its fsync and the wal-index update follow). So each event checks
  // PRAGMA data_version, which sees other connections' commits only, and when that shows nothing
  // yet, checks again after FS_RECHECK_MS (one timer; the poll remains the fallback).
  const fsWake$ = new Observable<Job>((sub) => {
    let timer: NodeJS.Timeout | null = null;
    let step = 0;
    let closed = false;
    const check = (): void => {
      timer = null;
      if (changed()) sub.next('drain');
      else if (step < FS_RECHECK_MS.length) timer = setTimeout(check, FS_RECHECK_MS[step++]);
    };
    const hint = (p: unknown): void => {
      // closed: chokidar's close is asynchronous, and events may still come in meanwhile.
      if (closed || !isHintFor(base, p)) return;
      if (timer) clearTimeout(timer);
      step = 0;
      check();
    };
    const w = watch(dir, { depth: 0, ignoreInitial: true, persistent: true, usePolling: false });
    // 'raw' is every event of the underlying fs.watch, before chokidar's throttle, which drops a
    // file's 'change' events for 50 ms after each one it emits: a commit in that window, such as
    // the last of a burst, would wait for the poll (docs/decisions/011-wake-up-on-raw-file-events.md).
    w.on('raw', (_ev, p) => hint(p));
    w.on('all', (_ev, p) => hint(p));
    w.on('error', (err) =>
      log.warn(
        { err: errorMessage(err) },
        'file watcher error; the data_version poll still wakes the pipeline',
      ),
    );
    return () => {
      closed = true;
      if (timer) clearTimeout(timer);
      void w.close();
    };
  });
  const poll$ = interval(config.pollIntervalMs).pipe(
    map((): Job | null => {
      try {
        if ((schemaVersion.get() as number) !== checkedSchema) return 'check';
      } catch {
        return 'check'; // let the check report what is wrong
      }
      return changed() ? 'drain' : null;
    }),
    filter((j): j is Job => j !== null),
  );
  const check$ = interval(CAPTURE_CHECK_MS).pipe(map((): Job => 'check'));
  const retries$ = interval(1000).pipe(
    filter(() => {
      const at = nextRetryAt(db);
      return at !== null && at <= Date.now();
    }),
    map((): Job => 'drain'),
  );
  const sweep$ = interval(config.syncIntervalMin * 60_000).pipe(map((): Job => 'sweep'));
  // The lease tick: keep the lease while idle (status shows the holder; a one-shot run must ask for
  // it rather than find it expired), and hand it over when someone asks (the drain loop yields).
  const renew$ = interval(Math.max(250, Math.floor(config.leaseTtlMs / 3))).pipe(
    filter(() => !state.paused && !abort.signal.aborted),
    filter(() => {
      // A lock held past the busy timeout makes these throw: report it; the drain loop retries.
      try {
        if (lease.isHeld) lease.renew();
        return lease.wantedByOther() !== null;
      } catch (err) {
        noteError(err, 'renewing the index cursor lease');
        return false;
      }
    }),
    map((): Job => 'drain'),
  );

  let inFlight: Promise<void> | null = null;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  // No error ends the stream: a failed run is reported and its work stays pending; a failure in a
  // source resubscribes every source after a backoff (streamAlive says whether it is up).
  let restarts = 0;
  const sub: Subscription = merge(of<Job>('drain'), fsWake$, poll$, retries$, sweep$, renew$, check$)
    .pipe(
      tap((job) => {
        pending.add(job);
        state.streamAlive = true;
        restarts = 0;
      }),
      auditTime(config.batchLingerMs),
      exhaustMap(() => {
        inFlight = runPending().finally(() => (inFlight = null));
        return from(inFlight).pipe(
          catchError((err: unknown) => {
            noteError(err, 'run failed; it is retried on the next wake-up');
            pending.add('drain');
            return EMPTY;
          }),
        );
      }),
      retry({
        delay: (err: unknown) => {
          state.streamAlive = false;
          const ms = STREAM_RESTART_MS[Math.min(restarts++, STREAM_RESTART_MS.length - 1)]!;
          noteError(err, `wake-up stream failed; restarting it in ${ms} ms`);
          return timer(ms);
        },
      }),
    )
    .subscribe({
      error: (err) => {
        state.streamAlive = false;
        noteError(err, 'follow stream failed');
      },
      complete: () => {
        state.streamAlive = false;
      },
    });

  let stopping: Promise<void> | null = null;
  const handle: FollowHandle = {
    done,
    lease,
    state: () => ({ ...state }),
    problems: () => [...problems.values(), ...ctx.schema.messages()],
    kick(job: Job = 'drain') {
      pending.add(job);
      // Emit through the poll path: reset the version so the next tick wakes.
      lastDataVersion = -1;
    },
    stop() {
      stopping ??= (async () => {
        abort.abort();
        sub.unsubscribe();
        // Let an in-flight batch finish and ack, or give up at its next retry (it never acks partially).
        if (inFlight) await inFlight.catch(() => undefined);
        try {
          lease.release();
        } catch (err) {
          // The lease then expires after its TTL; nothing else depends on this release.
          noteError(err, 'releasing the index cursor lease');
        }
        try {
          setState(db, 'follow_stopped_at', new Date().toISOString());
        } catch (err) {
          noteError(err, 'recording the stop');
        }
        state.running = false;
        state.streamAlive = false;
        resolveDone();
      })();
      return stopping;
    },
  };
  return handle;
}
