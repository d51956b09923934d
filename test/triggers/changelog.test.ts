import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LeaseError, SourceError } from '../../config/errors.js';
import type { Db } from '../../crm/db.js';
import {
  acquireLease,
  advanceCursor,
  backlog,
  ensureConsumer,
  getCursor,
  leaseHolder,
  listConsumers,
  maxSeq,
  oldestPendingAt,
  pruneChangelog,
  readChanges,
  releaseLease,
  renewLease,
} from '../../triggers/changelog.js';
import { referenceCrm } from './helpers.js';

let db: Db;
beforeEach(() => {
  db = referenceCrm().db;
});
afterEach(() => db.close());

function writeOrgs(n: number, from = 1): void {
  const ins = db.prepare(`INSERT INTO organizations (id, name) VALUES (?, ?)`);
  db.transaction(() => {
    for (let i = from; i < from + n; i++) ins.run(i, `org ${i}`);
  })();
}

describe('consumers and cursors', () => {
  it('starts a consumer at the beginning or at the current end of the log', () => {
    writeOrgs(5);
    ensureConsumer(db, 'index');
    ensureConsumer(db, 'late', 'now');
    expect(getCursor(db, 'index')).toBe(0);
    expect(getCursor(db, 'late')).toBe(5);
    expect(backlog(db, 'index')).toBe(5);
    expect(backlog(db, 'late')).toBe(0);
  });

  it('leaves an existing consumer where it is when ensured again', () => {
    writeOrgs(3);
    ensureConsumer(db, 'index');
    advanceCursor(db, 'index', 2);
    ensureConsumer(db, 'index', 'now');
    expect(getCursor(db, 'index')).toBe(2);
  });

  it('throws a clear error for an unknown consumer', () => {
    expect(() => getCursor(db, 'nobody')).toThrow(SourceError);
    expect(() => getCursor(db, 'nobody')).toThrow(/No changelog consumer named "nobody"/);
    expect(() => advanceCursor(db, 'nobody', 1)).toThrow(SourceError);
    expect(() => backlog(db, 'nobody')).toThrow(SourceError);
  });

  it('reads changes after a seq, oldest first, with table names and limits', () => {
    writeOrgs(4);
    db.exec(`UPDATE organizations SET name = 'x' WHERE id = 2; DELETE FROM organizations WHERE id = 3`);
    const rows = readChanges(db, 2, 10);
    expect(rows.map((r) => [r.seq, r.table, r.pk, r.op])).toEqual([
      [3, 'organizations', '3', 'I'],
      [4, 'organizations', '4', 'I'],
      [5, 'organizations', '2', 'U'],
      [6, 'organizations', '3', 'D'],
    ]);
    expect(readChanges(db, 2, 2).map((r) => r.seq)).toEqual([3, 4]);
    expect(typeof rows[0]!.at).toBe('number');
  });

  it('never moves a cursor backwards', () => {
    writeOrgs(10);
    ensureConsumer(db, 'index');
    advanceCursor(db, 'index', 7);
    advanceCursor(db, 'index', 3);
    expect(getCursor(db, 'index')).toBe(7);
  });

  it('reports the time of the oldest pending change, and null when caught up', () => {
    writeOrgs(3);
    ensureConsumer(db, 'index');
    const firstAt = readChanges(db, 0, 1)[0]!.at;
    expect(oldestPendingAt(db, 'index')).toBe(firstAt);
    advanceCursor(db, 'index', maxSeq(db));
    expect(oldestPendingAt(db, 'index')).toBeNull();
    expect(backlog(db, 'index')).toBe(0);
  });

  it('lists consumers with their cursors and leases', () => {
    ensureConsumer(db, 'b');
    ensureConsumer(db, 'a');
    acquireLease(db, 'a', 'proc-1', 1000, 5000);
    expect(listConsumers(db)).toEqual([
      { name: 'a', seq: 0, updatedAt: expect.any(Number), leaseOwner: 'proc-1', leaseExpiresAt: 6000 },
      { name: 'b', seq: 0, updatedAt: expect.any(Number), leaseOwner: null, leaseExpiresAt: null },
    ]);
  });
});

