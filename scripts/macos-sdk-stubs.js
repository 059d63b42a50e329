#!/usr/bin/env node
'use strict';
// `node scripts/macos-sdk-stubs.js <darwin .node>…`: writes the text stubs (.tbd) of the two
// macOS frameworks the binding links, CoreFoundation and Security (through rustls-native-certs),
// into cross/macos-sdk, listing every symbol the given darwin binaries take from them, so that a
// darwin build on Linux (`npm run build:all`, zig, SDKROOT=cross/macos-sdk) binds each symbol to
// its framework as Apple's linker would. Run it on binaries that build:all made after a
// dependency update; the release test (`__tests__/release/binaries.test.ts`) fails while a
// framework symbol is left unbound. Symbols named CF… come from CoreFoundation, all others
// (Sec…, CMS…, Authorization…, SSL…) from Security.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { llvmTool } = require('./llvm-tools');

const SDK = path.join(__dirname, '..', 'cross', 'macos-sdk');
const FRAMEWORKS = {
  CoreFoundation: { version: '1953.300', owns: (symbol) => /^_k?CF/.test(symbol) },
  Security: { version: '61123.100', owns: (symbol) => !/^_k?CF/.test(symbol) },
};
/** Symbols the binary leaves to whoever loads it: Node.js's N-API. */
const FROM_NODE = /^_(napi|node_api)_/;

const binaries = process.argv.slice(2);
if (binaries.length === 0) {
  process.stderr.write('usage: node scripts/macos-sdk-stubs.js <darwin .node>…\n');
  process.exit(1);
}

// `llvm-nm -m -u` prints "(undefined) external _CFRelease (from CoreFoundation)"; a symbol with no
// library yet (a stub left it out) reads "(dynamically looked up)" or has no "(from …)".
const symbols = new Set();
for (const binary of binaries) {
  const listing = execFileSync(llvmTool('llvm-nm'), ['-m', '-u', binary], { encoding: 'utf8' });
  for (const line of listing.split('\n')) {
    const match = /external (\S+)(?: \(from (\S+)\))?/.exec(line);
    if (!match || FROM_NODE.test(match[1])) continue;
    if (match[2] === undefined || match[2] in FRAMEWORKS) symbols.add(match[1]);
  }
}

for (const [name, { version, owns }] of Object.entries(FRAMEWORKS)) {
  const own = [...symbols].filter(owns).sort();
  const dir = path.join(SDK, 'System', 'Library', 'Frameworks', `${name}.framework`);
  fs.mkdirSync(dir, { recursive: true });
  const lines = [];
  for (let i = 0; i < own.length; i += 4) lines.push(own.slice(i, i + 4).join(', '));
  fs.writeFileSync(path.join(dir, `${name}.tbd`), `--- !tapi-tbd
tbd-version:     4
targets:         [ x86_64-macos, arm64-macos ]
install-name:    '/System/Library/Frameworks/${name}.framework/Versions/A/${name}'
current-version: ${version}
exports:
  - targets:         [ x86_64-macos, arm64-macos ]
    symbols:         [ ${lines.join(',\n                       ')} ]
...
`);
  process.stdout.write(`${name}.tbd: ${own.length} symbols\n`);
}
