/**
 * MCP writes keep the CRM readable by every client: text that is not
 * well-formed (a lone UTF-16 surrogate) or holds a NUL byte is refused before
 * anything is written, and other malformed input gets a message naming the
 * argument instead of a raw SQLite error.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import Database from 'better-sqlite3';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { McpContext } from '../../mcp/context.js';
import { makeFixture, type Fixture } from '../search/fixtures.js';
import { call, connect, data, fixtureContext, textOf } from '../mcp/helpers.js';

let fx: Fixture;
let ctx: McpContext;
let client: Client;

const hasPython = spawnSync('python3', ['-c', 'import sqlite3'], { stdio: 'ignore' }).status === 0;

beforeAll(async () => {
  fx = await makeFixture('crm-index-writes-');
  ctx = fixtureContext(fx);
  client = await connect(ctx);
});

afterAll(async () => {
  await client.close();
  ctx.close();
  await fx.store.close();
  fs.rmSync(fx.dir, { recursive: true, force: true });
});

function scalar(sql: string): unknown {
  const db = new Database(fx.crmPath, { readonly: true });
  try {
    return db.prepare(sql).pluck().get();
  } finally {
    db.close();
  }
}

const auditRows = () => Number(scalar('SELECT count(*) FROM mcp_write_log') ?? 0);

describe('MCP writes refuse text that would make the CRM unreadable', () => {
  it('refuses a lone surrogate in update_fields, naming the field, and writes nothing', async () => {
    scalar('SELECT 1'); // the audit table may not exist yet
    const name = scalar('SELECT name FROM organizations WHERE id = 1');
    const audits = await call(client, 'describe_schema', {}).then(() => auditRowsSafe());
    const r = await call(client, 'update_fields', {
      table: 'organizations',
      id: 1,
      fields: { name: 'Acme \ud83d' },
    });
    expect(r.isError).toBe(true);
    expect(textOf(r)).toMatch(/fields\.name holds a lone UTF-16 surrogate/);
    expect(textOf(r)).toMatch(/Nothing was written/);
    expect(scalar('SELECT name FROM organizations WHERE id = 1')).toBe(name);
    expect(auditRowsSafe()).toBe(audits);
  });

  it('refuses a NUL byte in add_note and in log_interaction, naming the argument', async () => {
    const notes = scalar('SELECT count(*) FROM notes');
    const a = await call(client, 'add_note', {
      subject_table: 'organizations',
      subject_id: 1,
      body: 'visible\u0000hidden from the CRM UI',
    });
    expect(a.isError).toBe(true);
    expect(textOf(a)).toMatch(/body holds a NUL byte at character 7/);
    expect(scalar('SELECT count(*) FROM notes')).toBe(notes);
    const b = await call(client, 'log_interaction', {
      kind: 'call',
      occurred_at: '2024-08-01',
      subject: 'ok',
      person_ids: ['1', 'x\u0000'],
    });
    expect(b.isError).toBe(true);
    expect(textOf(b)).toMatch(/person_ids\[1\] holds a NUL byte/);
  });

  it.skipIf(!hasPython)(
    'leaves every table readable by Python sqlite3 after well-formed emoji writes (needs python3)',
    async () => {
      const d = data<{ id: string }>(
        await call(client, 'update_fields', {
          table: 'organizations',
          id: 2,
          fields: { name: 'Blue 🌊 Harbor' },
        }),
      );
      expect(d.id).toBe('2');
      const out = execFileSync(
        'python3',
        [
          '-c',
          'import sqlite3,sys;c=sqlite3.connect(sys.argv[1]);print(len(c.execute("SELECT * FROM organizations").fetchall()));print(c.execute("SELECT name FROM organizations WHERE id=2").fetchone()[0])',
          fx.crmPath,
        ],
        { encoding: 'utf8' },
      );
      expect(out).toContain('Blue 🌊 Harbor');
    },
  );
});

function auditRowsSafe(): number {
  try {
    return auditRows();
  } catch {
    return 0;
  }
}

describe('MCP write input validation', () => {
  it('refuses an impossible occurred_at, naming it', async () => {
    const r = await call(client, 'log_interaction', {
      kind: 'call',
      occurred_at: '9999-99-99T99:99:99',
      subject: 'never',
    });
    expect(r.isError).toBe(true);
    expect(textOf(r)).toMatch(/occurred_at is not a date; give /);
    const feb = await call(client, 'log_interaction', {
      kind: 'call',
      occurred_at: '2025-02-29',
      subject: 'x',
    });
    expect(feb.isError).toBe(true);
    expect(scalar("SELECT count(*) FROM interactions WHERE subject IN ('never', 'x')")).toBe(0);
  });

  it('refuses a note body of white space only', async () => {
    const r = await call(client, 'add_note', {
      subject_table: 'organizations',
      subject_id: 1,
      body: ' \n\t ',
    });
    expect(r.isError).toBe(true);
    expect(textOf(r)).toMatch(/body is only white space/);
  });

  it('links a person given twice under two spellings ("1" and "01") once, without a raw UNIQUE error', async () => {
    const d = data<{ id: string; participants: string[] }>(
      await call(client, 'log_interaction', {
        kind: 'call',
        occurred_at: '2024-08-03',
        subject: 'Twice the same person',
        person_ids: ['1', '01', 2],
      }),
    );
    expect(d.participants).toEqual(['1', '2']);
    expect(scalar(`SELECT count(*) FROM interaction_people WHERE interaction_id = ${Number(d.id)}`)).toBe(2);
  });
});
