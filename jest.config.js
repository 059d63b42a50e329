// jest runs the TypeScript tests under __tests__/ against a real redis-server that the global
// setup starts on a free port (or against REDIS_URL when it is set).
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/__tests__/tsconfig.json' }] },
  testMatch: ['<rootDir>/__tests__/**/*.test.ts'],
  // The release checks need every target's binary (npm run build:all): `npm run test:release`.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/__tests__/release/'],
  // The stand-in for @neolith/core (__tests__/core-swap) imports its workspace packages by name.
  moduleNameMapper: {
    '^@neolith/database$': '<rootDir>/__tests__/core-swap/database/index.ts',
    '^@neolith/orchestrator-router$': '<rootDir>/index.js',
  },
  globalSetup: '<rootDir>/__tests__/support/global-setup.ts',
  globalTeardown: '<rootDir>/__tests__/support/global-teardown.ts',
  testTimeout: 30000,
};
