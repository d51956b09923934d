/**
 * The HTTP embedder's thread: an `HttpEmbedder` (request bodies, the socket
 * writes, reply parsing, base64 decoding, retries) driven by messages from
 * `ThreadedHttpEmbedder`. See httpThread.ts for the protocol.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { HttpEmbedder, type HttpEmbedderSettings } from './http.js';
import { errorToWire, type FromThread, type ToThread } from './httpThread.js';

const port = parentPort!;
const embedder = new HttpEmbedder((workerData as { settings: HttpEmbedderSettings }).settings);
const aborts = new Map<number, AbortController>();

function state(): Pick<FromThread, 'dim' | 'encoding' | 'stats'> {
  return { dim: embedder.dim, encoding: embedder.encoding, stats: { ...embedder.stats } };
}

async function handle(m: Exclude<ToThread, { t: 'abort' | 'close' }>): Promise<void> {
  try {
    if (m.t === 'init') {
      await embedder.init();
      port.postMessage({ id: m.id, ok: true, ...state() } satisfies FromThread);
      return;
    }
    const ac = new AbortController();
    aborts.set(m.id, ac);
    const vectors = await embedder.embed(m.texts, { signal: ac.signal });
    // One buffer for the whole batch, moved (not copied) to the caller.
    const dim = vectors[0]?.length ?? 0;
    const all = new Float32Array(vectors.length * dim);
    for (let i = 0; i < vectors.length; i++) all.set(vectors[i]!, i * dim);
    port.postMessage(
      { id: m.id, ok: true, ...state(), vectors: all.buffer, count: vectors.length } satisfies FromThread,
      [all.buffer],
    );
  } catch (err) {
    port.postMessage({ id: m.id, ok: false, error: errorToWire(err), ...state() } satisfies FromThread);
  } finally {
    aborts.delete(m.id);
  }
}

port.on('message', (m: ToThread) => {
  if (m.t === 'abort') aborts.get(m.id)?.abort();
  else if (m.t === 'close') void embedder.close().finally(() => port.close());
  else void handle(m);
});
