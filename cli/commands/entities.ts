/**
 * `crm-index entities`: list entities with their members and evidence;
 * `entities same|not-same|unlink <keyA> <keyB>`: operator overrides (applied
 * at once to the affected clusters, and kept by every later full recompute);
 * `crm-index entity <id-or-name>`: one entity.
 */
import type { Command } from 'commander';
import { ConfigError } from '../../config/index.js';
import { action, configFrom } from '../context.js';

interface View {
  id: string;
  kind: string;
  displayName: string | null;
  memberCount: number;
  members: {
    recordKey: string;
    evidence: { rule: string; value: string; records: string[]; dropped?: boolean }[];
  }[];
}

function printView(v: View): void {
  process.stdout.write(
    `${v.id}  ${v.kind}  ${v.displayName ?? '(no name)'}  (${v.memberCount} member${v.memberCount === 1 ? '' : 's'})\n`,
  );
  for (const m of v.members) {
    const ev = m.evidence.map((e) => `${e.dropped ? 'dropped ' : ''}${e.rule}=${e.value}`).join(', ');
    process.stdout.write(`  ${m.recordKey}${ev ? `  [${ev}]` : ''}\n`);
  }
}

function parsePositive(v: string, name: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1)
    throw new ConfigError(`${name} "${v}" is not a positive whole number; give 1 or more.`);
  return Number(v);
}

async function withDb<T>(cmd: Command, fn: (db: import('../../crm/db.js').Db) => T): Promise<T> {
  const config = configFrom(cmd);
  const { openCrm } = await import('../../crm/db.js');
  const db = openCrm(config.dbPath, { busyTimeoutMs: config.busyTimeoutMs });
  try {
    const { ensureEntityTables } = await import('../../entities/index.js');
    ensureEntityTables(db);
    return fn(db);
  } finally {
    db.close();
  }
}

export function register(program: Command): void {
  const entities = program
    .command('entities')
    .description('list resolved entities (people, organizations) with members and evidence; manage overrides')
    .option('--kind <kind>', 'person or organization')
    .option('--name <text>', 'display name contains this (case and accents ignored)')
    .option('--min-members <n>', 'only entities with at least n member records')
    .option('--limit <n>', 'at most n entities', '50')
    .option('--json', 'print JSON')
    .action(
      action(
        async (
          opts: { kind?: string; name?: string; minMembers?: string; limit: string; json?: boolean },
          cmd: Command,
        ) => {
          if (opts.kind !== undefined && opts.kind !== 'person' && opts.kind !== 'organization') {
            throw new ConfigError(`--kind "${opts.kind}" is not a kind; use person or organization.`);
          }
          const filter = {
            kind: opts.kind as 'person' | 'organization' | undefined,
            name: opts.name,
            minMembers:
              opts.minMembers === undefined ? undefined : parsePositive(opts.minMembers, '--min-members'),
            limit: parsePositive(opts.limit, '--limit'),
          };
          const { listEntities } = await import('../../entities/query.js');
          const list = await withDb(cmd, (db) => listEntities(db, filter));
          if (opts.json) process.stdout.write(JSON.stringify(list, null, 2) + '\n');
          else if (list.length === 0)
            process.stdout.write('no entities match (run crm-index resolve --full first?)\n');
          else for (const v of list) printView(v);
        },
      ),
    );

  const override = (name: string, verdict: 'same' | 'not_same' | null, what: string) =>
    entities
      .command(`${name} <keyA> <keyB>`)
      .description(what)
      .action(
        action(async (a: string, b: string, _opts: unknown, cmd: Command) => {
          const { setOverride, removeOverride, resolveChanged, DEFAULT_ENTITY_SOURCE } =
            await import('../../entities/index.js');
          const { enqueueKeys, ensureFailureTables } = await import('../../runs/failures.js');
          const out = await withDb(cmd, (db) => {
            if (verdict === null) {
              if (!removeOverride(db, a, b)) {
                throw new ConfigError(
                  `There is no override on ${a} and ${b}; nothing to unlink (see crm-index entities overrides).`,
                );
              }
            } else setOverride(db, a, b, verdict);
            // Overrides are not in the changelog: re-resolve the pair's neighbourhoods now.
            const orgTable = DEFAULT_ENTITY_SOURCE.organizations.table;
            const isOrg = (k: string) => k.slice(0, k.indexOf(':')) === orgTable;
            const orgs = [a, b].filter(isOrg);
            const people = [a, b].filter((k) => !isOrg(k));
            const changed = resolveChanged(db, orgs, people);
            // The index learns of it through the retry queue, like any change: follow or the next
            // refresh re-indexes these records and what shows them, with their new entity ids.
            if (changed.changedRecordKeys.length > 0) {
              ensureFailureTables(db);
              enqueueKeys(db, changed.changedRecordKeys, 'entity override');
            }
            return changed;
          });
          process.stdout.write(
            `${verdict === null ? 'removed the override on' : `recorded ${verdict}:`} ${a} ${b}; ${out.changedRecordKeys.length} records changed entity (queued for re-indexing)\n`,
          );
        }),
      );
  override('same', 'same', 'record that two records are the same entity (always merged)');
  override(
    'not-same',
    'not_same',
    'record that two records are different entities (never merged; weakest links dropped)',
  );
  override('unlink', null, 'forget the same/not-same override on two records');
  entities
    .command('overrides')
    .description('list the operator overrides')
    .option('--json', 'print JSON')
    .action(
      action(async (opts: { json?: boolean }, cmd: Command) => {
        const { listOverrides } = await import('../../entities/index.js');
        const list = await withDb(cmd, (db) => listOverrides(db));
        if (opts.json) process.stdout.write(JSON.stringify(list, null, 2) + '\n');
        else for (const o of list) process.stdout.write(`${o.verdict}\t${o.a}\t${o.b}\n`);
      }),
    );

  program
    .command('entity <id-or-name>')
    .description('show one entity by id (org:12), member record key (people:7) or display name')
    .option('--json', 'print JSON')
    .action(
      action(async (idOrName: string, opts: { json?: boolean }, cmd: Command) => {
        const { findEntity } = await import('../../entities/query.js');
        const found = await withDb(cmd, (db) => findEntity(db, idOrName));
        if (found.length === 0) {
          throw new ConfigError(
            `No entity "${idOrName}": give an id such as org:12, a record key such as people:7, or an exact name (list them with crm-index entities).`,
          );
        }
        if (opts.json)
          process.stdout.write(JSON.stringify(found.length === 1 ? found[0] : found, null, 2) + '\n');
        else for (const v of found) printView(v);
      }),
    );
}
