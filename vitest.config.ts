import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real SQLite files, child processes and HTTP servers: give slow machines room.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: forks keep native addons (better-sqlite3) isolated per file.
    pool: 'forks',
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
