/**
 * Errors are values with a kind. Every message says what was wrong, where, and
 * what to do; the CLI prints `message` and maps `kind` to an exit code.
 */

export type ErrorKind = 'config' | 'source-map' | 'transient' | 'permanent' | 'source' | 'store' | 'lease';

/** `user:password@` in any URL inside `text`, replaced by `***@`: messages reach logs, health and screens. */
export function maskCredentials(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi, '$1***@');
}

export abstract class CrmIndexError extends Error {
  abstract readonly kind: ErrorKind;
  constructor(message: string, options?: { cause?: unknown }) {
    super(maskCredentials(message), options);
    this.name = new.target.name;
  }
}

/** A setting (env var, .env line, flag or store file field) has a bad value. */
export class ConfigError extends CrmIndexError {
  readonly kind = 'config' as const;
}

/** The source map does not fit the database: a missing table or column, a view, no primary key. */
export class SourceMapError extends CrmIndexError {
  readonly kind = 'source-map' as const;
}

/** The CRM database itself is missing, not SQLite, or locked beyond the busy timeout. */
export class SourceError extends CrmIndexError {
  readonly kind = 'source' as const;
}

/** Worth retrying: network failure, 5xx, 429, a busy database, a store that is down. */
export class TransientError extends CrmIndexError {
  readonly kind = 'transient' as const;
  constructor(message: string, options?: { cause?: unknown; retryAfterMs?: number }) {
    super(message, options);
    this.retryAfterMs = options?.retryAfterMs;
  }
  readonly retryAfterMs: number | undefined;
}

/** Retrying will not help: bad request, wrong vector dimension, NaN in a vector. Dead-letter it. */
export class PermanentError extends CrmIndexError {
  readonly kind = 'permanent' as const;
}

/**
 * The embedder is wrong for every record, not for this one: wrong vector
 * dimension, refused credentials, an unknown model or URL. Nothing is
 * dead-lettered for it; the daemon pauses, retries and reports it in health,
 * and a one-shot run stops with it.
 */
export class EmbedderFaultError extends PermanentError {}

/** Another process holds the cursor lease (one writer per cursor). */
export class LeaseError extends CrmIndexError {
  readonly kind = 'lease' as const;
}

/** Store-level failure that is not transient (schema mismatch, unwritable location). */
export class StoreError extends CrmIndexError {
  readonly kind = 'store' as const;
}

export function errorMessage(err: unknown): string {
  return maskCredentials(err instanceof Error ? err.message : String(err));
}
