/**
 * What `start-cli s9pk pack` does before it builds anything, reproduced
 * without start-cli: `make` (the SDK's s9pk.mk) in a fresh copy of the
 * repository runs the type-check, the SDK lint and the ncc bundle, then stops
 * at the missing start-cli; the packer's own manifest command reads the
 * bundle from the repository root; the files the packer requires are there;
 * the image's build context holds the Dockerfile the manifest names.
 *
 * The copy is a clean clone of the working tree (tracked and untracked files,
 * not ignored ones) with node_modules linked in, so the build never rewrites
 * this repository's dist/ while other test files run the CLI from it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

/** The exact command start-cli runs to read the manifest, from the package root. */
const PACKER_MANIFEST_COMMAND = `console.log(JSON.stringify(require('./javascript/index.js').manifest))`;

const onPath = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const hasMake = onPath('make');
const hasStartCli = onPath('start-cli');
const hasGit = onPath('git') && fs.existsSync(path.join(root, '.git'));
const hasJq = onPath('jq');

/**
 * A stand-in start-cli for the make targets that pack: it logs its
 * arguments, lists the bundle as the ingredient, "packs" by writing the
 * manifest the packer's own command reads, and inspects by printing it back.
 */
const FAKE_START_CLI = `#!/usr/bin/env bash
set -euo pipefail
echo "$*" >>"$FAKE_START_CLI_LOG"
case "$1 $2" in
  "s9pk list-ingredients") echo javascript/index.js ;;
  "s9pk pack")
    out=""
    while (($#)); do [[ "$1" == "-o" ]] && out="$2"; shift; done
    node -e "${PACKER_MANIFEST_COMMAND}" >"$out"
    ;;
  "s9pk inspect") cat "$3" ;;
  *) echo "stand-in start-cli: $* is not emulated" >&2; exit 1 ;;
esac
`;

/** A clean clone of the working tree: every file git would commit, none it ignores. */
function cleanCopy(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-index-pack-'));
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: root,
    encoding: 'utf8',
  })
    .split('\0')
    .filter((f) => f !== '' && fs.existsSync(path.join(root, f)));
  for (const f of files) {
    const to = path.join(dir, f);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(path.join(root, f), to);
    fs.chmodSync(to, fs.statSync(path.join(root, f)).mode);
    // Keep the sources' times: make compares them with node_modules.
    const { atime, mtime } = fs.statSync(path.join(root, f));
    fs.utimesSync(to, atime, mtime);
  }
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  // s9pk.mk reinstalls node_modules (`npm ci`, which empties it first) when package*.json is newer,
  // and its recursive make does not inherit `-o node_modules`: date the manifests back so the linked
  // node_modules is never out of date, and refuse any install through it (guardedPath) regardless.
  const old = new Date('2001-01-01T00:00:00Z');
  for (const f of ['package.json', 'package-lock.json']) fs.utimesSync(path.join(dir, f), old, old);
  return dir;
}

/**
 * A PATH whose `npm` refuses ci, install, prune and uninstall (they would rewrite the linked
 * node_modules of this repository) and runs every other npm command as usual.
 */
function guardedPath(): string {
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-index-npm-guard-'));
  const realNpm = execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim();
  fs.writeFileSync(
    path.join(bin, 'npm'),
    `#!/usr/bin/env bash
case "$1" in
  ci|install|i|prune|uninstall|rm|update)
    echo "npm $1 refused in the packing test: it would rewrite the linked node_modules" >&2; exit 97 ;;
esac
exec "${realNpm}" "$@"
`,
    { mode: 0o755 },
  );
  return `${bin}${path.delimiter}${process.env.PATH}`;
}

describe('the files start-cli requires at the package root', () => {
  it('has an icon, LICENSE, instructions.md and an assets folder', () => {
    const icons = ['icon.svg', 'icon.png'].filter((f) => fs.existsSync(path.join(root, f)));
    expect(icons.length, 'icon.svg or icon.png').toBe(1);
    if (icons[0] === 'icon.svg') {
      expect(fs.readFileSync(path.join(root, 'icon.svg'), 'utf8')).toMatch(/^<svg [^>]*xmlns=/);
    }
    const license = fs.readFileSync(path.join(root, 'LICENSE'), 'utf8');
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { license: string };
    expect(license).toMatch(new RegExp(`^${pkg.license} License`));
    const instructions = fs.readFileSync(path.join(root, 'instructions.md'), 'utf8');
    expect(instructions).toMatch(/^# /);
    expect(fs.statSync(path.join(root, 'assets')).isDirectory()).toBe(true);
    // git keeps no empty folders: something must hold assets/ in a clone.
    expect(fs.readdirSync(path.join(root, 'assets')).length).toBeGreaterThan(0);
  });

  it('names the scripts s9pk.mk drives: check and build (which bundles startos/)', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.check).toContain('startos/tsconfig.json');
    expect(pkg.scripts.build).toContain('build:startos');
    expect(pkg.scripts.build).toContain('build:cli');
    expect(pkg.scripts['build:startos']).toMatch(/ncc build startos\/index\.ts -o javascript/);
    const makefile = fs.readFileSync(path.join(root, 'Makefile'), 'utf8');
    expect(makefile).toMatch(/^include node_modules\/@start9labs\/start-sdk\/s9pk\.mk$/m);
  });
});

