/** The demo CRM: deterministic generator, planted facts, and realistic writes for watching the index follow. */
export {
  generateDemo,
  demoCounts,
  largeBodyCount,
  checkDemoArgs,
  MIN_RECORDS,
  MAX_RECORDS,
  DEMO_TABLES,
} from './generate.js';
export type { GenerateOptions, DemoProgress, DemoTable } from './generate.js';
export { writeFacts, readFacts, defaultFactsPath, factCount } from './facts.js';
export type { DemoFacts, PlantedFact } from './facts.js';
export { demoWrite, DEMO_WRITE_KINDS, MAX_DEMO_WRITES } from './write.js';
export type { DemoWriteKind, DemoWriteOptions, DemoWriteChange } from './write.js';
export { Rng } from './rng.js';
