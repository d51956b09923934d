/**
 * One writer per cursor (invariant 7), with a polite hand-over.
 *
 * The lease itself lives in `_cdc_consumers` (triggers/changelog.ts). On top
 * of it: a one-shot run (refresh, rebuild) that finds `follow` holding the
 * lease registers a *want*; follow sees it at its next renew tick, finishes
 * its current batch, releases, and pauses until the want is gone. A lease
 * whose owner is a dead process on this host is taken over at once instead of
 * waiting for it to expire (a `kill -9` must not stall the index for a TTL).
 */
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { LeaseError } from '../config/errors.js';
import { sqliteStep, type Db } from '../crm/db.js';
import { acquireLease, leaseHolder, releaseLease, renewLease } from '../triggers/changelog.js';
import { sleep } from '../pipeline/signals.js';
import { FOLLOW_ERROR_STATE, getState } from './failures.js';

export function makeOwner(role: string): string {
  return `${role}@${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

function parseOwner(owner: string): { role: string; host: string; pid: number } | null {
  const m = /^([^@]+)@(.+):(\d+):[0-9a-f]+$/.exec(owner);
  return m ? { role: m[1]!, host: m[2]!, pid: Number(m[3]) } : null;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when `owner` is a process on this host that no longer exists. */
export function ownerIsDead(owner: string): boolean {
  const o = parseOwner(owner);
  return o !== null && o.host === os.hostname() && o.pid !== process.pid && !processAlive(o.pid);
}

export class Lease {
  private held = false;

  constructor(
    private readonly db: Db,
    readonly consumer: string,
    readonly owner: string,
    readonly ttlMs: number,
  ) {
    db.exec(
      `CREATE TABLE IF NOT EXISTS _index_lease_wants (consumer TEXT PRIMARY KEY, owner TEXT NOT NULL, at INTEGER NOT NULL)`,
    );
  }

  get isHeld(): boolean {
    return this.held;
  }

  /** Another owner asked for the cursor within the last two TTLs. */
  wantedByOther(): string | null {
    const row = sqliteStep(
      'reading who wants the cursor lease',
      () =>
        this.db.prepare('SELECT owner, at FROM _index_lease_wants WHERE consumer = ?').get(this.consumer) as
          { owner: string; at: number } | undefined,
    );
    if (!row || row.owner === this.owner) return null;
    if (Date.now() - row.at > 2 * this.ttlMs || ownerIsDead(row.owner)) return null;
    return row.owner;
  }

  private want(): void {
    sqliteStep('asking for the cursor lease', () => this.wantRow());
  }

  private wantRow(): void {
    this.db
      .prepare(
        'INSERT INTO _index_lease_wants (consumer, owner, at) VALUES (?, ?, ?) ON CONFLICT(consumer) DO UPDATE SET owner = excluded.owner, at = excluded.at',
      )
      .run(this.consumer, this.owner, Date.now());
  }

  private unwant(): void {
    sqliteStep('withdrawing a request for the cursor lease', () => this.unwantRow());
  }

  private unwantRow(): void {
    this.db
      .prepare('DELETE FROM _index_lease_wants WHERE consumer = ? AND owner = ?')
      .run(this.consumer, this.owner);
  }

  /** One attempt. `polite`: do not take it while someone else is waiting for it. */
  tryAcquire(polite = false): boolean {
    if (polite && this.wantedByOther()) return false;
    const holder = leaseHolder(this.db, this.consumer);
    if (holder && holder.owner !== this.owner && holder.expiresAt > Date.now() && ownerIsDead(holder.owner)) {
      releaseLease(this.db, this.consumer, holder.owner);
    }
    this.held = acquireLease(this.db, this.consumer, this.owner, this.ttlMs);
    return this.held;
  }

  /**
   * Wait for the lease up to `waitMs`, asking the holder to hand it over.
   * Throws LeaseError naming the holder when it does not come.
   */
  async acquire(waitMs: number, onWait?: (holder: string) => void): Promise<void> {
    const deadline = Date.now() + waitMs;
    let told = false;
    for (;;) {
      if (this.tryAcquire()) {
        this.unwant();
        return;
      }
      const holder = leaseHolder(this.db, this.consumer);
      if (Date.now() >= deadline) {
        this.unwant();
        const who = holder
          ? `${holder.owner} (until ${new Date(holder.expiresAt).toISOString()})`
          : 'another process';
        const failing = this.holderFailure();
        throw new LeaseError(
          `The "${this.consumer}" cursor is held by ${who} and was not handed over within ${Math.round(waitMs / 1000)} s. ` +
            (failing
              ? `follow is not keeping the index fresh: it has been failing since ${new Date(failing.at).toISOString()} with: ${failing.message} Fix that (see its /healthz), or stop follow and run this again.`
              : 'If `crm-index follow` is running it keeps the index fresh already; otherwise wait for the lease to expire, or pass a longer --wait.'),
        );
      }
      this.want();
      if (!told && holder && onWait) {
        onWait(holder.owner);
        told = true;
      }
      await sleep(Math.min(100, Math.max(10, deadline - Date.now())));
    }
  }

  /** follow's latest published error, if it is recent (see follow.ts), else null. */
  private holderFailure(): { at: number; message: string } | null {
    try {
      const e = getState<{ at: number; message: string } | null>(this.db, FOLLOW_ERROR_STATE);
      return e && Date.now() - e.at < 10 * 60_000 ? e : null;
    } catch {
      return null;
    }
  }

  renew(): boolean {
    if (!this.held) return false;
    this.held = renewLease(this.db, this.consumer, this.owner, this.ttlMs);
    return this.held;
  }

  release(): void {
    if (this.held) releaseLease(this.db, this.consumer, this.owner);
    this.held = false;
    this.unwant();
  }
}
