// Rewrites the generated settings table in docs/configuration.md from config/settings.ts.
import fs from 'node:fs';
import { withSettingsTable } from '../config/doc.js';

const file = new URL('../docs/configuration.md', import.meta.url);
fs.writeFileSync(file, withSettingsTable(fs.readFileSync(file, 'utf8')));
console.log('docs/configuration.md updated');
