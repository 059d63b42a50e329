// Before each test file of `npm run test:release`: the binding loader (binding.js) takes the
// release binary of this machine's platform, npm/<platform>/…, and no other build.
const fs = require('node:fs');
const path = require('node:path');
const { currentPlatform } = require('../../lib/native');
const { napi } = require('../../package.json');

const platform = currentPlatform();
const binary = path.join(__dirname, '..', '..', 'npm', platform, `${napi.binaryName}.${platform}.node`);
if (!fs.existsSync(binary)) throw new Error(`${binary} is missing: run npm run build:all first`);
process.env.NAPI_RS_NATIVE_LIBRARY_PATH = binary;
