/**
 * docker_entrypoint.sh under bash, with a fake `crm-index` (CRM_INDEX_BIN)
 * that records each invocation's args and environment and traps SIGTERM, so
 * the tests see which children start, what they get, and that a signal sent
 * to the entrypoint reaches them.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkHealthz } from '../../startos/health.js';

const entrypoint = path.resolve(import.meta.dirname, '../../docker_entrypoint.sh');

// Each run writes <dir>/calls/<pid>.json when it starts and <pid>.term when it gets SIGTERM.
// `refresh` exits at once with FAKE_EXIT (so --once has a code to pass on); other commands
// run until signalled, unless FAKE_EXIT_<cmd> asks them to exit early with a code.
const FAKE = `#!/usr/bin/env bash
set -u
dir="$FAKE_DIR/calls"
mkdir -p "$dir"
printf '{"args":"%s","sync":"%s","db":"%s","collection":"%s","tls":"%s","token":"%s"}\\n' \\
  "$*" "\${CRM_INGEST_SYNC_INTERVAL_MIN:-}" "\${CRM_DB_PATH:-}" "\${QDRANT_COLLECTION:-}" \\
  "\${SPARK_CONTROL_VERIFY_TLS:-}" "\${MCP_AUTH_TOKEN:-}" > "$dir/$$.json"
if [[ "$1" == "refresh" ]]; then exit "\${FAKE_EXIT:-0}"; fi
early="FAKE_EXIT_$1"
if [[ -n "\${!early:-}" ]]; then exit "\${!early}"; fi
trap 'echo "$1" > "$dir/$$.term"; kill "$sleeper" 2>/dev/null; exit 0' TERM
sleep 300 & sleeper=$!
wait "$sleeper"
`;

interface Call {
  args: string;
  sync: string;
  db: string;
  collection: string;
  tls: string;
  token: string;
}

const dirs: string[] = [];
const procs: ChildProcess[] = [];

function setup(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-index-entry-'));
  dirs.push(dir);
  fs.writeFileSync(path.join(dir, 'crm-index'), FAKE, { mode: 0o755 });
  return dir;
}

/** Only the variables the test sets, plus PATH: no leakage from the developer's shell. */
function envFor(dir: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, FAKE_DIR: dir, CRM_INDEX_BIN: path.join(dir, 'crm-index'), ...extra };
}

function calls(dir: string): Call[] {
  const d = path.join(dir, 'calls');
  if (!fs.existsSync(d)) return [];
  return fs
    .readdirSync(d)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(fs.readFileSync(path.join(d, f), 'utf8')) as Call)
    .sort((a, b) => a.args.localeCompare(b.args));
}

