// `npm run test:release`: the checks of a release, after `npm run build:all` has built every
// target's binary into npm/<platform>/ — each binary's format, architecture, libc and exports
// (__tests__/release/binaries.test.ts); the tarballs a release publishes, installed the way users
// install them (__tests__/release/packages.test.ts); and the routing contract suite again, with
// the release binary of this machine's platform loaded instead of the development build.
const base = require('./jest.config');

module.exports = {
  ...base,
  testMatch: ['<rootDir>/__tests__/release/**/*.test.ts', '<rootDir>/__tests__/contract.test.ts'],
  testPathIgnorePatterns: ['/node_modules/'],
  setupFiles: ['<rootDir>/__tests__/release/use-release-binary.js'],
};
