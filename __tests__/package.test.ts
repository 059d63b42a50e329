// The package as users get it: `npm pack` of the main package and of this machine's platform
// package (npm/<platform>/, holding the development build here; `npm run test:release` does the
// same with every release binary), installed from the tarballs into a new TypeScript project
// outside the repository, used from CommonJS and from ES modules, and type-checked with
// `tsc --strict` there.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { filesUnder } from './support/files';
import { runCommand as run } from './support/processes';

const ROOT = path.join(__dirname, '..');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const VITEST = path.join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const { currentPlatform, SUPPORTED_PLATFORMS } = require('../lib/native') as { currentPlatform(): string; SUPPORTED_PLATFORMS: string[] };
const NAPI = path.join(ROOT, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js');

interface Packed {
  filename: string;
  size: number;
  unpackedSize: number;
  files: Array<{ path: string }>;
}

describe('the npm package', () => {
  let work: string;
  let packed: Packed;
  let platformPacked: Packed;
  let consumer: string;

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'orchestrator-router-package-'));
    // The binding is already built (`pretest`); pack what is there.
    const json = await run(NPM, ['pack', '--json', '--ignore-scripts', '--pack-destination', work], ROOT);
    [packed] = JSON.parse(json) as Packed[];
    // This platform's package, as `napi artifacts` fills it: its package.json and README, and the binary.
    const platform = currentPlatform();
    const platformDir = path.join(work, platform);
    fs.mkdirSync(platformDir);
    for (const file of ['package.json', 'README.md']) fs.copyFileSync(path.join(ROOT, 'npm', platform, file), path.join(platformDir, file));
    const binary = `orchestrator-router.${platform}.node`;
    fs.copyFileSync(path.join(ROOT, binary), path.join(platformDir, binary));
    [platformPacked] = JSON.parse(await run(NPM, ['pack', '--json', '--ignore-scripts', '--pack-destination', work], platformDir)) as Packed[];
    consumer = path.join(work, 'consumer');
    fs.mkdirSync(consumer);
    fs.writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    await run(NPM, ['install', '--offline', '--no-audit', '--no-fund', path.join(work, packed.filename), path.join(work, platformPacked.filename)], consumer);
  }, 180_000);

  afterAll(() => {
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('holds the entries, types, binding, README and docs/, LICENSE and CHANGELOG, and no sources, tests or build outputs', () => {
    const files = packed.files.map((f) => f.path).sort();
    expect(files).toEqual(expect.arrayContaining([
      'CHANGELOG.md', 'LICENSE', 'README.md', 'bin/orchestrator-router.js', 'binding.js', 'index.d.mts', 'index.d.ts',
      'index.js', 'index.mjs', 'lib/arguments.js', 'lib/errors.js', 'lib/message-service.js', 'package.json',
      ...filesUnder(ROOT, 'docs'),
    ]));
    // The binary is in the platform package, next to its package.json and README, and nowhere else.
    expect(files.filter((f) => f.endsWith('.node'))).toEqual([]);
    expect(platformPacked.files.map((f) => f.path).sort()).toEqual(['README.md', `orchestrator-router.${currentPlatform()}.node`, 'package.json']);
    const unwanted = files.filter((f) => /^(src|__tests__|target|bench|scripts|demo|reliability)\/|\.(rs|lua|toml|lock)$|^\.|tsconfig|jest/.test(f));
    expect(unwanted).toEqual([]);
    // The size is reported with the test's output (and in docs/package.md).
    for (const p of [packed, platformPacked]) {
      process.stdout.write(`npm pack: ${p.filename}, ${p.files.length} files, ${(p.size / 1e6).toFixed(2)} MB packed, ${(p.unpackedSize / 1e6).toFixed(2)} MB unpacked\n`);
    }
    // 0.11 MB of it is code and docs; the README's dashboard screenshot (docs/images) adds 0.09 MB.
    expect(packed.size).toBeLessThan(0.25e6);
    expect(platformPacked.size).toBeLessThan(5e6);
  });

  it("resolves every link of its README into docs/ inside the installed copy", () => {
    const installed = path.join(consumer, 'node_modules', '@neolith', 'orchestrator-router');
    const readme = fs.readFileSync(path.join(installed, 'README.md'), 'utf8');
    const targets = [...readme.matchAll(/\]\((docs\/[^)#\s]*)/g)].map((m) => m[1]);
    expect(targets).toContain('docs/cluster.md');
    expect(targets.filter((t) => !fs.existsSync(path.join(installed, t)))).toEqual([]);
  });

  it("ships the loader napi-rs generates, committed as generated for this version", async () => {
    // `npm run build` (pretest) writes binding.js again: a committed copy that differs is stale.
    await run('git', ['diff', '--exit-code', '--', 'binding.js'], ROOT);
    const loader = fs.readFileSync(path.join(ROOT, 'binding.js'), 'utf8');
    const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;
    // It checks each platform package against the main package's version.
    expect(loader).toContain(`require('@neolith/orchestrator-router-${currentPlatform()}/package.json').version`);
    expect(loader).toContain(`bindingPackageVersion !== '${version}'`);
  });

  it('has one platform package per napi target, at the main version, which `napi version` keeps in step', async () => {
    const main = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    const dirs = fs.readdirSync(path.join(ROOT, 'npm')).sort();
    expect(dirs).toEqual([...SUPPORTED_PLATFORMS].sort());
    for (const dir of dirs) {
      const platform = JSON.parse(fs.readFileSync(path.join(ROOT, 'npm', dir, 'package.json'), 'utf8'));
      expect(platform).toMatchObject({ name: `${main.name}-${dir}`, version: main.version, engines: main.engines, license: main.license });
    }
    // `npm version x.y.z` runs `napi version`: in a copy, a new version reaches every platform package.
    const copy = path.join(work, 'versioned');
    fs.cpSync(path.join(ROOT, 'npm'), path.join(copy, 'npm'), { recursive: true, filter: (f) => !f.endsWith('.node') });
    fs.writeFileSync(path.join(copy, 'package.json'), JSON.stringify({ ...main, version: '9.8.7' }));
    await run(process.execPath, [NAPI, 'version'], copy);
    for (const dir of dirs) expect(JSON.parse(fs.readFileSync(path.join(copy, 'npm', dir, 'package.json'), 'utf8')).version).toBe('9.8.7');
  });

  it('works from CommonJS (require), from the installed copy', async () => {
    fs.writeFileSync(path.join(consumer, 'main.cjs'), `
      const router = require('@neolith/orchestrator-router');
      const where = require.resolve('@neolith/orchestrator-router');
      (async () => {
        const r = router.createOrchestratorRouter({ redis: 'memory://cjs' });
        await r.registerSession('orch', { id: 's', daemonId: 'd' });
        const result = await r.routeMessage({ id: 'm1', channelId: 'c', content: 'hi', priority: 'high' }, 'orch');
        const [event] = await r.readDaemonEvents('d');
        await r.close();
        const binaries = process.report.getReport().sharedObjects.filter((o) => o.endsWith('.node'));
        console.log(JSON.stringify({ where, binaries, result, priority: event.priority, error: new router.InvalidArgumentError('x', 'y').code }));
      })();`);
    const out = JSON.parse(await run(process.execPath, ['main.cjs'], consumer));
    const installed = path.join(fs.realpathSync(consumer), 'node_modules', '@neolith');
    expect(out.where).toBe(path.join(installed, 'orchestrator-router', 'index.js'));
    // The loader found the binary in the platform package.
    expect(out.binaries).toEqual([path.join(installed, `orchestrator-router-${currentPlatform()}`, `orchestrator-router.${currentPlatform()}.node`)]);
    expect(out).toMatchObject({ result: { success: true, status: 'delivered', sessionId: 's' }, priority: 3, error: 'INVALID_ARGUMENT' });
  });

  it('works from ES modules (import), by name and as the default export', async () => {
    fs.writeFileSync(path.join(consumer, 'main.mjs'), `
      import pkg, { createOrchestratorRouter, orchestratorRouter, OrchestratorRouter, PRIORITY_VALUES, EVENT_NAMES } from '@neolith/orchestrator-router';
      const r = createOrchestratorRouter({ redis: 'memory://esm' });
      const queued = await r.routeMessage({ id: 'm1', channelId: 'c', content: 'hi' }, 'orch');
      await r.close();
      console.log(JSON.stringify({
        queued,
        same: pkg.createOrchestratorRouter === createOrchestratorRouter,
        defaultInstance: orchestratorRouter instanceof OrchestratorRouter,
        low: PRIORITY_VALUES.low,
        events: EVENT_NAMES.length,
      }));`);
    const out = JSON.parse(await run(process.execPath, ['main.mjs'], consumer));
    expect(out).toEqual({ queued: { success: true, status: 'offline', attempts: 1 }, same: true, defaultInstance: true, low: 1, events: expect.any(Number) });
  });

  it("passes a consumer's own tests under vitest 2 (@neolith/core's runner), in its forks and its threads pool", async () => {
    // Three test files, each routing on the in-process store and through Redis: the threads pool
    // loads the package in several worker threads, one after another and side by side.
    const dir = path.join(consumer, 'vitest');
    fs.mkdirSync(dir, { recursive: true });
    for (const n of [1, 2, 3]) {
      fs.writeFileSync(path.join(dir, `route${n}.test.mjs`), `
        import { createOrchestratorRouter } from '@neolith/orchestrator-router';
        describe('the router in test file ${n}', () => {
          it('routes on the in-process store', async () => {
            const r = createOrchestratorRouter({ redis: 'memory://vitest${n}' });
            await r.registerSession('orch', { id: 's', daemonId: 'd' });
            expect(await r.routeMessage({ id: 'm${n}', channelId: 'c', content: 'hi' }, 'orch')).toMatchObject({ status: 'delivered' });
            expect((await r.readDaemonEvents('d')).map((e) => e.payload.messageId)).toEqual(['m${n}']);
            await r.close();
          });
          it('routes through Redis', async () => {
            const r = createOrchestratorRouter({ redis: process.env.REDIS_URL, keyPrefix: 'vitest${n}:' + process.pid + ':' + Date.now() + ':' });
            await r.registerSession('orch', { id: 's', daemonId: 'd' });
            expect(await r.routeMessage({ id: 'm', channelId: 'c', content: 'hi' }, 'orch')).toMatchObject({ status: 'delivered' });
            await r.close();
          });
        });`);
    }
    for (const pool of ['forks', 'threads', 'threads']) {
      // `run` rejects when vitest exits non-zero (a crashed worker included), with its output.
      const out = await run(process.execPath, [VITEST, 'run', '--root', dir, '--globals', '--pool', pool, '--reporter', 'verbose'], consumer);
      expect(out).toMatch(/Tests\s+6 passed \(6\)/);
    }
  }, 120_000);

  it('ships the operator tool as a bin', async () => {
    const help = await run(path.join(consumer, 'node_modules', '.bin', 'orchestrator-router'), ['--help'], consumer);
    expect(help).toContain('orchestrator-router inspect <orchestratorId> [options]');
    // The dashboard's server and chart are optional peers: a consumer without them is told how to add them.
    const dashboard = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(path.join(consumer, 'node_modules', '.bin', 'orchestrator-router'), ['dashboard', '--port', '0'], { cwd: consumer, timeout: 20_000 }, (error, stdout, stderr) => {
        resolve({ code: error ? (error.code as number) : 0, stderr });
      });
    });
    expect(dashboard).toEqual({ code: 3, stderr: expect.stringContaining('the dashboard needs fastify and uplot, optional peer dependencies of @neolith/orchestrator-router that are not installed: npm install fastify@5 uplot@1') });
  });

  it('type-checks under tsc --strict from a CommonJS and an ES module TypeScript file', async () => {
    const body = (importLine: string) => `${importLine}
      async function main(): Promise<void> {
        const config: OrchestratorRouterConfig = { redis: 'memory://types', sessions: { multiple: true, routing: 'broadcast' } };
        const r: OrchestratorRouter = createOrchestratorRouter(config);
        const result: RouteMessageResult = await r.routeMessage({ id: 'm', channelId: 'c', content: 'x', priority: 'low' }, 'o');
        const events: DaemonEvent[] = await r.readDaemonEvents('d', { max: 10 });
        const priority: 1 | 2 | 3 = PRIORITY_VALUES.high;
        r.on('message.routed', (e) => e.sessionId.toUpperCase());
        // @ts-expect-error not a priority level
        await r.routeMessage({ id: 'm', channelId: 'c', content: 'x', priority: 'urgent' }, 'o');
        // @ts-expect-error a router event's listener is typed
        r.on('message.queued', (e) => e.sessionId);
        r.on('a.name.of.its.own', (...args: unknown[]) => void args);
        void [result, events, priority];
      }
      void main;
    `;
    const names = 'createOrchestratorRouter, DaemonEvent, OrchestratorRouter, OrchestratorRouterConfig, PRIORITY_VALUES, RouteMessageResult';
    fs.writeFileSync(path.join(consumer, 'esm.mts'), body(`import { ${names} } from '@neolith/orchestrator-router';`));
    fs.writeFileSync(path.join(consumer, 'cjs.cts'), body(`import { ${names} } from '@neolith/orchestrator-router';\nconst loaded = require('@neolith/orchestrator-router');\nvoid loaded;`));
    fs.writeFileSync(path.join(consumer, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        skipLibCheck: false,
        types: ['node'],
        typeRoots: [path.join(ROOT, 'node_modules', '@types')],
      },
      files: ['esm.mts', 'cjs.cts'],
    }));
    await run(process.execPath, [TSC, '-p', 'tsconfig.json'], consumer);
    // A wrong use fails to compile there too (the check above is not vacuous).
    fs.writeFileSync(path.join(consumer, 'wrong.mts'), `import { createOrchestratorRouter } from '@neolith/orchestrator-router';\ncreateOrchestratorRouter({ retry: { maxAttempts: 'three' } });\n`);
    await expect(run(process.execPath, [TSC, '--strict', '--noEmit', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', '--typeRoots', path.join(ROOT, 'node_modules', '@types'), 'wrong.mts'], consumer))
      .rejects.toThrow(/wrong\.mts\(2,\d+\): error TS2322: Type 'string' is not assignable to type 'number'/);
  }, 180_000);
});
