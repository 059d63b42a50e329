// The tarballs a release publishes (`npm run pack:release`: napi prepublish's bookkeeping, then
// `npm pack` of the main package and of each platform package), checked as npm sees them: what
// each holds, `npm publish --dry-run` of each, and installs into a new project outside the
// repository, where npm picks the platform package of the machine it is told it runs on.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { filesUnder } from '../support/files';
import { runCommand } from '../support/processes';

const { platformOf, currentPlatform, binaryFileOf } = require('../../lib/native') as {
  platformOf(t: string): string;
  currentPlatform(): string;
  binaryFileOf(platform: string): string;
};
const pkg = require('../../package.json') as { name: string; version: string; engines: { node: string }; napi: { targets: string[] } };

const ROOT = path.join(__dirname, '..', '..');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const PLATFORMS = pkg.napi.targets.map(platformOf);
const tarball = (name: string) => `${name.replace(/^@/, '').replace('/', '-')}-${pkg.version}.tgz`;

const run = (command: string, args: string[], cwd: string): Promise<string> =>
  runCommand(command, args, cwd, { timeoutMs: 300_000, withStderr: true });

/** The files and package.json inside a tarball. */
async function contents(file: string): Promise<{ files: string[]; manifest: Record<string, unknown> }> {
  const listing = await run('tar', ['-tzf', file], path.dirname(file));
  const manifest = JSON.parse(await run('tar', ['-xzOf', file, 'package/package.json'], path.dirname(file)));
  return { files: listing.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, '')).sort(), manifest };
}