describe.skipIf(!hasMake || !hasGit || hasStartCli)(
  'make from a clean clone (skipped where make or git is missing, or start-cli is installed)',
  () => {
    let dir = '';
    let make: { status: number | null; out: string } = { status: null, out: '' };

    beforeAll(() => {
      dir = cleanCopy();
      // -o node_modules: never let s9pk.mk's `npm ci` touch the linked node_modules.
      const res = spawnSync('make', ['-o', 'node_modules'], {
        cwd: dir,
        encoding: 'utf8',
        env: { ...process.env, MAKEFLAGS: '', PATH: guardedPath() },
      });
      make = { status: res.status, out: `${res.stdout}${res.stderr}` };
    }, 600_000);

    afterAll(() => {
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('type-checks, lints and bundles, then stops with the clear start-cli message', () => {
      expect(make.status, make.out).not.toBe(0);
      const at = (needle: string) => make.out.indexOf(needle);
      expect(at('npm run check'), make.out).toBeGreaterThanOrEqual(0);
      expect(at('tsc -p startos/tsconfig.json --noEmit')).toBeGreaterThan(at('npm run check'));
      expect(at('npm run build'), make.out).toBeGreaterThan(at('npm run check'));
      expect(at('ncc build startos/index.ts')).toBeGreaterThan(at('npm run build'));
      expect(at('Error: start-cli not found')).toBeGreaterThan(at('ncc build startos/index.ts'));
      // The SDK lint prints nothing when clean; an error would show here.
      expect(make.out).not.toMatch(/\d+ problems? \(\d+ errors?/);
      expect(fs.existsSync(path.join(dir, 'javascript/index.js'))).toBe(true);
      expect(fs.existsSync(path.join(dir, 'dist/cli/main.js'))).toBe(true);
    });

    it("prints the manifest with start-cli's own command from the repository root", () => {
      const out = execFileSync(process.execPath, ['-e', PACKER_MANIFEST_COMMAND], {
        cwd: dir,
        encoding: 'utf8',
      });
      expect(out.trim()).not.toBe('undefined');
      const manifest = JSON.parse(out) as Record<string, any>;
      expect(manifest).toMatchObject({
        id: 'crm-index',
        version: '0.1.0:0',
        license: 'MIT',
        volumes: ['main', 'startos'],
        images: {
          main: {
            arch: ['x86_64', 'aarch64'],
            source: { dockerBuild: { dockerfile: 'Dockerfile', workdir: '.' } },
          },
        },
      });
      // The build context start-cli hands to Docker holds the Dockerfile the manifest names.
      const build = manifest.images.main.source.dockerBuild as { dockerfile: string; workdir: string };
      expect(fs.existsSync(path.join(dir, build.workdir, build.dockerfile))).toBe(true);
      // s9pk.mk names the package by the manifest's id line.
      const name = spawnSync('make', ['-s', 'print-BASE_NAME'], {
        cwd: dir,
        encoding: 'utf8',
        env: { ...process.env, PATH: guardedPath() },
      });
      expect(name.stdout.trim()).toBe(manifest.id);
    });

    it.skipIf(!hasJq)(
      'with start-cli on the PATH, make x86 and make arm pack one architecture each (a stand-in start-cli; skipped without jq)',
      () => {
        const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'crm-index-start-cli-'));
        try {
          fs.writeFileSync(path.join(bin, 'start-cli'), FAKE_START_CLI, { mode: 0o755 });
          const log = path.join(bin, 'calls.log');
          const env = {
            ...process.env,
            MAKEFLAGS: '',
            PATH: `${bin}${path.delimiter}${guardedPath()}`,
            FAKE_START_CLI_LOG: log,
          };
          for (const [target, arch] of [
            ['x86', 'x86_64'],
            ['arm', 'aarch64'],
          ] as const) {
            const res = spawnSync('make', ['-o', 'node_modules', target], {
              cwd: dir,
              encoding: 'utf8',
              env,
            });
            expect(res.status, `${res.stdout}${res.stderr}`).toBe(0);
            expect(res.stdout).toContain('Build Complete!');
            const packed = JSON.parse(fs.readFileSync(path.join(dir, `crm-index_${arch}.s9pk`), 'utf8')) as {
              id: string;
            };
            expect(packed.id).toBe('crm-index');
          }
          const calls = fs.readFileSync(log, 'utf8');
          expect(calls).toContain('s9pk pack --arch=x86_64 -o crm-index_x86_64.s9pk');
          expect(calls).toContain('s9pk pack --arch=aarch64 -o crm-index_aarch64.s9pk');
          expect(calls).not.toContain('riscv');
        } finally {
          fs.rmSync(bin, { recursive: true, force: true });
        }
      },
    );

    it('exports the StartOS ABI from the bundle', () => {
      const probe = `const m = require('./javascript/index.js');
        console.log(JSON.stringify({
          kinds: Object.fromEntries(['main', 'init', 'uninit', 'createBackup', 'actions', 'manifest'].map((k) => [k, typeof m[k]])),
          actions: ['configure', 'build-search-index', 'refresh-search-index', 'index-status', 'mcp-connection', 'remove-capture'].map((id) => m.actions.get(id)?.id ?? null),
        }))`;
      const out = JSON.parse(
        execFileSync(process.execPath, ['-e', probe], { cwd: dir, encoding: 'utf8' }),
      ) as { kinds: Record<string, string>; actions: (string | null)[] };
      expect(out.kinds).toEqual({
        main: 'function',
        init: 'function',
        uninit: 'function',
        createBackup: 'function',
        actions: 'object',
        manifest: 'object',
      });
      expect(out.actions).toEqual([
        'configure',
        'build-search-index',
        'refresh-search-index',
        'index-status',
        'mcp-connection',
        'remove-capture',
      ]);
    });
  },
);
