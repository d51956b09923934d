import { Command } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { register as registerInstall } from '../../cli/commands/install.js';
import { register as registerUninstall } from '../../cli/commands/uninstall.js';
import { register as registerVerify } from '../../cli/commands/verify.js';
import { addGlobalOptions } from '../../cli/context.js';
import { openCrm } from '../../crm/db.js';
import { referenceCrm } from './helpers.js';
import { DEFAULT_SOURCE_MAP } from '../../crm/sourceMap.js';

/** Record tables get 4 triggers (ai, ad, ak, au), link tables 3 (ai, ad, au). */
const TRIGGER_COUNT = DEFAULT_SOURCE_MAP.tables.reduce((n, t) => n + (t.kind === 'record' ? 4 : 3), 0);

/**
 * Run our three commands in-process, the way cli/main.ts wires them (spawning the CLI from source costs
 * seconds per call on a busy machine). Captures stdout, stderr and the exit code the command set.
 */
async function cli(db: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const program = new Command('crm-index').exitOverride();
  addGlobalOptions(program);
  for (const register of [registerInstall, registerVerify, registerUninstall]) register(program);
  const envFile = path.join(path.dirname(db), 'empty.env');
  fs.writeFileSync(envFile, ''); // keeps a developer's ./.env out of the test
  let stdout = '';
  let stderr = '';
  const out = vi
    .spyOn(process.stdout, 'write')
    .mockImplementation((chunk) => ((stdout += String(chunk)), true));
  const err = vi
    .spyOn(process.stderr, 'write')
    .mockImplementation((chunk) => ((stderr += String(chunk)), true));
  process.exitCode = undefined;
  try {
    await program.parseAsync(['--db', db, '--env-file', envFile, '--log-level', 'error', ...args], {
      from: 'user',
    });
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { code, stdout, stderr };
}

describe('crm-index install / verify / uninstall', () => {
  it('installs, verifies, detects a dropped trigger with exit 3, repairs, and uninstalls', async () => {
    const { db, file } = referenceCrm({ install: false });
    db.close();

    const notInstalled = await cli(file, 'verify');
    expect(notInstalled.code).toBe(3);
    expect(notInstalled.stderr).toMatch(/capture is not installed.*run crm-index install/i);

    const install = await cli(file, 'install');
    expect(install.code).toBe(0);
    expect(install.stdout).toContain(`created ${TRIGGER_COUNT} trigger(s): _cdc_organizations_ai`);

    const ok = await cli(file, 'verify', '--json');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, missing: [], stale: [], extra: [] });

    // What a table-rebuild migration does to our triggers on that table.
    const d = openCrm(file);
    d.exec(`DROP TRIGGER "_cdc_deals_ai"; DROP TRIGGER "_cdc_deals_au"`);
    d.close();
    const broken = await cli(file, 'verify');
    expect(broken.code).toBe(3);
    expect(broken.stderr).toMatch(/missing triggers: _cdc_deals_ai, _cdc_deals_au.*run crm-index install/);

    const repair = await cli(file, 'install');
    expect(repair.stdout).toMatch(/created 2 trigger\(s\): _cdc_deals_ai, _cdc_deals_au/);
    expect((await cli(file, 'install')).stdout).toMatch(/nothing changed/);

    const un = await cli(file, 'uninstall');
    expect(un.code).toBe(0);
    expect(un.stdout).toContain(`${TRIGGER_COUNT} trigger(s)`);
    expect(un.stdout).toMatch(/4 table\(s\): _cdc_changelog, _cdc_consumers, _cdc_meta, _cdc_tables/);
    const after = openCrm(file, { readonly: true });
    expect(after.prepare(`SELECT count(*) AS n FROM sqlite_master WHERE name GLOB '_cdc_*'`).get()).toEqual({
      n: 0,
    });
    after.close();
  });

  it('refuses to install a source map that names a missing column, with exit 3 and the column named', async () => {
    const { db, file, dir } = referenceCrm({ install: false });
    db.close();
    const mapFile = path.join(dir, 'map.json');
    const map = {
      version: 1,
      tables: [
        {
          kind: 'record',
          table: 'organizations',
          key: ['id'],
          label: 'Org',
          titleColumn: 'name',
          text: [{ column: 'headcount' }],
          payload: {},
        },
      ],
    };
    fs.writeFileSync(mapFile, JSON.stringify(map));
    const r = await cli(file, '--source-map', mapFile, 'install');
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/Table "organizations" has no column "headcount"/);
  });

  it('reports a missing database file with exit 3', async () => {
    const r = await cli(path.join(referenceCrm({ install: false }).dir, 'absent.db'), 'install');
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/absent\.db does not exist/);
  });
});
