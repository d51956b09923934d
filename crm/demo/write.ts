/**
 * Realistic single writes against a demo CRM, the way the CRM's web server
 * makes them: each change is its own committed transaction and touches
 * `updated_at`. Used by `crm-index demo-write` so a user can watch the index
 * follow, and by pipeline tests and benchmarks as a change source.
 * With a seed, the choice of records and the new text are reproducible for
 * the same database state.
 */
import { randomInt } from 'node:crypto';
import { ConfigError, SourceError } from '../../config/errors.js';
import type { Db } from '../db.js';
import { encodePk, recordKey } from '../sourceMap.js';
import { Rng } from './rng.js';
import { bodyParagraphs, paragraph, subject, type TextContext } from './text.js';
import * as W from './words.js';

export const DEMO_WRITE_KINDS = ['insert', 'update', 'delete', 'rename-org', 'link'] as const;
export type DemoWriteKind = (typeof DEMO_WRITE_KINDS)[number];

export interface DemoWriteOptions {
  /** Default 'update': rewrite the text of a random interaction or note. */
  kind?: DemoWriteKind;
  /** Number of writes, each in its own transaction; default 1. */
  count?: number;
  /** Unset: a random seed, so repeated runs make different changes. */
  seed?: number;
}

export interface DemoWriteChange {
  kind: DemoWriteKind;
  op: 'insert' | 'update' | 'delete';
  table: string;
  /** Record key of the changed row ('interactions:17', 'interaction_people:17/4'). */
  key: string;
  /** One line for a human: what changed. */
  summary: string;
  /** The new text written (body, note or organization name), when there is one. */
  text?: string;
}

export const MAX_DEMO_WRITES = 100_000;

function snippet(text: string, n = 80): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > n ? `${flat.slice(0, n - 1)}…` : flat;
}

/** A random existing id of `table` (ids may have gaps after deletes), or undefined if the table is empty. */
function randomId(db: Db, rng: Rng, table: string): number | undefined {
  const r = db.prepare(`SELECT min(id) AS lo, max(id) AS hi FROM "${table}"`).get() as {
    lo: number | null;
    hi: number | null;
  };
  if (r.lo === null || r.hi === null) return undefined;
  const probe = rng.int(r.lo, r.hi);
  const row = db.prepare(`SELECT id FROM "${table}" WHERE id >= ? ORDER BY id LIMIT 1`).get(probe) as
    { id: number } | undefined;
  return row?.id;
}

function requireId(db: Db, rng: Rng, table: string): number {
  const id = randomId(db, rng, table);
  if (id === undefined) {
    throw new SourceError(
      `demo-write needs demo data, but table ${table} is empty; run \`crm-index demo-data\` first.`,
    );
  }
  return id;
}

function contextFor(db: Db, rng: Rng, orgId: number | null): TextContext {
  const org =
    orgId === null
      ? undefined
      : (db.prepare('SELECT name, sector, location FROM organizations WHERE id = ?').get(orgId) as
          { name: string; sector: string | null; location: string | null } | undefined);
  const people =
    orgId === null
      ? []
      : (db.prepare('SELECT full_name FROM people WHERE organization_id = ? LIMIT 3').all(orgId) as {
          full_name: string;
        }[]);
  return {
    org: org?.name ?? W.FIRM_NAME,
    people: people.map((p) => p.full_name),
    sector: org?.sector || rng.pick(W.SECTORS),
    city: org?.location || rng.pick(W.LOCATIONS),
  };
}

function update(db: Db, rng: Rng): DemoWriteChange {
  if (rng.chance(0.5)) {
    const id = requireId(db, rng, 'interactions');
    const row = db.prepare('SELECT organization_id FROM interactions WHERE id = ?').get(id) as {
      organization_id: number | null;
    };
    const ctx = contextFor(db, rng, row.organization_id);
    const body = bodyParagraphs(rng, ctx, rng.chance(0.8) ? 'short' : 'medium').join('\n\n');
    db.prepare(
      `UPDATE interactions SET body = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?`,
    ).run(body, id);
    const key = recordKey('interactions', encodePk([id]));
    return {
      kind: 'update',
      op: 'update',
      table: 'interactions',
      key,
      summary: `${key} body: "${snippet(body)}"`,
      text: body,
    };
  }
  const id = requireId(db, rng, 'notes');
  const ctx = contextFor(db, rng, null);
  const body = paragraph(rng, ctx, 1, 4);
  db.prepare(`UPDATE notes SET body = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?`).run(
    body,
    id,
  );
  const key = recordKey('notes', encodePk([id]));
  return {
    kind: 'update',
    op: 'update',
    table: 'notes',
    key,
    summary: `${key} body: "${snippet(body)}"`,
    text: body,
  };
}

