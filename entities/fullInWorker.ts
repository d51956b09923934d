/**
 * A full entity resolution holds every person's and organization's keys,
 * links and entities at once: about 1 GB of heap at 250k people and 80k
 * organizations, four times the heap the launchers give a whole run. It runs
 * in a child process with its own limit (ENTITY_RESOLUTION_HEAP_MB; a worker
 * thread cannot go above its process's --max-old-space-size), so a CRM too
 * large for it gets a clear error instead of a crash of the whole run, and
 * the memory is returned when the child ends.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ConfigError, PermanentError } from '../config/errors.js';
import type { FullSummary } from './resolve.js';

type Reply = { ok: true; summary: FullSummary } | { ok: false; message: string; kind?: string };

export async function resolveFullInWorker(opts: {
  dbPath: string;
  busyTimeoutMs: number;
  heapMb: number;
}): Promise<FullSummary> {
  // Under tsx (tests) this module is TypeScript and so is the child: load tsx in it first.
  const ts = import.meta.url.endsWith('.ts');
  const script = fileURLToPath(new URL(`./fullWorker.${ts ? 'ts' : 'js'}`, import.meta.url));
  const child = fork(script, [opts.dbPath, String(opts.busyTimeoutMs)], {
    execArgv: [...(ts ? ['--import', 'tsx'] : []), `--max-old-space-size=${opts.heapMb}`],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  let outOfMemory = false;
  child.stderr!.on('data', (d: Buffer) => {
    const text = d.toString();
    // V8's report starts with this line, then a long stack: look at every chunk, keep only the start.
    if (/heap out of memory|Allocation failed/i.test(text)) outOfMemory = true;
    if (stderr.length < 4000) stderr += text;
  });
  return new Promise<FullSummary>((resolve, reject) => {
    let reply: Reply | undefined;
    child.once('message', (m: Reply) => (reply = m));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (reply?.ok) return resolve(reply.summary);
      if (reply)
        return reject(
          reply.kind === 'config' ? new ConfigError(reply.message) : new PermanentError(reply.message),
        );
      if (outOfMemory) {
        return reject(
          new ConfigError(
            `Entity resolution needed more than ENTITY_RESOLUTION_HEAP_MB=${opts.heapMb} MB of heap for this CRM (about 1 GB per 250,000 people); raise ENTITY_RESOLUTION_HEAP_MB, or rebuild with --no-resolve to keep the entity ids of the last resolution.`,
          ),
        );
      }
      reject(
        new PermanentError(
          `The entity resolution process stopped (${signal ?? `code ${code}`}) before it finished: ${stderr.trim().split('\n').slice(0, 3).join(' ') || 'no output'}. Run the command again, and report it if it repeats.`,
        ),
      );
    });
  });
}
