/** Files that are either complete or absent: written beside their place, then renamed over it. */
import fs from 'node:fs';

/**
 * Write `file` through `tmp` (the caller names it, so it can find its own
 * leftovers after a crash): `write` fills the open descriptor, then the temp
 * file is synced when `sync` is set, and renamed over `file`. On any error
 * the temp file is removed and the error rethrown.
 */
export function replaceFile(
  file: string,
  tmp: string,
  write: (fd: number) => void,
  opts: { sync?: boolean } = {},
): void {
  const fd = fs.openSync(tmp, 'w');
  try {
    write(fd);
    if (opts.sync) fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
}
