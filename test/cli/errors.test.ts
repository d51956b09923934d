/**
 * Every error a user can see says what was wrong and what to do. This test
 * lists each message thrown with one of our error kinds anywhere in the code
 * and checks its shape, so a new message without a hint is caught in review.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const LAYERS = [
  'config',
  'crm',
  'triggers',
  'encoders',
  'stores',
  'search',
  'pipeline',
  'entities',
  'mcp',
  'cli',
  'web',
];
const KINDS = 'ConfigError|SourceMapError|SourceError|StoreError|LeaseError|PermanentError|TransientError';

/** Words that tell the reader what to do next (or where to look). */
const HINT =
  /\b(set|unset|run|check|use|give|pass|fix|remove|point|install|raise|lower|wait|restore|edit|add|list|map|rename|delete|start|stop|retry|retrying|retried|try|expected|expects|must|should|needs?|make|choose|pick|keep|see|ask|rebuild|requeue|reduce|increase|free|allow|grant|chmod|drop|upgrade|only|instead|will be|is retried|reinstall|swap|open|report|activate)\b/i;

interface Found {
  file: string;
  line: number;
  kind: string;
  text: string;
}

function* sourceFiles(dir: string): Generator<string> {
  if (!fs.existsSync(dir)) return;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* sourceFiles(p);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) yield p;
  }
}

/**
 * The text of every string and template literal in the first argument (up to
 * its closing comma or parenthesis), joined: `'a ' + 'b'` reads as "a b".
 * Null when the argument has no literal at all (a variable: checked where built).
 */
function literalAfter(src: string, at: number): string | null {
  let out = '';
  let seen = false;
  let depth = 0;
  for (let i = at; i < src.length; i++) {
    const c = src[i]!;
    if (c === '`' || c === "'" || c === '"') {
      seen = true;
      let inner = 0;
      for (i = i + 1; i < src.length; i++) {
        const d = src[i]!;
        if (d === '\\') {
          out += d + (src[i + 1] ?? '');
          i++;
          continue;
        }
        if (c === '`' && d === '$' && src[i + 1] === '{') inner++;
        else if (inner > 0 && d === '}') inner--;
        else if (inner === 0 && d === c) break;
        out += d;
      }
      continue;
    }
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') {
      if (depth === 0) break;
      depth--;
    } else if (c === ',' && depth === 0) break;
  }
  return seen ? out : null;
}

/** A message made only of other messages (`${err.message} ${tail}`) is checked where those are built. */
function onlyInterpolation(text: string): boolean {
  return text.replace(/\$\{[^}]*\}/g, '').trim().length < 3;
}

function collect(): Found[] {
  const found: Found[] = [];
  const re = new RegExp(`new (${KINDS})\\(`, 'g');
  for (const layer of LAYERS) {
    for (const file of sourceFiles(path.join(ROOT, layer))) {
      const src = fs.readFileSync(file, 'utf8');
      for (const m of src.matchAll(re)) {
        const text = literalAfter(src, m.index! + m[0].length);
        if (text === null) continue; // built elsewhere (a variable): checked where it is built
        found.push({
          file: path.relative(ROOT, file),
          line: src.slice(0, m.index).split('\n').length,
          kind: m[1]!,
          text,
        });
      }
    }
  }
  return found;
}

describe('error messages', () => {
  const all = collect();

  it('finds the messages (the scan itself works)', () => {
    expect(all.length).toBeGreaterThan(50);
  });

  it('each says what to do: a hint such as "set", "run", "check" or "expected"', () => {
    const bad = all.filter(
      (f) => !onlyInterpolation(f.text) && !HINT.test(f.text.replace(/\$\{[^}]*\}/g, ' ')),
    );
    expect(bad.map((f) => `${f.file}:${f.line} ${f.kind}: ${f.text}`)).toEqual([]);
  });

  it('each is a sentence of some length, not a bare code', () => {
    const bad = all.filter(
      (f) => !onlyInterpolation(f.text) && f.text.replace(/\$\{[^}]*\}/g, 'X').trim().length < 25,
    );
    expect(bad.map((f) => `${f.file}:${f.line} ${f.kind}: ${f.text}`)).toEqual([]);
  });
});
