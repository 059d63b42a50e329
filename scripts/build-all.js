#!/usr/bin/env node
'use strict';
// `npm run build:all [-- --target <triple> …]`: builds the release binary of every target in
// package.json's `napi.targets` (or of the ones named) and puts each in its platform package,
// npm/<platform>/, ready for `npm pack` / `npm publish`. The release workflow
// (.github/workflows/release.yml) runs this same script, one target per runner.
//
// How each target is built:
// - on Linux, every target goes through napi's `--cross-compile` (`cargo zigbuild`): zig links
//   for any Linux or macOS target, and pins glibc targets to glibc 2.17, so the binary also loads
//   on old distributions (a plain `cargo build` would need this machine's glibc or newer);
// - on macOS, the darwin targets build with Apple's own toolchain, as a release does;
// - the macOS frameworks the binary links (CoreFoundation and Security, through
//   rustls-native-certs) and two CommonCrypto headers mimalloc includes are not shipped with zig:
//   cross/macos-sdk holds text stubs of them, used as SDKROOT when a darwin target is built
//   elsewhere than on macOS. That build is a check that the code compiles and links for macOS;
//   the published darwin binaries come from macOS runners.
// - x86_64-pc-windows-msvc is not a target: cargo-xwin needs Microsoft's CRT and Windows SDK,
//   downloaded from Microsoft's servers, which this project's machines cannot reach.
//
// zig and cargo-zigbuild are installed from PyPI at the versions cross/requirements.txt pins, in
// a virtualenv under target/cross-tools; rustup adds the Rust targets. Each build's output goes
// to target/build-all/<triple>.log; a summary (size and time per target) ends the run.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const PACKAGE = require(path.join(ROOT, 'package.json'));
const ARTIFACTS = path.join(ROOT, 'artifacts');
const LOGS = path.join(ROOT, 'target', 'build-all');
const TOOLS = path.join(ROOT, 'target', 'cross-tools');
const REQUIREMENTS = path.join(ROOT, 'cross', 'requirements.txt');
const MACOS_SDK = path.join(ROOT, 'cross', 'macos-sdk');
const NAPI = path.join(path.dirname(require.resolve('@napi-rs/cli/package.json')), 'dist', 'cli.js');
const { platformOf, binaryFileOf } = require(path.join(ROOT, 'lib', 'native.js'));

/** The glibc a `-gnu` binary is linked against (zig's pin): what the oldest supported Linux has. */
const GLIBC = '2.17';
/**
 * The oldest macOS the darwin binaries load on: 11, which Node.js 22 and 24 need themselves (zig
 * cannot link for older ones: its own floor is 11.7.1, which its builds here say).
 */
const MACOS_DEPLOYMENT_TARGET = '11.0';

function fail(message) {
  process.stderr.write(`build:all: ${message}\n`);
  process.exit(1);
}

/** Runs a command to completion; its output goes to `log` when given, else to this terminal. */
function run(command, args, { env = process.env, log } = {}) {
  const out = log ? fs.openSync(log, 'a') : 'inherit';
  const result = spawnSync(command, args, { cwd: ROOT, env, stdio: ['ignore', out, out] });
  if (log) fs.closeSync(out);
  if (result.error) fail(`could not run ${command}: ${result.error.message}`);
  return result.status === 0;
}

function parseTargets(argv) {
  const wanted = [];
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--target' || argv[i] === '-t') wanted.push(argv[++i]);
    else if (argv[i].startsWith('--target=')) wanted.push(argv[i].slice('--target='.length));
    else fail(`unknown argument ${argv[i]} (usage: npm run build:all [-- --target <triple> …])`);
  }
  const known = PACKAGE.napi.targets;
  for (const target of wanted) {
    if (target === undefined) fail('--target needs a target triple');
    if (!known.includes(target)) {
      const why = target.includes('windows')
        ? ': Windows binaries cannot be built here (cargo-xwin needs Microsoft\'s CRT and SDK downloads)'
        : '';
      fail(`${target} is not one of package.json's napi.targets (${known.join(', ')})${why}`);
    }
  }
  return wanted.length > 0 ? wanted : known;
}

/** Whether this machine builds `target` with its own toolchain rather than zig. */
function buildsNatively(target) {
  return process.platform === 'darwin' && target.endsWith('-apple-darwin');
}

