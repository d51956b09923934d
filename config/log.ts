/**
 * JSON logs on stderr (stdout is reserved for command output and the MCP stdio
 * transport). One pino root logger; modules take children named for themselves.
 */
import { pino, type Logger } from 'pino';

let root: Logger | undefined;

export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(2));
}

export function logger(name?: string): Logger {
  root ??= createLogger();
  return name ? root.child({ mod: name }) : root;
}

export function setLogLevel(level: string): void {
  root ??= createLogger(level);
  root.level = level;
}

export type { Logger };
