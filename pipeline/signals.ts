/**
 * Graceful shutdown: the first SIGINT/SIGTERM aborts (the current batch
 * finishes or is abandoned, never acked partially); a second one forces exit.
 */
export function shutdownSignal(onFirst?: (sig: NodeJS.Signals) => void): AbortSignal {
  const ac = new AbortController();
  let count = 0;
  const handler = (sig: NodeJS.Signals) => {
    count++;
    if (count === 1) {
      process.stderr.write(`crm-index: ${sig} received; finishing the current batch (send again to force)\n`);
      ac.abort();
      onFirst?.(sig);
    } else {
      process.stderr.write(`crm-index: ${sig} again; exiting now\n`);
      process.exit(sig === 'SIGINT' ? 130 : 143);
    }
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return ac.signal;
}

/** Wait `ms`, or less if `signal` aborts first (never rejects: callers check `signal.aborted`). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}

/**
 * One turn of the event loop (timers, I/O, signals, worker replies). A batch
 * whose embedder and store both complete synchronously (the local embedder
 * and the embedded store: the defaults) never yields to the event loop on
 * its own, so a long run calls this between pages: otherwise health checks,
 * metrics, lease renewals and SIGTERM all wait for the whole backlog.
 */
export function turn(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}
