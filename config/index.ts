export * from './errors.js';
export * from './settings.js';
export * from './load.js';
export * from './log.js';