describe('pruning', () => {
  it('deletes only rows every consumer has passed, in bounded batches', () => {
    writeOrgs(25);
    ensureConsumer(db, 'index');
    ensureConsumer(db, 'entities');
    advanceCursor(db, 'index', 20);
    advanceCursor(db, 'entities', 12);
    expect(pruneChangelog(db, 5)).toBe(12);
    expect(readChanges(db, 0, 100)[0]!.seq).toBe(13);
    expect(pruneChangelog(db, 5)).toBe(0);
  });

  it('deletes nothing while no consumer exists', () => {
    writeOrgs(3);
    expect(pruneChangelog(db, 100)).toBe(0);
    expect(readChanges(db, 0, 10)).toHaveLength(3);
  });

  it('prunes every processed change but keeps the newest row as the high-water mark', () => {
    writeOrgs(10);
    ensureConsumer(db, 'index');
    advanceCursor(db, 'index', maxSeq(db));
    expect(pruneChangelog(db, 3)).toBe(9);
    expect(db.prepare(`SELECT seq FROM _cdc_changelog`).all()).toEqual([{ seq: 10 }]);
    expect(readChanges(db, getCursor(db, 'index'), 10)).toEqual([]); // nothing pending: empty to every reader
    expect(backlog(db, 'index')).toBe(0);
  });

  it('never reuses a seq after the changelog is pruned to empty and written again', () => {
    writeOrgs(10);
    ensureConsumer(db, 'index');
    advanceCursor(db, 'index', maxSeq(db));
    pruneChangelog(db, 3);
    expect(maxSeq(db)).toBe(10);
    writeOrgs(2, 100);
    expect(readChanges(db, getCursor(db, 'index'), 10).map((r) => [r.seq, r.pk])).toEqual([
      [11, '100'],
      [12, '101'],
    ]);
    expect(maxSeq(db)).toBe(12);
    // And again, across a VACUUM (which keeps rowid-alias values).
    advanceCursor(db, 'index', 12);
    pruneChangelog(db, 100);
    db.exec('VACUUM');
    writeOrgs(1, 200);
    expect(readChanges(db, 12, 10).map((r) => r.seq)).toEqual([13]);
  });

  it('starts a new consumer at "now" after pruning, at the high-water mark', () => {
    writeOrgs(5);
    ensureConsumer(db, 'index');
    advanceCursor(db, 'index', 5);
    pruneChangelog(db, 100);
    ensureConsumer(db, 'late', 'now');
    expect(getCursor(db, 'late')).toBe(5);
  });
});

describe('leases: one writer per cursor', () => {
  beforeEach(() => {
    writeOrgs(10);
    ensureConsumer(db, 'index');
  });

  it('gives the lease to the first owner and refuses a second owner until it expires', () => {
    expect(acquireLease(db, 'index', 'daemon', 1000, 10_000)).toBe(true);
    expect(acquireLease(db, 'index', 'oneshot', 1000, 10_500)).toBe(false);
    expect(leaseHolder(db, 'index', 10_500)).toEqual({ owner: 'daemon', expiresAt: 11_000 });
    expect(acquireLease(db, 'index', 'daemon', 1000, 10_600)).toBe(true); // already ours: re-acquire extends
    expect(acquireLease(db, 'index', 'oneshot', 1000, 11_601)).toBe(true); // expired
    expect(leaseHolder(db, 'index', 11_700)?.owner).toBe('oneshot');
  });

  it('lets only the holder advance the cursor; a non-holder gets a LeaseError naming the holder', () => {
    acquireLease(db, 'index', 'daemon', 60_000);
    advanceCursor(db, 'index', 4, 'daemon');
    expect(getCursor(db, 'index')).toBe(4);
    expect(() => advanceCursor(db, 'index', 8, 'oneshot')).toThrow(LeaseError);
    expect(() => advanceCursor(db, 'index', 8, 'oneshot')).toThrow(/held by "daemon"/);
    expect(getCursor(db, 'index')).toBe(4);
  });

  it('refuses to advance with an expired lease', () => {
    acquireLease(db, 'index', 'daemon', 100, 1_000);
    expect(() => advanceCursor(db, 'index', 5, 'daemon', 2_000)).toThrow(/no longer holds its lease/);
    expect(getCursor(db, 'index')).toBe(0);
  });

  it('renews only for the current owner, and release frees the lease for others', () => {
    acquireLease(db, 'index', 'daemon', 1000, 1_000);
    expect(renewLease(db, 'index', 'oneshot', 1000, 1_500)).toBe(false);
    expect(renewLease(db, 'index', 'daemon', 5000, 1_500)).toBe(true);
    expect(leaseHolder(db, 'index', 1_500)?.expiresAt).toBe(6_500);
    releaseLease(db, 'index', 'oneshot'); // not the holder: no effect
    expect(leaseHolder(db, 'index', 1_600)?.owner).toBe('daemon');
    releaseLease(db, 'index', 'daemon');
    expect(leaseHolder(db, 'index', 1_600)).toBeNull();
    expect(acquireLease(db, 'index', 'oneshot', 1000, 1_700)).toBe(true);
  });

  it('gives the lease to only the first of two connections that ask for it', async () => {
    const { openCrm } = await import('../../crm/db.js');
    const other = openCrm(db.name);
    try {
      const results = [acquireLease(db, 'index', 'a', 10_000), acquireLease(other, 'index', 'b', 10_000)];
      expect(results).toEqual([true, false]);
      expect(leaseHolder(other, 'index')?.owner).toBe('a');
    } finally {
      other.close();
    }
  });
});
