import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));

// Tests import sibling packages from their TypeScript sources, so a unit test
// run needs no build. Integration tests that spawn processes use dist/.
const alias = [
  { find: /^@flotilla\/([a-z0-9-]+)$/, replacement: `${root}packages/$1/src/index.ts` },
  { find: /^@flotilla\/([a-z0-9-]+)\/([a-z0-9-]+)$/, replacement: `${root}packages/$1/src/$2/index.ts` },
];

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'integration',
          include: ['packages/*/test/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Integration tests start real processes and containers; on two
          // cores a few files at once is the most that stays stable.
          maxWorkers: 2,
          fileParallelism: true,
        },
      },
    ],
  },
});
