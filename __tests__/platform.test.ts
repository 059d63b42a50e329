// Loading the package where it has no binary: the error names the platform, the platforms with a
// prebuilt binary and what to do. Each case runs in a Node process told (before the package loads)
// that it runs on another platform; this machine's libc (glibc) stays what the loader reads.
import { execFile } from 'node:child_process';
import path from 'node:path';

const ROOT = path.join(__dirname, '..');
const pkg = require('../package.json') as { name: string; version: string; napi: { targets: string[] } };

interface Loaded {
  code?: string;
  message?: string;
  platform?: string;
  supportedPlatforms?: string[];
  cause?: string;
  loaded?: boolean;
}

/** Requires the package (or the operator tool's binding) in a process that sees `platform`/`arch`. */
function requireAs(platform: string, arch: string, module = ROOT, forced?: string): Promise<Loaded> {
  const pretend = `
    Object.defineProperty(process, 'platform', { value: ${JSON.stringify(platform)} });
    Object.defineProperty(process, 'arch', { value: ${JSON.stringify(arch)} });
    try { require(${JSON.stringify(module)}); console.log(JSON.stringify({ loaded: true })); }
    catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, platform: e.platform, supportedPlatforms: e.supportedPlatforms, cause: e.cause && e.cause.message })); }`;
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.NAPI_RS_NATIVE_LIBRARY_PATH;
    if (forced) env.NAPI_RS_NATIVE_LIBRARY_PATH = forced;
    execFile(process.execPath, ['-e', pretend], { env, cwd: ROOT }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${stderr}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

const SUPPORTED = ['linux-x64-gnu', 'linux-arm64-gnu', 'linux-x64-musl', 'linux-arm64-musl', 'darwin-x64', 'darwin-arm64'];

describe('loading the package', () => {
  it('lists as supported exactly the napi targets in package.json', async () => {
    expect(require('../lib/native').SUPPORTED_PLATFORMS).toEqual(SUPPORTED);
    expect(pkg.napi.targets).toHaveLength(SUPPORTED.length);
  });

  it('loads on this machine (the development build beside the loader)', async () => {
    expect(await requireAs(process.platform, process.arch)).toEqual({ loaded: true });
  });

  it.each([
    ['freebsd', 'x64', 'freebsd-x64'],
    ['win32', 'x64', 'win32-x64-msvc'],
    ['linux', 'ppc64', 'linux-ppc64-gnu'],
    ['linux', 'riscv64', 'linux-riscv64-gnu'],
  ])('on %s %s fails naming %s and the platforms with a binary', async (platform, arch, name) => {
    const loaded = await requireAs(platform, arch);
    expect(loaded).toMatchObject({ code: 'ERR_ORCHESTRATOR_ROUTER_NO_BINARY', platform: name, supportedPlatforms: SUPPORTED });
    expect(loaded.message).toContain(`${pkg.name} has no native binary for ${name} (Node.js ${process.version})`);
    expect(loaded.message).toContain(`Prebuilt binaries exist for ${SUPPORTED.join(', ')}`);
    expect(loaded.cause).toBeTruthy();
  });

  it.each([
    ['linux', 'arm64', 'linux-arm64-gnu'],
    ['darwin', 'arm64', 'darwin-arm64'],
    ['darwin', 'x64', 'darwin-x64'],
  ])('on %s %s, a supported platform without its package, says which package to install', async (platform, arch, name) => {
    const loaded = await requireAs(platform, arch);
    expect(loaded).toMatchObject({ code: 'ERR_ORCHESTRATOR_ROUTER_NO_BINARY', platform: name });
    expect(loaded.message).toContain(`could not load its native binary for ${name}`);
    expect(loaded.message).toContain(`npm install ${pkg.name}-${name}@${pkg.version}`);
  });

  it('with NAPI_RS_NATIVE_LIBRARY_PATH naming a file that does not load, names the file and why', async () => {
    const forced = path.join(ROOT, 'no-such-build.node');
    const loaded = await requireAs(process.platform, process.arch, ROOT, forced);
    expect(loaded.code).toBe('ERR_ORCHESTRATOR_ROUTER_NO_BINARY');
    expect(loaded.message).toContain(`could not load the binary NAPI_RS_NATIVE_LIBRARY_PATH names, ${forced}, on ${require('../lib/native').currentPlatform()}: Cannot find module '${forced}'`);
  });

  it('the operator tool fails the same way', async () => {
    const loaded = await requireAs('freebsd', 'arm64', path.join(ROOT, 'bin', 'orchestrator-router.js'));
    expect(loaded).toMatchObject({ code: 'ERR_ORCHESTRATOR_ROUTER_NO_BINARY', platform: 'freebsd-arm64' });
  });
});
