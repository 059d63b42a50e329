'use strict';
// Where the LLVM binary tools (llvm-nm, llvm-readobj, llvm-objdump) are: rustup's `llvm-tools`
// component, which reads ELF and Mach-O alike and which `npm run build:all` adds; otherwise the
// ones on PATH.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

/** The path of an LLVM tool, preferring rustup's llvm-tools component. */
function llvmTool(name) {
  const sysroot = execFileSync('rustc', ['--print', 'sysroot'], { encoding: 'utf8' }).trim();
  const host = /host: (\S+)/.exec(execFileSync('rustc', ['-vV'], { encoding: 'utf8' }))[1];
  const bundled = path.join(sysroot, 'lib', 'rustlib', host, 'bin', name);
  return fs.existsSync(bundled) ? bundled : name;
}

module.exports = { llvmTool };