function insert(db: Db, rng: Rng): DemoWriteChange {
  const orgId = requireId(db, rng, 'organizations');
  const ctx = contextFor(db, rng, orgId);
  if (rng.chance(0.6)) {
    const kind = rng.pick(W.INTERACTION_KINDS);
    const subj = subject(rng, ctx);
    const body = bodyParagraphs(rng, ctx, rng.chance(0.8) ? 'short' : 'medium').join('\n\n');
    const id = Number(
      db
        .prepare(
          `INSERT INTO interactions (kind, occurred_at, subject, body, organization_id, owner)
           VALUES (?, strftime('%Y-%m-%dT%H:%M:%fZ','now'), ?, ?, ?, ?)`,
        )
        .run(kind, subj, body, orgId, rng.pick(W.OWNERS)).lastInsertRowid,
    );
    const people = db.prepare('SELECT id FROM people WHERE organization_id = ? LIMIT 2').all(orgId) as {
      id: number;
    }[];
    const link = db.prepare(
      'INSERT OR IGNORE INTO interaction_people (interaction_id, person_id, role) VALUES (?, ?, ?)',
    );
    for (const p of people) link.run(id, p.id, 'attendee');
    const key = recordKey('interactions', encodePk([id]));
    return {
      kind: 'insert',
      op: 'insert',
      table: 'interactions',
      key,
      summary: `${key} new ${kind} "${subj}": "${snippet(body)}"`,
      text: body,
    };
  }
  const body = paragraph(rng, ctx, 1, 4);
  const id = Number(
    db
      .prepare('INSERT INTO notes (subject_table, subject_id, author, body) VALUES (?, ?, ?, ?)')
      .run('organizations', orgId, rng.pick(W.OWNERS), body).lastInsertRowid,
  );
  const key = recordKey('notes', encodePk([id]));
  return {
    kind: 'insert',
    op: 'insert',
    table: 'notes',
    key,
    summary: `${key} new note on organizations:${orgId}: "${snippet(body)}"`,
    text: body,
  };
}

function remove(db: Db, rng: Rng): DemoWriteChange {
  const table = rng.chance(0.5) ? 'interactions' : 'notes';
  const id = requireId(db, rng, table);
  db.prepare(`DELETE FROM "${table}" WHERE id = ?`).run(id);
  const key = recordKey(table, encodePk([id]));
  return { kind: 'delete', op: 'delete', table, key, summary: `${key} deleted` };
}

function renameOrg(db: Db, rng: Rng): DemoWriteChange {
  const id = requireId(db, rng, 'organizations');
  const { name } = db.prepare('SELECT name FROM organizations WHERE id = ?').get(id) as { name: string };
  // A rebrand: a new name, the old one kept in parentheses as CRMs often do, so both stay searchable.
  const base = name.replace(/ \(formerly .*\)$/, '');
  const next = `${rng.pick(W.ORG_HEADS)}${rng.pick(W.ORG_TAILS)}${rng.pick(W.ORG_SUFFIXES)} (formerly ${base})`;
  db.prepare(
    `UPDATE organizations SET name = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?`,
  ).run(next, id);
  const key = recordKey('organizations', encodePk([id]));
  return {
    kind: 'rename-org',
    op: 'update',
    table: 'organizations',
    key,
    summary: `${key} renamed "${name}" -> "${next}"`,
    text: next,
  };
}

function link(db: Db, rng: Rng): DemoWriteChange {
  const existing =
    rng.chance(0.5) &&
    (db
      .prepare(
        'SELECT interaction_id, person_id FROM interaction_people WHERE interaction_id >= ? ORDER BY interaction_id LIMIT 1',
      )
      .get(requireId(db, rng, 'interactions')) as { interaction_id: number; person_id: number } | undefined);
  if (existing) {
    db.prepare('DELETE FROM interaction_people WHERE interaction_id = ? AND person_id = ?').run(
      existing.interaction_id,
      existing.person_id,
    );
    const key = recordKey('interaction_people', encodePk([existing.interaction_id, existing.person_id]));
    return {
      kind: 'link',
      op: 'delete',
      table: 'interaction_people',
      key,
      summary: `${key} removed person ${existing.person_id} from interaction ${existing.interaction_id}`,
    };
  }
  for (let attempt = 0; attempt < 20; attempt++) {
    const iid = requireId(db, rng, 'interactions');
    const pid = requireId(db, rng, 'people');
    const r = db
      .prepare('INSERT OR IGNORE INTO interaction_people (interaction_id, person_id, role) VALUES (?, ?, ?)')
      .run(iid, pid, rng.pick(W.ROLES));
    if (r.changes === 1) {
      const key = recordKey('interaction_people', encodePk([iid, pid]));
      return {
        kind: 'link',
        op: 'insert',
        table: 'interaction_people',
        key,
        summary: `${key} added person ${pid} to interaction ${iid}`,
      };
    }
  }
  throw new SourceError(
    'demo-write could not find an interaction and a person that are not linked yet after 20 tries; add people or interactions, or use another --kind.',
  );
}

const WRITERS: Record<DemoWriteKind, (db: Db, rng: Rng) => DemoWriteChange> = {
  insert,
  update,
  delete: remove,
  'rename-org': renameOrg,
  link,
};

/** Perform `count` writes of one kind, each committed on its own; returns what changed, in order. */
export function demoWrite(db: Db, opts: DemoWriteOptions = {}): DemoWriteChange[] {
  const kind = opts.kind ?? 'update';
  if (!DEMO_WRITE_KINDS.includes(kind)) {
    throw new ConfigError(
      `kind="${String(kind)}" is not a demo write; expected one of ${DEMO_WRITE_KINDS.join(', ')}.`,
    );
  }
  const count = opts.count ?? 1;
  if (!Number.isInteger(count) || count < 1 || count > MAX_DEMO_WRITES) {
    throw new ConfigError(
      `count=${String(count)} is out of range; expected a whole number from 1 to ${MAX_DEMO_WRITES}.`,
    );
  }
  if (opts.seed !== undefined && !Number.isSafeInteger(opts.seed)) {
    throw new ConfigError(`seed=${String(opts.seed)} is not a whole number; give an integer such as 7.`);
  }
  const rng = new Rng(opts.seed ?? randomInt(0, 2 ** 32));
  const write = db.transaction(() => WRITERS[kind](db, rng));
  const out: DemoWriteChange[] = [];
  for (let i = 0; i < count; i++) out.push(write());
  return out;
}
