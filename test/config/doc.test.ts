import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { withSettingsTable } from '../../config/doc.js';
import { SETTINGS } from '../../config/settings.js';

describe('docs/configuration.md', () => {
  it('lists every setting exactly as config/settings.ts defines it (run npm run docs:config after a change)', () => {
    const doc = fs.readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    expect(doc).toBe(withSettingsTable(doc));
    for (const s of Object.values(SETTINGS)) expect(doc).toContain(`\`${s.env}\``);
  });
});
