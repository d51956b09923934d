/**
 * One typed configuration from (lowest to highest precedence): defaults, an
 * optional `.env` file, the environment, CLI flags. The `.env` file never
 * overrides a variable already set in the environment.
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import { ConfigError, maskCredentials } from './errors.js';
import { SETTINGS, type SettingKey, type SettingSpec } from './settings.js';

type ValueOf<K extends SettingKey> = (typeof SETTINGS)[K] extends SettingSpec<infer T> ? T : never;

export type Settings = { [K in SettingKey]: ValueOf<K> };

export interface Config extends Settings {
  /** Where the embedded store lives (resolved from indexPath or beside dbPath). */
  resolvedIndexPath: string;
  /** Which dense embedder is in use. */
  embedderKind: 'http' | 'local';
  /** Which store is in use. */
  storeKind: 'qdrant' | 'embedded';
  /** Model id used in fingerprints and sent to the endpoint. */
  resolvedModel: string;
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Flag values keyed by setting key or by flag name; strings are parsed like env values. */
  flags?: Record<string, unknown>;
  /** Path of a .env file; default `.env` in cwd. `false` disables it. */
  envFile?: string | false;
  cwd?: string;
}

export const DEFAULT_HTTP_MODEL = 'BAAI/bge-base-en-v1.5';
export const LOCAL_MODEL = 'glove-sif-100d';

/** Parse a .env file: KEY=VALUE lines, # comments, optional quotes, `export ` prefix. */
export function parseDotEnv(text: string, file: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(trimmed);
    if (!m) {
      throw new ConfigError(
        `${file}:${i + 1} is not KEY=VALUE ("${trimmed.slice(0, 40)}"); fix or remove that line.`,
      );
    }
    let value = m[2]!;
    const q = value[0];
    if ((q === '"' || q === "'") && value.endsWith(q) && value.length >= 2) {
      value = value.slice(1, -1);
      if (q === '"') value = value.replace(/\\n/g, '\n').replace(/\\"/g, '"');
    } else {
      value = value.replace(/\s+#.*$/, '');
    }
    out[m[1]!] = value;
  });
  return out;
}

export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  let fileVars: Record<string, string> = {};
  if (opts.envFile !== false) {
    const file = nodePath.resolve(cwd, opts.envFile ?? '.env');
    if (fs.existsSync(file)) {
      fileVars = parseDotEnv(fs.readFileSync(file, 'utf8'), file);
    } else if (opts.envFile) {
      throw new ConfigError(`The env file ${file} does not exist; check the --env-file path.`);
    }
  }
  const flags = opts.flags ?? {};
  const values: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(SETTINGS) as [SettingKey, SettingSpec<unknown>][]) {
    const flagVal = flags[key] ?? (s.flag ? flags[s.flag] : undefined);
    if (flagVal !== undefined && flagVal !== null) {
      values[key] = typeof flagVal === 'string' ? s.parse(flagVal, s.flag ? `--${s.flag}` : s.env) : flagVal;
      continue;
    }
    const raw = env[s.env] ?? fileVars[s.env];
    // An empty env var means "unset": shells and compose files often export KEY= for optional values.
    if (raw !== undefined && raw.trim() !== '') {
      values[key] = s.parse(raw, s.env);
    } else {
      values[key] = s.default;
    }
  }
  const settings = values as Settings;
  return finish(settings, cwd);
}

function finish(s: Settings, cwd: string): Config {
  const dbPath = nodePath.resolve(cwd, s.dbPath);
  const resolvedIndexPath = s.indexPath
    ? nodePath.resolve(cwd, s.indexPath)
    : nodePath.join(nodePath.dirname(dbPath), 'index.db');
  const embedderKind = s.sparkControlUrl ? 'http' : 'local';
  if (s.chunkOverlapTokens >= s.chunkMaxTokens) {
    throw new ConfigError(
      `CHUNK_OVERLAP_TOKENS=${s.chunkOverlapTokens} must be smaller than CHUNK_MAX_TOKENS=${s.chunkMaxTokens}.`,
    );
  }
  if (embedderKind === 'local' && s.embeddingDim !== undefined && s.embeddingDim !== 100) {
    throw new ConfigError(
      `EMBEDDING_DIM=${s.embeddingDim} does not fit the local embedder (100 dimensions); unset it or set SPARK_CONTROL_URL.`,
    );
  }
  return {
    ...s,
    dbPath,
    resolvedIndexPath,
    embedderKind,
    storeKind: s.qdrantUrl ? 'qdrant' : 'embedded',
    resolvedModel: s.embeddingModel ?? (embedderKind === 'http' ? DEFAULT_HTTP_MODEL : LOCAL_MODEL),
  };
}

/** The config as key=value lines with secrets masked, for `crm-index config` and logs. */
export function describeConfig(c: Config): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(SETTINGS) as [SettingKey, SettingSpec<unknown>][]) {
    const v = c[key];
    out[s.env] = s.secret && v !== undefined ? '********' : typeof v === 'string' ? maskCredentials(v) : v;
  }
  out.resolvedIndexPath = c.resolvedIndexPath;
  out.embedderKind = c.embedderKind;
  out.storeKind = c.storeKind;
  out.resolvedModel = c.resolvedModel;
  return out;
}
