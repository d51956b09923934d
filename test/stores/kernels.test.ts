/**
 * The dense scan's WebAssembly kernels are committed as .wat sources; the
 * bytes the store runs (stores/embedded/kernels.ts) must be exactly what wabt
 * assembles from them, so the two cannot drift.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as kernels from '../../stores/embedded/kernels.js';
import {
  KERNEL_SOURCES,
  KERNELS_MODULE,
  assemble,
  kernelsModuleText,
} from '../../scripts/assemble-kernels.js';

describe('dense scan kernels', () => {
  for (const k of KERNEL_SOURCES) {
    it(`${k.name} is the assembly of ${k.wat}`, async () => {
      const inUse = (kernels as Record<string, Uint8Array>)[k.name];
      expect(inUse).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(inUse!).toString('hex')).toBe(Buffer.from(await assemble(k.wat)).toString('hex'));
    });
  }

  it(`${KERNELS_MODULE} is the assembler's output, unedited (run \`npm run kernels\` after a .wat change)`, async () => {
    const onDisk = fs.readFileSync(new URL(`../../${KERNELS_MODULE}`, import.meta.url), 'utf8');
    expect(onDisk).toBe(await kernelsModuleText());
  });
});