function terms(dir: string): string[] {
  const d = path.join(dir, 'calls');
  if (!fs.existsSync(d)) return [];
  return fs
    .readdirSync(d)
    .filter((f) => f.endsWith('.term'))
    .map((f) => fs.readFileSync(path.join(d, f), 'utf8').trim())
    .sort();
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Start the entrypoint; resolves its output and exit once it ends. */
function start(dir: string, env: Record<string, string>, args: string[] = []) {
  const child = spawn('bash', [entrypoint, ...args], {
    env: envFor(dir, env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.push(child);
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const done = new Promise<{ code: number | null; output: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, output })),
  );
  return { child, done, output: () => output };
}

/** Run a long-lived configuration until its children are up, then stop it with SIGTERM. */
async function runAndStop(env: Record<string, string>, expectedChildren: number, args: string[] = []) {
  const dir = setup();
  const run = start(dir, env, args);
  await until(
    () => calls(dir).length >= expectedChildren && /ingest follower/.test(run.output()),
    'children to start',
  );
  run.child.kill('SIGTERM');
  const res = await run.done;
  return { dir, ...res };
}

afterEach(() => {
  for (const p of procs.splice(0)) if (p.exitCode === null) p.kill('SIGKILL');
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const bothUrls = { SPARK_CONTROL_URL: 'https://spark.local:8443', QDRANT_URL: 'http://qdrant.local:6333' };

describe('docker_entrypoint.sh', () => {
  it('starts the follower beside the MCP server when both endpoints are set', async () => {
    const { dir, output, code } = await runAndStop(bothUrls, 2);
    expect(output).toContain('[entrypoint] ingest follower: STARTED');
    expect(calls(dir).map((c) => c.args)).toEqual(['follow', 'mcp --http --host 0.0.0.0 --port 8788']);
    expect(code).toBe(0);
  });

  it('starts the follower for the embedded store without any endpoint', async () => {
    const { dir, output } = await runAndStop({ CRM_INDEX_STORE: 'embedded' }, 2);
    expect(output).toContain('[entrypoint] ingest follower: STARTED');
    expect(calls(dir).map((c) => c.args)).toContain('follow');
  });

  const skips: [string, Record<string, string>, string][] = [
    ['nothing set', {}, 'SPARK_CONTROL_URL and QDRANT_URL are not set and CRM_INDEX_STORE is not embedded'],
    [
      'no Qdrant URL',
      { SPARK_CONTROL_URL: 'https://spark' },
      'QDRANT_URL is not set and CRM_INDEX_STORE is not embedded',
    ],
    [
      'no embeddings URL',
      { QDRANT_URL: 'http://q:6333' },
      'SPARK_CONTROL_URL is not set and CRM_INDEX_STORE is not embedded',
    ],
    [
      'a store other than embedded',
      { CRM_INDEX_STORE: 'qdrant' },
      'SPARK_CONTROL_URL and QDRANT_URL are not set',
    ],
  ];
  for (const [label, env, reason] of skips) {
    it(`skips the follower with the reason when ${label}`, async () => {
      const { dir, output } = await runAndStop(env, 1);
      expect(output).toContain(`[entrypoint] ingest follower: SKIPPED (${reason}`);
      expect(output).not.toContain('STARTED');
      expect(calls(dir).map((c) => c.args)).toEqual(['mcp --http --host 0.0.0.0 --port 8788']);
    });
  }

  it('exports ingest defaults without overriding values already set', async () => {
    const { dir } = await runAndStop(
      { ...bothUrls, CRM_INGEST_SYNC_INTERVAL_MIN: '5', MCP_AUTH_TOKEN: 'tok-1234567890abcdef' },
      2,
    );
    for (const c of calls(dir)) {
      expect(c.sync).toBe('5');
      expect(c.db).toBe('/data/crm.db');
      expect(c.collection).toBe('crm_chunks');
      expect(c.tls).toBe('true');
      expect(c.token).toBe('tok-1234567890abcdef');
    }
  });

  it('forwards SIGTERM to both children and exits 0 when they stop cleanly', async () => {
    const { dir, code, output } = await runAndStop(bothUrls, 2);
    expect(terms(dir)).toEqual(['follow', 'mcp']);
    expect(output).toContain('received SIGTERM');
    expect(code).toBe(0);
  });

  it('forwards SIGINT to the children as SIGTERM', async () => {
    const dir = setup();
    const run = start(dir, bothUrls);
    await until(() => calls(dir).length >= 2, 'children to start');
    run.child.kill('SIGINT');
    const res = await run.done;
    expect(terms(dir)).toEqual(['follow', 'mcp']);
    expect(res.code).toBe(0);
  });

  it('stops the MCP server and exits with the follower status when the follower dies', async () => {
    const dir = setup();
    const res = await start(dir, { ...bothUrls, FAKE_EXIT_follow: '7' }).done;
    expect(res.output).toContain('follower exited with status 7');
    expect(terms(dir)).toEqual(['mcp']);
    expect(res.code).toBe(7);
  });

  it('runs the given crm-index command as the main process', async () => {
    const { dir, output } = await runAndStop(bothUrls, 2, ['mcp', '--http', '--port', '9000']);
    expect(calls(dir).map((c) => c.args)).toEqual(['follow', 'mcp --http --port 9000']);
    expect(output).toContain('STARTED');
  });

  it('does not start a second follower when the main command is follow', async () => {
    const { dir, output } = await runAndStop(bothUrls, 1, ['follow']);
    expect(output).toContain('ingest follower: SKIPPED (the main command is follow itself)');
    expect(calls(dir).map((c) => c.args)).toEqual(['follow']);
  });

  it('--once runs one refresh and exits with its code', async () => {
    for (const exit of ['0', '5']) {
      const dir = setup();
      const res = spawnSync('bash', [entrypoint, '--once'], {
        env: envFor(dir, { ...bothUrls, FAKE_EXIT: exit }),
        encoding: 'utf8',
      });
      expect(res.status).toBe(Number(exit));
      expect(calls(dir).map((c) => c.args)).toEqual(['refresh --once']);
      expect(res.stderr).not.toContain('ingest follower');
    }
  });
});

// A stand-in daemon: answers GET /healthz with 200 on PORT until SIGTERM.
const HEALTH_SERVER = `require('node:http').createServer((q, s) => { s.writeHead(200, {'content-type': 'application/json'}); s.end('{"status":"ok"}'); }).listen(Number(process.env.PORT), '127.0.0.1');`;

async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

describe('--exec (how the StartOS daemons start)', () => {
  it('waits for the CRM database instead of exiting, with the waiting health state, then runs the daemon', async () => {
    const dir = setup();
    const db = path.join(dir, 'crm.db');
    const port = await freePort();
    const run = start(dir, { CRM_DB_PATH: db, CRM_DB_WAIT_INTERVAL_S: '0.05', PORT: String(port) }, [
      '--exec',
      process.execPath,
      '-e',
      HEALTH_SERVER,
    ]);
    await until(() => run.output().includes(`waiting for the CRM database at ${db}`), 'the waiting line');
    const check = () =>
      checkHealthz({
        name: 'The MCP server',
        port,
        dbPresent: async () => fs.existsSync(db),
        dbPath: db,
        timeoutMs: 1000,
      });
    expect(await check()).toEqual({
      result: 'loading',
      message: `The MCP server is waiting for the CRM database at ${db}`,
    });
    // Still the same process: no exit, so no restart loop.
    expect(run.child.exitCode).toBeNull();
    expect(run.output().match(/waiting for the CRM database/g)).toHaveLength(1);

    fs.writeFileSync(db, '');
    let health = await check();
    for (let i = 0; i < 200 && health.result !== 'success'; i++) {
      await new Promise((r) => setTimeout(r, 25));
      health = await check();
    }
    expect(health).toEqual({ result: 'success', message: 'The MCP server is ready' });
    run.child.kill('SIGTERM');
    await run.done;
  });

  it('stops promptly on SIGTERM while waiting', async () => {
    const dir = setup();
    const run = start(dir, { CRM_DB_PATH: path.join(dir, 'absent.db'), CRM_DB_WAIT_INTERVAL_S: '0.05' }, [
      '--exec',
      'true',
    ]);
    await until(() => run.output().includes('waiting for the CRM database'), 'the waiting line');
    run.child.kill('SIGTERM');
    expect((await run.done).code).toBe(143);
  });

  it.skipIf(process.getuid?.() !== 0)(
    "started as root, runs as the database's owner and gives it the index folders (skipped unless root)",
    () => {
      const dir = setup();
      const db = path.join(dir, 'crm.db');
      fs.writeFileSync(db, '');
      fs.chownSync(db, 1234, 1234);
      const index = path.join(dir, 'index');
      const res = spawnSync('bash', [entrypoint, '--exec', 'id', '-u'], {
        env: envFor(dir, {
          CRM_DB_PATH: db,
          CRM_INDEX_PATH: path.join(index, 'index.db'),
          CRM_INDEX_CACHE_DIR: path.join(index, 'cache'),
        }),
        encoding: 'utf8',
      });
      expect(res.stdout.trim()).toBe('1234');
      expect(fs.statSync(index).uid).toBe(1234);
      expect(fs.statSync(path.join(index, 'cache')).gid).toBe(1234);
    },
  );
});
