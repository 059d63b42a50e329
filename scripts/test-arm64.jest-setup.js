// A jest setup file (passed with --setupFilesAfterEnv by scripts/test-arm64.sh and
// scripts/test-node-versions.js, not by the normal `jest` run). (test-arm64.sh also passes
// __tests__/release/use-release-binary.js, which hands the binary under test to the loader.)
//
// It proves which Node.js ran the suite and which binary it loaded: after the test file's last test
//    it reads the process's memory map (/proc/self/maps; under qemu-user the emulated process's),
//    lists the `.node` files mapped into it, prints what it found and fails the test file when
//      PROBE_EXPECT_ARCH    is set and process.arch differs,
//      PROBE_EXPECT_NODE    is set and process.version differs (e.g. 'v18.20.8'),
//      PROBE_EXPECT_BINARY  is set and that file is not mapped, or another orchestrator-router*.node is.
//    PROBE_OUT, when set, names a file the report is written to as JSON, so the calling script can
//    check that the probe did run.
'use strict';
const fs = require('node:fs');

afterAll(() => {
  const mapped = [
    ...new Set(
      fs
        .readFileSync('/proc/self/maps', 'utf8')
        .split('\n')
        .map((line) => line.trim().split(/\s+/).slice(5).join(' '))
        .filter((file) => file.endsWith('.node')),
    ),
  ];
  const report = {
    arch: process.arch,
    node: process.version,
    napi: process.versions.napi,
    execPath: process.execPath,
    nativeBinaries: mapped,
  };
  const problems = [];
  const { PROBE_EXPECT_ARCH: arch, PROBE_EXPECT_NODE: node, PROBE_EXPECT_BINARY: binary } = process.env;
  if (arch && process.arch !== arch) problems.push(`process.arch is ${process.arch}, not ${arch}`);
  if (node && process.version !== node) problems.push(`process.version is ${process.version}, not ${node}`);
  if (binary) {
    const want = fs.realpathSync(binary);
    if (!mapped.includes(want)) problems.push(`${want} is not loaded`);
    const others = mapped.filter((file) => file !== want && /orchestrator-router/.test(file));
    if (others.length) problems.push(`other router binaries are loaded: ${others.join(', ')}`);
  }
  report.ok = problems.length === 0;
  report.problems = problems;
  process.stderr.write(`[probe] ${JSON.stringify(report)}\n`);
  if (process.env.PROBE_OUT) fs.writeFileSync(process.env.PROBE_OUT, JSON.stringify(report, null, 2) + '\n');
  if (problems.length) throw new Error(`native probe: ${problems.join('; ')}`);
});
