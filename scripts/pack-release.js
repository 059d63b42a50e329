#!/usr/bin/env node
'use strict';
// `npm run pack:release [-- --out <dir>]`: the tarballs a release publishes, made here without
// publishing: the main package and one package per platform in npm/<platform>/ (after
// `npm run build:all` has put the binaries there). It works on a copy of the repository's
// files, where `napi prepublish --skip-optional-publish` does what it does in the release
// workflow (check each platform package holds its binary, and write the main package's
// optionalDependencies at its version), then `npm pack`s each package into <dir> (default:
// dist/). The working tree is left as it was.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const PACKAGE = require(path.join(ROOT, 'package.json'));
const NAPI = path.join(path.dirname(require.resolve('@napi-rs/cli/package.json')), 'dist', 'cli.js');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const { platformOf, binaryFileOf } = require(path.join(ROOT, 'lib', 'native.js'));

function parseOut(argv) {
  if (argv.length === 0) return path.join(ROOT, 'dist');
  if (argv.length === 2 && argv[0] === '--out') return path.resolve(argv[1]);
  process.stderr.write('usage: npm run pack:release [-- --out <dir>]\n');
  process.exit(1);
}

function main() {
  const out = parseOut(process.argv.slice(2));
  const platforms = PACKAGE.napi.targets.map(platformOf);
  const binaries = platforms.map((p) => path.join('npm', p, binaryFileOf(p)));
  const missing = binaries.filter((file) => !fs.existsSync(path.join(ROOT, file)));
  if (missing.length > 0) {
    process.stderr.write(`pack:release: no binary at ${missing.join(', ')}: run npm run build:all first\n`);
    process.exit(1);
  }

  // The copy: every tracked file, the generated loader and the binaries.
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'orchestrator-router-release-'));
  try {
    const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
    for (const file of [...tracked, 'binding.js', ...binaries]) {
      if (!fs.existsSync(path.join(ROOT, file))) continue; // deleted in the working tree
      fs.mkdirSync(path.join(stage, path.dirname(file)), { recursive: true });
      fs.copyFileSync(path.join(ROOT, file), path.join(stage, file));
    }
    // napi resolves its own package from the copy's node_modules.
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(stage, 'node_modules'), 'junction');
    execFileSync(process.execPath, [NAPI, 'prepublish', '-t', 'npm', '--skip-optional-publish', '--no-gh-release'], {
      cwd: stage,
      stdio: 'inherit',
    });

    fs.mkdirSync(out, { recursive: true });
    const packed = [];
    for (const dir of ['.', ...platforms.map((p) => path.join('npm', p))]) {
      const json = execFileSync(NPM, ['pack', '--json', '--ignore-scripts', '--pack-destination', out], {
        cwd: path.join(stage, dir),
        encoding: 'utf8',
      });
      const [{ filename, size, files }] = JSON.parse(json);
      packed.push({ filename, size, files: files.length });
    }
    for (const { filename, size, files } of packed) {
      process.stdout.write(`${filename.padEnd(58)}${(size / 1e6).toFixed(2).padStart(6)} MB  ${files} files\n`);
    }
    process.stdout.write(`${packed.length} tarballs in ${out}\n`);
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

main();
