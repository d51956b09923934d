/** Holding a CRM's write lock from another process, as a migration, an import or a VACUUM does. */
import { spawn } from 'node:child_process';

/** Hold the write lock of `dbPath` from another process for `ms`; resolves once it is held, and returns when it ends. */
export async function holdWriteLock(
  dbPath: string,
  ms: number,
): Promise<{ released: Promise<void>; kill(): void }> {
  const code = `
    const Database = require('better-sqlite3');
    const db = new Database(process.argv[1]);
    db.exec('BEGIN IMMEDIATE');
    process.stdout.write('held\\n');
    setTimeout(() => { db.exec('COMMIT'); db.close(); }, Number(process.argv[2]));
  `;
  const child = spawn(process.execPath, ['-e', code, dbPath, String(ms)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    cwd: process.cwd(),
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('held') && resolve());
    child.once('exit', (c) => reject(new Error(`lock holder exited early with ${c}`)));
  });
  const released = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return { released, kill: () => void child.kill('SIGKILL') };
}