/** Installs zig and cargo-zigbuild (once per version of cross/requirements.txt); returns PATH. */
function crossTools() {
  const python = path.join(TOOLS, 'bin', 'python');
  const stamp = path.join(TOOLS, 'requirements.txt');
  const pinned = fs.readFileSync(REQUIREMENTS, 'utf8');
  if (!fs.existsSync(stamp) || fs.readFileSync(stamp, 'utf8') !== pinned) {
    process.stdout.write(`installing zig and cargo-zigbuild (${REQUIREMENTS}) into ${TOOLS}\n`);
    fs.rmSync(TOOLS, { recursive: true, force: true });
    if (!run('python3', ['-m', 'venv', TOOLS])) fail('python3 -m venv failed: zig comes from PyPI and needs Python 3 with venv');
    if (!run(python, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', REQUIREMENTS])) {
      fail(`pip install -r ${REQUIREMENTS} failed`);
    }
    fs.writeFileSync(stamp, pinned);
  }
  const zigDir = spawnSync(python, ['-c', 'import ziglang, os; print(os.path.dirname(ziglang.__file__))'], { encoding: 'utf8' })
    .stdout.trim();
  return [path.join(TOOLS, 'bin'), zigDir, process.env.PATH].join(path.delimiter);
}

function main() {
  const targets = parseTargets(process.argv.slice(2));
  if (!run('rustup', ['target', 'add', ...targets])) fail('rustup target add failed');
  // llvm-nm and llvm-readobj, with which the release test reads every binary (ELF and Mach-O).
  if (!run('rustup', ['component', 'add', 'llvm-tools'])) fail('rustup component add llvm-tools failed');
  const crossPath = targets.some((t) => !buildsNatively(t)) ? crossTools() : process.env.PATH;
  fs.mkdirSync(LOGS, { recursive: true });

  const results = [];
  for (const [index, target] of targets.entries()) {
    const platform = platformOf(target);
    const native = buildsNatively(target);
    const outDir = path.join(ARTIFACTS, target);
    const log = path.join(LOGS, `${target}.log`);
    fs.rmSync(outDir, { recursive: true, force: true });
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(log, '');

    const env = { ...process.env, PATH: crossPath };
    const args = [NAPI, 'build', '--platform', '--release', '--output-dir', outDir, '--js', 'binding.js', '--dts', 'binding.d.ts'];
    let how;
    if (native) {
      args.push('--target', target);
      how = 'Apple toolchain';
    } else if (target.endsWith('-gnu')) {
      args.push('--target', `${target}.${GLIBC}`, '--cross-compile');
      how = `zig, glibc ${GLIBC}`;
    } else {
      args.push('--target', target, '--cross-compile');
      how = 'zig';
    }
    if (target.endsWith('-apple-darwin')) {
      env.MACOSX_DEPLOYMENT_TARGET = MACOS_DEPLOYMENT_TARGET;
      if (!native) env.SDKROOT = MACOS_SDK;
    }
    process.stdout.write(`[${index + 1}/${targets.length}] ${target} (${platform}, ${how}): building, log in ${path.relative(ROOT, log)}\n`);
    const started = process.hrtime.bigint();
    const ok = run(process.execPath, args, { env, log });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const binary = path.join(outDir, binaryFileOf(platform));
    if (!ok || !fs.existsSync(binary)) {
      const tail = fs.readFileSync(log, 'utf8').split('\n').slice(-40).join('\n');
      process.stdout.write(`${tail}\n[${index + 1}/${targets.length}] ${target}: FAILED after ${seconds.toFixed(0)} s (whole log: ${log})\n`);
      results.push({ target, platform, ok: false, seconds });
      continue;
    }
    // Only the binary is an artifact; the loader and types napi writes beside it are the same
    // for every target and live at the package root.
    for (const file of fs.readdirSync(outDir)) if (!file.endsWith('.node')) fs.rmSync(path.join(outDir, file));
    const bytes = fs.statSync(binary).size;
    process.stdout.write(`[${index + 1}/${targets.length}] ${target}: ${(bytes / 1e6).toFixed(2)} MB in ${seconds.toFixed(0)} s\n`);
    results.push({ target, platform, ok: true, seconds, bytes });
  }

  // Each binary into its platform package under npm/: with every target's binary at hand, by
  // napi's own bookkeeping (`napi artifacts`, which refuses a partial set and also copies each
  // binary beside the loader); for some targets only (a release runner builds one), directly.
  const built = PACKAGE.napi.targets.filter((t) => fs.existsSync(path.join(ARTIFACTS, t, binaryFileOf(platformOf(t)))));
  if (built.length === PACKAGE.napi.targets.length) {
    if (!run(process.execPath, [NAPI, 'artifacts', '--output-dir', 'artifacts', '--npm-dir', 'npm'])) fail('napi artifacts failed');
  } else {
    for (const { target, platform, ok } of results) {
      if (!ok) continue;
      fs.copyFileSync(path.join(ARTIFACTS, target, binaryFileOf(platform)), path.join(ROOT, 'npm', platform, binaryFileOf(platform)));
    }
  }

  process.stdout.write('\ntarget                         platform           size      time\n');
  for (const r of results) {
    const size = r.ok ? `${(r.bytes / 1e6).toFixed(2)} MB` : 'FAILED';
    process.stdout.write(`${r.target.padEnd(31)}${r.platform.padEnd(19)}${size.padEnd(10)}${r.seconds.toFixed(0)} s\n`);
  }
  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0) fail(`${failed.length} of ${results.length} targets failed: ${failed.map((r) => r.target).join(', ')}`);
  process.stdout.write(`all ${results.length} binaries built; each is in npm/<platform>/\n`);
}

main();