describe('the release tarballs', () => {
  let work: string;
  let dist: string;

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'orchestrator-router-release-test-'));
    dist = path.join(work, 'dist');
    process.stdout.write(await run(process.execPath, [path.join(ROOT, 'scripts', 'pack-release.js'), '--out', dist], ROOT));
  }, 300_000);

  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  it('are one main package and one package per platform', () => {
    expect(fs.readdirSync(dist).sort()).toEqual([pkg.name, ...PLATFORMS.map((p) => `${pkg.name}-${p}`)].map(tarball).sort());
  });

  it('the main package lists every platform package as an optional dependency at its own version, and no binary', async () => {
    const { files, manifest } = await contents(path.join(dist, tarball(pkg.name)));
    expect(manifest.optionalDependencies).toEqual(Object.fromEntries(PLATFORMS.map((p) => [`${pkg.name}-${p}`, pkg.version])));
    expect(files.filter((f) => f.endsWith('.node'))).toEqual([]);
    expect(files).toEqual(expect.arrayContaining(['binding.js', 'index.js', 'index.mjs', 'index.d.ts', 'lib/native.js', 'package.json', 'README.md', 'LICENSE']));
    // README.md links into docs/: every file of it is published beside it.
    expect(files).toEqual(expect.arrayContaining(filesUnder(ROOT, 'docs')));
    // The main package installs anywhere: no os/cpu/libc of its own.
    expect(manifest).not.toHaveProperty('os');
    expect(manifest).not.toHaveProperty('cpu');
    expect(manifest).not.toHaveProperty('libc');
    expect(manifest.engines).toEqual(pkg.engines);
  });

  it.each(pkg.napi.targets)('the %s package holds its binary and says which machines it is for', async (target) => {
    const platform = platformOf(target);
    const { files, manifest } = await contents(path.join(dist, tarball(`${pkg.name}-${platform}`)));
    const binary = binaryFileOf(platform);
    expect(files).toEqual(['README.md', binary, 'package.json'].sort());
    const [cpu, libc] = [platform.split('-')[1], platform.split('-')[2]];
    expect(manifest).toMatchObject({
      name: `${pkg.name}-${platform}`,
      version: pkg.version,
      main: binary,
      os: [platform.split('-')[0]],
      cpu: [cpu],
      engines: pkg.engines,
    });
    if (libc) expect(manifest.libc).toEqual([libc === 'gnu' ? 'glibc' : 'musl']);
    else expect(manifest).not.toHaveProperty('libc');
  });

  it('each passes npm publish --dry-run', async () => {
    for (const file of fs.readdirSync(dist)) {
      const out = await run(NPM, ['publish', '--dry-run', '--ignore-scripts', '--access', 'public', path.join(dist, file)], work);
      expect(out).toMatch(new RegExp(`\\+ @neolith/orchestrator-router(-[a-z0-9-]+)?@${pkg.version.replace(/\./g, '\\.')}`));
      // It would publish the tarball's files and no others.
      expect(Number(/total files:\s+(\d+)/.exec(out)?.[1])).toBe((await contents(path.join(dist, file))).files.length);
    }
  }, 300_000);

  describe('installed into a new project', () => {
    /** A project depending on the main tarball, with each platform package resolved to its tarball. */
    function project(name: string): string {
      const dir = path.join(work, name);
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({
        name,
        version: '1.0.0',
        private: true,
        dependencies: { [pkg.name]: `file:${path.join(dist, tarball(pkg.name))}` },
        // What a registry would serve for the optional dependencies' "<name>@<version>".
        overrides: Object.fromEntries(PLATFORMS.map((p) => [`${pkg.name}-${p}`, `file:${path.join(dist, tarball(`${pkg.name}-${p}`))}`])),
      }));
      return dir;
    }

    const installed = (dir: string) => fs.readdirSync(path.join(dir, 'node_modules', '@neolith')).sort();

    it("gets this machine's platform package, and routes from CommonJS, ES modules and TypeScript", async () => {
      const dir = project('here');
      await run(NPM, ['install', '--offline', '--no-audit', '--no-fund'], dir);
      expect(installed(dir)).toEqual(['orchestrator-router', `orchestrator-router-${currentPlatform()}`]);
      fs.writeFileSync(path.join(dir, 'main.cjs'), `
        const { createOrchestratorRouter } = require('@neolith/orchestrator-router');
        (async () => {
          const r = createOrchestratorRouter({ redis: process.env.REDIS_URL, keyPrefix: 'release-cjs:' + process.pid + ':' });
          await r.registerSession('orch', { id: 's', daemonId: 'd' });
          const result = await r.routeMessage({ id: 'm1', channelId: 'c', content: 'hi' }, 'orch');
          await r.close();
          const loaded = process.report.getReport().sharedObjects.filter((s) => s.endsWith('.node'));
          console.log(JSON.stringify({ result, loaded }));
        })();`);
      const cjs = JSON.parse(await run(process.execPath, ['main.cjs'], dir));
      expect(cjs.result).toMatchObject({ success: true, status: 'delivered' });
      const platformDir = fs.realpathSync(path.join(dir, 'node_modules', '@neolith', `orchestrator-router-${currentPlatform()}`));
      expect(cjs.loaded).toEqual([path.join(platformDir, binaryFileOf(currentPlatform()))]);

      fs.writeFileSync(path.join(dir, 'main.mjs'), `
        import { createOrchestratorRouter } from '@neolith/orchestrator-router';
        const r = createOrchestratorRouter({ redis: 'memory://release-esm' });
        console.log(JSON.stringify(await r.routeMessage({ id: 'm1', channelId: 'c', content: 'hi' }, 'orch')));
        await r.close();`);
      expect(JSON.parse(await run(process.execPath, ['main.mjs'], dir))).toEqual({ success: true, status: 'offline', attempts: 1 });

      fs.writeFileSync(path.join(dir, 'main.mts'), `
        import { createOrchestratorRouter, type RouteMessageResult } from '@neolith/orchestrator-router';
        const result: RouteMessageResult = await createOrchestratorRouter({ redis: 'memory://ts' }).routeMessage({ id: 'm', channelId: 'c', content: 'x' }, 'o');
        void result;`);
      await run(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '--strict', '--noEmit', '--module', 'nodenext',
        '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--typeRoots', path.join(ROOT, 'node_modules', '@types'), 'main.mts'], dir);
    }, 300_000);

    it.each([
      ['--os=linux --cpu=arm64 --libc=glibc', 'linux-arm64-gnu'],
      ['--os=linux --cpu=x64 --libc=musl', 'linux-x64-musl'],
      ['--os=linux --cpu=arm64 --libc=musl', 'linux-arm64-musl'],
      ['--os=darwin --cpu=arm64', 'darwin-arm64'],
      ['--os=darwin --cpu=x64', 'darwin-x64'],
    ])('npm install %s takes %s alone', async (flags, platform) => {
      const dir = project(`on-${platform}`);
      await run(NPM, ['install', '--offline', '--no-audit', '--no-fund', ...flags.split(' ')], dir);
      expect(installed(dir)).toEqual(['orchestrator-router', `orchestrator-router-${platform}`]);
    }, 300_000);

    it('without the platform package, require fails naming the platform and the platforms with a binary', async () => {
      const dir = project('omitted');
      await run(NPM, ['install', '--offline', '--no-audit', '--no-fund', '--omit=optional'], dir);
      expect(installed(dir)).toEqual(['orchestrator-router']);
      const out = await run(process.execPath, ['-e', `
        try { require('@neolith/orchestrator-router'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, platform: e.platform })); }`], dir);
      const error = JSON.parse(out);
      expect(error.code).toBe('ERR_ORCHESTRATOR_ROUTER_NO_BINARY');
      expect(error.platform).toBe(currentPlatform());
      expect(error.message).toContain(`@neolith/orchestrator-router-${currentPlatform()}@${pkg.version}`);
    }, 300_000);
  });
});
