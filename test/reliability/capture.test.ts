/**
 * What a CRM (or an operator) can do to capture while follow runs, and what
 * follow must do about it: an emptied or dropped changelog, a table rebuilt
 * by a migration (its triggers gone), a mapped column renamed.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PipelineContext } from '../../runs/context.js';
import type { FollowHandle } from '../../runs/follow.js';
import { runRefresh } from '../../runs/runs.js';
import { DEFAULT_SOURCE_MAP } from '../../crm/sourceMap.js';
import { getCursor, maxSeq } from '../../triggers/changelog.js';
import { installCapture } from '../../triggers/install.js';
import { makeWorld, waitFor, type World } from '../pipeline/harness.js';
import { addNote, followEachTest, found } from './following.js';

let world: World;
let ctx: PipelineContext;
let follow: FollowHandle;

describe('capture damaged while follow runs', () => {
  followEachTest({}, (f) => ({ world, ctx, follow } = f));
  beforeEach(async () => {
    // Some history, so the cursor stands well above 1.
    for (let i = 0; i < 20; i++) addNote(world, 100 + i, `history note ${i}`);
    addNote(world, 120, 'Capybara marks the end of the history');
    await waitFor('history indexed', () => found(ctx, 'capybara', 'notes:120'));
  });

  it('indexes changes made after the changelog was emptied (seq restarted below the cursor)', async () => {
    const cursor = getCursor(world.crm, 'index');
    expect(cursor).toBeGreaterThan(5);
    world.crm.exec('DELETE FROM _cdc_changelog');
    addNote(world, 200, 'Pangolin nonce after the purge');
    await waitFor('the note after the purge indexed', () => found(ctx, 'pangolin', 'notes:200'));
    // The high-water mark is back above every cursor, so the next change is numbered above it too.
    expect(maxSeq(world.crm)).toBeGreaterThan(cursor);
    expect(follow.state().running).toBe(true);
  }, 30_000);

  it('re-creates a dropped changelog at once, so CRM writes work again and are indexed', async () => {
    let lastInsertError = '';
    world.crm.exec('DROP TABLE _cdc_changelog');
    expect(() => addNote(world, 201, 'fails while the changelog is missing')).toThrow(/_cdc_changelog/);
    await waitFor(
      'the changelog re-created by follow',
      () => {
        try {
          // A connection that failed to prepare against the dropped table keeps its cached schema until
          // a statement runs (SQLite checks the schema cookie on execution): a CRM's next read does that.
          world.crm.prepare('SELECT count(*) FROM notes').get();
          addNote(world, 201, 'Okapi nonce after the drop');
          return true;
        } catch (err) {
          lastInsertError = String(err);
          return false;
        }
      },
      10_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; the CRM's insert said: ${lastInsertError}`);
    });
    await waitFor('the note after the drop indexed', () => found(ctx, 'okapi', 'notes:201'));
  }, 30_000);

  it('re-installs the triggers a table rebuild dropped, and indexes the writes made meanwhile', async () => {
    world.crm.exec(`
      BEGIN;
      CREATE TABLE notes_new (
        id INTEGER PRIMARY KEY, subject_table TEXT NOT NULL, subject_id INTEGER NOT NULL, author TEXT, body TEXT,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
        updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')));
      INSERT INTO notes_new SELECT * FROM notes;
      DROP TABLE notes;
      ALTER TABLE notes_new RENAME TO notes;
      COMMIT;`);
    addNote(world, 202, 'Narwhal nonce right after the migration');
    await waitFor('the note written before the triggers came back indexed', () =>
      found(ctx, 'narwhal', 'notes:202'),
    );
    addNote(world, 203, 'Quetzal nonce once capture is back');
    await waitFor('a later note indexed', () => found(ctx, 'quetzal', 'notes:203'));
    const triggers = world.crm
      .prepare(
        `SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'notes' AND name GLOB '_cdc_*'`,
      )
      .pluck()
      .get() as number;
    expect(triggers).toBeGreaterThan(0);
  }, 30_000);

  it('holds a table back and reports it when a mapped column is renamed, instead of indexing less', async () => {
    expect(await found(ctx, 'warehouse', 'organizations:1')).toBe(true); // "Warehouse robots that sort parcels."
    world.crm.exec('ALTER TABLE organizations RENAME COLUMN description TO descr');
    world.crm.prepare(`UPDATE organizations SET descr = 'Zeppelin logistics' WHERE id = 1`).run();
    await waitFor('the problem reported', () =>
      follow.problems().some((p) => p.includes('"description"') && p.includes('organizations')),
    );
    // The record is parked for a retry, and the index keeps its last good text rather than losing it.
    await waitFor(
      'the record held back',
      () =>
        world.crm
          .prepare(`SELECT step FROM _index_retry WHERE record_key = 'organizations:1'`)
          .pluck()
          .get() === 'blocked',
    );
    expect(await found(ctx, 'warehouse', 'organizations:1')).toBe(true);
    expect(await found(ctx, 'zeppelin', 'organizations:1')).toBe(false);
    // Other tables keep flowing.
    addNote(world, 204, 'Axolotl nonce in another table');
    await waitFor('another table still indexed', () => found(ctx, 'axolotl', 'notes:204'));
    // The sweep neither re-renders the held table nor deletes its records as orphans.
    follow.kick('sweep');
    await new Promise((r) => setTimeout(r, 500));
    expect(await found(ctx, 'warehouse', 'organizations:1')).toBe(true);
  }, 30_000);
});

describe('install on a damaged changelog', () => {
  beforeEach(async () => {
    world = await makeWorld();
    await runRefresh(world.config, { waitMs: 5000 });
  });
  afterEach(async () => {
    await world.close();
  });

  it('says it re-created a dropped changelog instead of "nothing changed"', () => {
    world.crm.exec('DROP TABLE _cdc_changelog');
    const r = installCapture(world.crm, DEFAULT_SOURCE_MAP);
    expect(r.changed).toBe(true);
    expect(r.tablesCreated).toEqual(['_cdc_changelog']);
  });

  it('restores the high-water mark above the cursor after the changelog was emptied', async () => {
    for (let i = 0; i < 5; i++) addNote(world, 100 + i, `history note ${i}`);
    await runRefresh(world.config, { waitMs: 5000, sweep: false });
    const cursor = getCursor(world.crm, 'index');
    world.crm.exec('DELETE FROM _cdc_changelog');
    addNote(world, 300, 'written after the purge');
    const r = installCapture(world.crm, DEFAULT_SOURCE_MAP);
    expect(r.highWater).toMatchObject({ cursor, moved: 1 });
    expect(maxSeq(world.crm)).toBe(cursor + 1);
  });
});
