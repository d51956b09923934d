/**
 * Point ids: UUIDv5 of `recordKey#chunkIndex` under a fixed namespace, so the
 * same chunk of the same record always lands on the same point (idempotent
 * re-upserts; no orphans from random ids).
 */
import { v5 as uuidv5 } from 'uuid';

/** Fixed namespace for crm-index point ids. Changing it would orphan every existing point. */
export const POINT_NAMESPACE = '6f1c7a52-3d0e-5b8e-9a4f-2c61d0b7e915';

export function pointId(recordKey: string, chunkIndex: number): string {
  return uuidv5(`${recordKey}#${chunkIndex}`, POINT_NAMESPACE);
}
