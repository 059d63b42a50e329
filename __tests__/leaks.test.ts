// Routers created and closed by the thousand hold no memory once closed: each run in a child
// process, whose resident memory (RSS) is all its own.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { startRedis, RedisProcess } from './support/redis-server';
import { uid } from './support/helpers';

const CHURN = path.join(__dirname, 'support', 'churn.js');

interface Usage {
  rssMb: number;
  heapUsedMb: number;
}
interface Churned {
  before: Usage;
  after: Usage;
  afterGc: Usage;
  kept: number;
}

/**
 * Runs churn.js. V8's young generation is held at 1 MB semi-spaces: left alone, V8 grows it
 * towards 32 MB in any loop that allocates this fast (measured: RSS minus V8's heap stays flat
 * while the young generation grows), which would measure V8's sizing instead of what the routers
 * hold. Old-space growth (JS the routers leave reachable) and native memory still count in full.
 */
function churn(spec: Record<string, unknown>): Promise<Churned> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--expose-gc', '--max-semi-space-size=1', CHURN, JSON.stringify({ keyPrefix: uid('churn'), ...spec })], { timeout: 240_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`the churn process failed: ${error.message}\n${stdout}\n${stderr}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

/** How the memory moved, for the test's output (the figures RELIABILITY.md quotes). */
function report(what: string, out: Churned): void {
  const mb = (n: number) => n.toFixed(1);
  process.stdout.write(`${what}: RSS ${mb(out.before.rssMb)} -> ${mb(out.after.rssMb)} MB (+${mb(out.after.rssMb - out.before.rssMb)}), after gc() ${mb(out.afterGc.rssMb)} MB; JS heap ${mb(out.before.heapUsedMb)} -> ${mb(out.afterGc.heapUsedMb)} MB after gc()\n`);
}

let redis: RedisProcess;
beforeAll(async () => {
  // A private server: 10,000 cycles leave 10,000 daemon lists behind.
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.kill();
});

describe('routers created and closed in a tight loop', () => {
  // Measured after 1,000 warm-up cycles, once V8 and the allocators have sized their heaps.
  it('10,000 create/route/close cycles through Redis grow RSS by at most 20 MB', async () => {
    const out = await churn({ redis: redis.url, warmup: 1000, cycles: 10_000 });
    report('10,000 cycles through Redis', out);
    expect(out.after.rssMb - out.before.rssMb).toBeLessThanOrEqual(20);
  }, 240_000);

  it('10,000 create/route/close cycles on the in-process store grow RSS by at most 20 MB', async () => {
    const out = await churn({ redis: 'memory', warmup: 1000, cycles: 10_000 });
    report('10,000 cycles in process', out);
    expect(out.after.rssMb - out.before.rssMb).toBeLessThanOrEqual(20);
  }, 240_000);

  // Without a call, the loop never turns: what Node frees only then (the binding's object and its
  // wake-up function) stays until the loop ends. It is a few KB per router; it was 390 KB.
  it('10,000 create/close cycles that never turn the event loop hold under 8 KB per router', async () => {
    const out = await churn({ redis: redis.url, warmup: 1000, cycles: 10_000, calls: false });
    report('10,000 create/close cycles without a turn', out);
    expect(((out.after.rssMb - out.before.rssMb) * 1e6) / 10_000).toBeLessThan(8_000);
  }, 240_000);

  it('close() frees what a router holds: 2,000 closed routers still referenced hold under 20 KB each', async () => {
    const out = await churn({ redis: redis.url, warmup: 100, cycles: 2000, keepClosed: true });
    report('2,000 closed routers kept', out);
    expect(out.kept).toBe(2000);
    expect(((out.afterGc.rssMb - out.before.rssMb) * 1e6) / 2000).toBeLessThan(20_000);
  }, 240_000);
});
