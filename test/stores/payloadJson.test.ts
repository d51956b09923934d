/**
 * The embedded store serialises the payload shared by a record's chunks once
 * and appends each chunk's index and text: the result must parse to exactly
 * the payload given, whatever the key order, and be byte-identical to
 * JSON.stringify when chunk_index and text come last (how the indexer builds
 * payloads).
 */
import { describe, expect, it } from 'vitest';
import { payloadJsons } from '../../stores/embedded/sql.js';
import type { ChunkPayload } from '../../stores/types.js';

function payload(record: string, fp: string, i: number, text: string, extra: object = {}): ChunkPayload {
  return {
    kind: 'meeting',
    stage: null,
    organization_id: '7',
    date: '2026-01-01',
    owner: 'ana',
    title: 'Board "Q1" review',
    entity_ids: ['org:7', 'person:1'],
    ...extra,
    record_key: record,
    table: 'interactions',
    chunk_count: 3,
    fingerprint: fp,
    chunk_index: i,
    text,
  } as ChunkPayload;
}

describe('payloadJsons', () => {
  const texts = [
    'plain',
    'quotes " and \\ backslash',
    'line\nbreak\ttab',
    'ünï 🎉 \u2028',
    'lone \uD800 surrogate',
    '',
  ];

  it('equals JSON.stringify byte for byte when chunk_index and text come last', () => {
    const ps = [
      ...texts.map((t, i) => payload('interactions:1', 'fpA', i, t)),
      payload('interactions:2', 'fpB', 0, 'other record'),
      payload('interactions:2', 'fpB', 1, 'other record, second chunk'),
      // Same record, new version: the shared part is serialised again.
      payload('interactions:2', 'fpC', 0, 'new version', { title: 'Renamed' }),
      payload('interactions:1', 'fpA', 0, 'first record again, after another'),
    ];
    expect(payloadJsons(ps)).toEqual(ps.map((p) => JSON.stringify(p)));
  });

  it('parses back to the same payload when the keys come in another order', () => {
    const odd = [
      { text: 'text first', chunk_index: 0, record_key: 'notes:1', fingerprint: 'f', table: 'notes' },
      { record_key: 'notes:1', chunk_index: 1, fingerprint: 'f', text: 'middle', table: 'notes' },
      { chunk_index: 0, text: 'only the two', record_key: 'notes:2', fingerprint: 'g' },
    ] as unknown as ChunkPayload[];
    const out = payloadJsons(odd);
    out.forEach((json, i) => expect(JSON.parse(json)).toEqual(odd[i]));
  });
});
