// Before each test file of `npm run test:release` (and of the release workflow's test jobs): the
// binding loader (binding.js) takes the release binary — $ORCHESTRATOR_ROUTER_BINARY, else this
// machine's platform's, npm/<platform>/… — and no other build. It is set here, in the test
// environment, rather than for the whole jest process: jest's own resolver is a napi-rs addon too
// and would read NAPI_RS_NATIVE_LIBRARY_PATH as its own.
const fs = require('node:fs');
const path = require('node:path');
const { currentPlatform, binaryFileOf } = require('../../lib/native');

const platform = currentPlatform();
const binary = process.env.ORCHESTRATOR_ROUTER_BINARY
  || path.join(__dirname, '..', '..', 'npm', platform, binaryFileOf(platform));
if (!fs.existsSync(binary)) throw new Error(`${binary} is missing: run npm run build:all first`);
process.env.NAPI_RS_NATIVE_LIBRARY_PATH = binary;
