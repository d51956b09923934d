import { v5 as uuidv5 } from 'uuid';
import { describe, expect, it } from 'vitest';
import { POINT_NAMESPACE, pointId } from '../../stores/ids.js';

describe('pointId', () => {
  it('equals the uuid package v5 for ASCII, unicode, astral and long keys', () => {
    const keys = [
      'people:1',
      'interactions:123456789',
      'organizations:Ünïcödé café',
      'notes:emoji🎉',
      'deal_people:7|"quoted"|x',
      `notes:${'x'.repeat(5000)}`,
      '',
      'lone:\uD800x',
      // The name plus the 16 namespace bytes around the one- and two-block padding limits (55/56, 119/120 bytes).
      ...[36, 37, 38, 39, 40, 41, 100, 101, 102, 103, 104].map((n) => `k:${'y'.repeat(n)}`),
      ...[30, 31, 32, 33].map((n) => `é:${'z'.repeat(n)}`),
    ];
    for (const k of keys) {
      for (const i of [0, 1, 17, 255]) {
        // uuid's own UTF-8 encoder rejects lone surrogates; Buffer's (which node:crypto used) maps them to U+FFFD.
        const name = k.includes('\uD800') ? Buffer.from(`${k}#${i}`, 'utf8') : `${k}#${i}`;
        expect(pointId(k, i), `${k.slice(0, 30)}#${i}`).toBe(uuidv5(name, POINT_NAMESPACE));
      }
    }
  });

  it('is a version-5 RFC 9562 UUID, stable across calls', () => {
    const id = pointId('people:1', 0);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(pointId('people:1', 0)).toBe(id);
    expect(pointId('people:1', 1)).not.toBe(id);
  });
});
