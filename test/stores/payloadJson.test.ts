/**
 * The embedded store serialises the payload shared by a record's chunks once
 * per record. In the current layout the chunk's index and text are columns of
 * their own, and a row read back (payloadFromRow) must equal the payload
 * given, with the same key order when chunk_index and text come last (how the
 * indexer builds payloads). A generation of the first layout stores the whole
 * payload: the shared part plus each chunk's index and text appended, which
 * must be byte-identical to JSON.stringify.
 */
import { describe, expect, it } from 'vitest';
import { payloadFromRow, payloadJsons } from '../../stores/embedded/sql.js';
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

  const ps = [
    ...texts.map((t, i) => payload('interactions:1', 'fpA', i, t)),
    payload('interactions:2', 'fpB', 0, 'other record'),
    payload('interactions:2', 'fpB', 1, 'other record, second chunk'),
    // Same record, new version: the shared part is serialised again.
    payload('interactions:2', 'fpC', 0, 'new version', { title: 'Renamed' }),
    payload('interactions:1', 'fpA', 0, 'first record again, after another'),
  ];

  it('stores the shared part once per record; a row reads back as the same payload, keys in the same order', () => {
    const out = payloadJsons(ps);
    out.forEach((json, i) => {
      // eslint-disable-next-line @typescript-eslint/no-unused-vars
      const { chunk_index, text, ...rest } = ps[i]!;
      expect(json).toBe(JSON.stringify(rest));
      const back = payloadFromRow(json, ps[i]!.chunk_index, ps[i]!.text);
      expect(JSON.stringify(back)).toBe(JSON.stringify(ps[i]));
    });
    // One string per record version, not one per chunk.
    expect(new Set(out.slice(0, texts.length)).size).toBe(1);
  });

  it('first layout: equals JSON.stringify byte for byte when chunk_index and text come last', () => {
    const out = payloadJsons(ps, false);
    expect(out).toEqual(ps.map((p) => JSON.stringify(p)));
    // Such a row has no text column (NULL): its JSON is the whole payload.
    out.forEach((json, i) => expect(payloadFromRow(json, 99, null)).toEqual(ps[i]));
  });

  it('parses back to the same payload when the keys come in another order', () => {
    const odd = [
      { text: 'text first', chunk_index: 0, record_key: 'notes:1', fingerprint: 'f', table: 'notes' },
      { record_key: 'notes:1', chunk_index: 1, fingerprint: 'f', text: 'middle', table: 'notes' },
      { chunk_index: 0, text: 'only the two', record_key: 'notes:2', fingerprint: 'g' },
    ] as unknown as ChunkPayload[];
    payloadJsons(odd, false).forEach((json, i) => expect(JSON.parse(json)).toEqual(odd[i]));
    payloadJsons(odd).forEach((json, i) =>
      expect(payloadFromRow(json, odd[i]!.chunk_index, odd[i]!.text)).toEqual(odd[i]),
    );
  });
});
