/** The capture layer's public surface: trigger SQL, install/verify/uninstall, and changelog cursors. */
export * from './sql.js';
export * from './install.js';
export * from './changelog.js';
