'use strict';
// Loads the native binding through the loader napi-rs generates (binding.js), which picks the
// binary for this platform: a `.node` file beside it (a build from the repository) or the
// platform package `@neolith/orchestrator-router-<platform>` (an install from npm, through the
// main package's optionalDependencies). When neither loads, the loader's own error says only
// "Cannot find native binding"; this one names the platform, the platforms with a prebuilt
// binary, and what to do.

const fs = require('node:fs');
const packageJson = require('../package.json');

/** napi-rs's name for a target triple's platform: `x86_64-unknown-linux-musl` → `linux-x64-musl`. */
function platformOf(triple) {
  const [arch, , os, abi] = triple.split('-');
  const cpu = { x86_64: 'x64', aarch64: 'arm64' }[arch] ?? arch;
  if (os === 'darwin') return `darwin-${cpu}`;
  if (os === 'windows') return `win32-${cpu}-${abi}`;
  return `${os}-${cpu}-${abi}`;
}

/** A platform's binary, as napi-rs names it: `orchestrator-router.linux-x64-gnu.node`. */
function binaryFileOf(platform) {
  return `${packageJson.napi.binaryName}.${platform}.node`;
}

/** The platforms a prebuilt binary is published for (the `napi` targets in package.json). */
const SUPPORTED_PLATFORMS = Object.freeze(packageJson.napi.targets.map(platformOf));

/**
 * Whether this Linux runs on musl (Alpine) rather than glibc, decided as the loader decides it:
 * by what /usr/bin/ldd is, else by whether the process report names a glibc.
 */
function isMusl() {
  if (process.platform !== 'linux') return false;
  try {
    return fs.readFileSync('/usr/bin/ldd', 'utf8').includes('musl');
  } catch {
    const report = typeof process.report?.getReport === 'function' ? process.report.getReport() : null;
    return !report?.header?.glibcVersionRuntime;
  }
}

/** This machine's platform, spelled as the platform packages are. */
function currentPlatform() {
  if (process.platform === 'linux') return `linux-${process.arch}-${isMusl() ? 'musl' : 'gnu'}`;
  if (process.platform === 'win32') return `win32-${process.arch}-msvc`;
  return `${process.platform}-${process.arch}`;
}

/** The first error of the loader's chain of causes: what the platform's dlopen said. */
function rootCause(error) {
  let cause = error;
  while (cause?.cause instanceof Error) cause = cause.cause;
  return cause;
}

/** The error thrown when the binding does not load, with the loader's error as its cause. */
function loadError(cause) {
  const platform = currentPlatform();
  const supported = SUPPORTED_PLATFORMS.includes(platform);
  const platformPackage = `${packageJson.name}-${platform}`;
  const forced = process.env.NAPI_RS_NATIVE_LIBRARY_PATH;
  const message = forced
    ? `${packageJson.name} could not load the binary NAPI_RS_NATIVE_LIBRARY_PATH names, ${forced}, on ${platform}: ` +
      rootCause(cause).message
    : supported
    ? `${packageJson.name} could not load its native binary for ${platform}. It comes in the optional dependency ` +
      `${platformPackage}@${packageJson.version}: install it (npm install ${platformPackage}@${packageJson.version}), or ` +
      'reinstall without --omit=optional. A lock file written on another platform can leave it out ' +
      '(npm/cli#4828): then remove package-lock.json and node_modules and install again.'
    : `${packageJson.name} has no native binary for ${platform} (Node.js ${process.version}). Prebuilt binaries ` +
      `exist for ${SUPPORTED_PLATFORMS.join(', ')}; elsewhere, build one from the repository with a Rust toolchain ` +
      '(npm run build) and point NAPI_RS_NATIVE_LIBRARY_PATH at it.';
  const error = new Error(message);
  error.code = 'ERR_ORCHESTRATOR_ROUTER_NO_BINARY';
  error.platform = platform;
  error.supportedPlatforms = SUPPORTED_PLATFORMS;
  error.cause = cause;
  return error;
}

/** The native binding (require caches it); throws {@link loadError}'s error when it cannot load. */
function loadBinding() {
  try {
    return require('../binding.js');
  } catch (cause) {
    throw loadError(cause);
  }
}

module.exports = { loadBinding, SUPPORTED_PLATFORMS, currentPlatform, platformOf, binaryFileOf };
