/**
 * The source-map handover for a running follower. Capture records which map
 * it was installed for (triggers/install.ts); a follower compares that with
 * the map it renders with, at start and before each job:
 *
 *   same map (or none recorded) ─▶ carry on
 *   another map, and the follower's map file now holds it ─▶ reload
 *       (`crm-index install` ran with the edited file: the installed map is the newer one)
 *   another map otherwise ─▶ stop, naming both maps
 *
 * Invariant: a follower never rewrites the triggers for a map other than the
 * installed one (installCapture refuses without `replaceMap`), so an old
 * process cannot undo a new map, and the index is never rendered with two maps.
 */
import { loadSourceMap, sourceMapFile } from '../crm/loadSourceMap.js';
import type { Db } from '../crm/db.js';
import { sourceMapIdentity, type SourceMap } from '../crm/sourceMap.js';
import { describeMapMismatch, installedSourceMap } from '../triggers/install.js';

export type MapHandover =
  { action: 'same' } | { action: 'reload'; message: string } | { action: 'stop'; message: string };

export function checkMapHandover(db: Db, map: SourceMap): MapHandover {
  const installed = installedSourceMap(db);
  if (installed === null || installed.identity === sourceMapIdentity(map)) return { action: 'same' };
  const mismatch = describeMapMismatch(installed, map);
  const file = sourceMapFile(map);
  let onDisk: SourceMap | undefined;
  try {
    onDisk = file === undefined ? undefined : loadSourceMap(file);
  } catch {
    onDisk = undefined; // an edited file that does not load is not the installed map
  }
  if (onDisk && sourceMapIdentity(onDisk) === installed.identity) {
    return {
      action: 'reload',
      message: `${mismatch}; ${file} now holds the installed map, so follow reloads it and sweeps to re-render what changed.`,
    };
  }
  return {
    action: 'stop',
    message:
      `${mismatch}. follow stops rather than index with another map or rewrite the triggers: ` +
      `restart it with CRM_SOURCE_MAP set to the installed map, or run \`crm-index install\` with this one first.`,
  };
}
