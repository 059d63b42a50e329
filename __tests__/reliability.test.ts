// The reliability scenarios: real processes, real faults, and an account of every message —
// accepted = delivered + reported; none lost, none duplicated, FIFO per orchestrator.
// Each records its figures for RELIABILITY.md (npm run reliability).
import Redis from 'ioredis';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OrchestratorRouter } from '..';
import { recordFigures } from './support/figures';
import { closeAll, keyOf, message, newRouter, plainClient, record, redisUrl, uid, waitFor } from './support/helpers';
import { startRouterProcess } from './support/processes';
import { RedisProcess, startRedis } from './support/redis-server';

jest.setTimeout(90_000);
afterEach(closeAll);

const BIG = { offlineQueue: { maxQueueSize: 1_000_000 }, daemonQueue: { maxEvents: 1_000_000 }, drainIntervalMs: 20 };

/** Message ids in a daemon's event list, oldest first. */
async function delivered(redis: Redis, router: OrchestratorRouter, daemon: string): Promise<string[]> {
  return (await redis.lrange(keyOf(router, `daemon:events:${daemon}`), 0, -1)).reverse().map((e) => JSON.parse(e).payload.messageId);
}

/** How many ids occur more than once. */
function duplicates(ids: string[]): number {
  return ids.length - new Set(ids).size;
}

describe('scenario 1: three router processes share one Redis with session churn', () => {
  it('delivers every accepted message exactly once, FIFO per sender and orchestrator', async () => {
    const keyPrefix = `${uid('s1')}:`;
    const orchestrators = ['orch_a', 'orch_b', 'orch_c', 'orch_d', 'orch_e'];
    const started = Date.now();
    const workers = ['p1', 'p2', 'p3'].map((name) =>
      startRouterProcess({ role: 'load', redis: redisUrl(), keyPrefix, name, orchestrators, count: 1500, churnEvery: 20 }),
    );
    const codes = await Promise.all(workers.map((w) => w.exited));
    expect(codes).toEqual([0, 0, 0]);
    const lines = workers.flatMap((w) => w.lines);
    const accepted = lines.filter((l) => l.id && l.success).map((l) => l.id as string);
    const dropped = lines.filter((l) => l.dropped).map((l) => l.dropped as string);

    // Every orchestrator comes online at the end, so that every queue drains.
    const router = newRouter({ ...BIG, keyPrefix });
    for (const orch of orchestrators) {
      await router.registerSession(orch, { id: `final_${orch}`, daemonId: `daemon_${orch}`, status: 'active' });
    }
    const redis = plainClient();
    for (const orch of orchestrators) {
      await waitFor(async () => (await redis.llen(keyOf(router, `routing:queue:${orch}`))) === 0, `the queue of ${orch} to drain`);
    }
    const lists = await Promise.all(orchestrators.map((o) => delivered(redis, router, `daemon_${o}`)));
    const all = lists.flat();
    const seen = new Set(all);
    const lost = accepted.filter((id) => !seen.has(id) && !dropped.includes(id));
    let outOfOrder = 0;
    for (const list of lists) {
      for (const sender of ['p1', 'p2', 'p3']) {
        const sequence = list.filter((id) => id.startsWith(`${sender}:`)).map((id) => Number(id.split(':')[2]));
        sequence.forEach((n, i) => {
          if (i > 0 && n <= sequence[i - 1]) outOfOrder += 1;
        });
      }
    }
    recordFigures('1. three processes, session churn', {
      messages: lines.filter((l) => l.id).length,
      accepted: accepted.length,
      delivered: seen.size,
      reported: dropped.length,
      lost: lost.length,
      duplicated: duplicates(all),
      'out of order': outOfOrder,
      'run time (s)': ((Date.now() - started) / 1000).toFixed(1),
    });
    expect(accepted).toHaveLength(4500);
    expect(lost).toEqual([]);
    expect(duplicates(all)).toBe(0);
    expect(outOfOrder).toBe(0);
    expect(seen.size + dropped.length).toBe(accepted.length);
  });
});

describe('scenario 2: a router killed with SIGKILL in the middle of draining 10,000', () => {
  it('is finished by another instance: all 10,000 delivered once, in order', async () => {
    const keyPrefix = `${uid('s2')}:`;
    const router = newRouter({ ...BIG, keyPrefix });
    const redis = plainClient();
    const orch = 'orch_backlog';
    const daemon = 'daemon_backlog';
    const queuedAt = new Date().toISOString();
    const ids = Array.from({ length: 10_000 }, (_, i) => `m${String(i).padStart(5, '0')}`);
    const pipeline = redis.pipeline();
    for (const id of ids) {
      pipeline.rpush(keyOf(router, `routing:queue:${orch}`), JSON.stringify({ messageId: id, channelId: 'c', authorId: 'u', content: id, createdAt: queuedAt, queuedAt }));
    }
    await pipeline.exec();

    const dying = startRouterProcess({ role: 'drain', redis: redisUrl(), keyPrefix, orchestrator: orch, daemon, batchDelayMs: 20 });
    await dying.waitForLine((l) => l.batch !== undefined && dying.lines.filter((x) => x.batch).length >= 4);
    dying.kill('SIGKILL');
    await dying.exited;
    const killedAt = Date.now();
    const before = await redis.llen(keyOf(router, `daemon:events:${daemon}`));

    // Another instance, busy with something else, finishes the drain by itself.
    await router.processQueuedMessages('some_other_orchestrator');
    await waitFor(async () => (await redis.llen(keyOf(router, `routing:queue:${orch}`))) === 0, 'the other instance to finish', 30_000);
    const recovered = Date.now() - killedAt;
    const list = await delivered(redis, router, daemon);
    recordFigures('2. SIGKILL mid-drain of 10,000', {
      messages: ids.length,
      'delivered before the kill': before,
      delivered: new Set(list).size,
      lost: ids.filter((id) => !list.includes(id)).length,
      duplicated: duplicates(list),
      'time to finish after the kill (ms)': recovered,
    });
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(10_000);
    expect(list).toEqual(ids);
  });
});

interface Routed {
  id: string;
  orchestrator: string;
  success: boolean;
  status: string;
  ms: number;
  attempts: number;
  at: number;
}

/**
 * Routes on `lanes` concurrent loops until `stop()` says so; returns every result. `results`
 * fills as calls resolve, so that faults can be timed by how far the load got.
 */
function routeUntil(router: OrchestratorRouter, orchestrators: string[], lanes: number, stop: () => boolean): { results: Routed[]; done: Promise<Routed[]> } {
  const results: Routed[] = [];
  let n = 0;
  const done = Promise.all(
    Array.from({ length: lanes }, async () => {
      while (!stop()) {
        const i = n++;
        const orchestrator = orchestrators[i % orchestrators.length];
        const id = `m${String(i).padStart(6, '0')}`;
        const t = Date.now();
        const result = await router.routeMessage(message(id), orchestrator);
        results.push({ id, orchestrator, success: result.success, status: result.status, ms: Date.now() - t, attempts: result.attempts, at: Date.now() });
      }
    }),
  ).then(() => results);
  return { results, done };
}

/** Runs `faults` beside the load and stops the load when they end (or fail). */
async function underLoad(load: { done: Promise<Routed[]> }, stop: () => void, faults: () => Promise<void>): Promise<Routed[]> {
  try {
    await faults();
  } finally {
    stop();
  }
  return load.done;
}

describe('scenario 3: redis-server (appendfsync always) killed with SIGKILL under load and restarted', () => {
  let server: RedisProcess;
  let dir: string;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'router-aof-'));
    server = await startRedis(['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir]);
  });
  afterEach(async () => {
    await closeAll();
    await server.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reconnects by itself, and every message that resolved success is delivered or queued', async () => {
    const router = newRouter({
      ...BIG,
      redis: server.url,
      deliveryTimeoutMs: 300,
      retry: { maxAttempts: 4, initialDelayMs: 50, backoffMultiplier: 2, maxDelayMs: 400 },
    });
    const errors = record(router, 'message.routing_error');
    await router.registerSession('orch_on', { id: 's', daemonId: 'daemon_on', status: 'active' });
    let stopped = false;
    let restartedAt = 0;
    const load = routeUntil(router, ['orch_on', 'orch_off'], 8, () => stopped);
    const { results } = load;
    // The server dies under load, stays down until routes have failed against it, and comes
    // back; the load goes on until routes succeed again.
    const afterRestart = () => results.filter((r) => r.success && restartedAt > 0 && r.at >= restartedAt).length;
    await underLoad(load, () => (stopped = true), async () => {
      await waitFor(() => results.filter((r) => r.success).length >= 2000, () => `2,000 routes to succeed before the kill (${results.length} resolved)`, 30_000);
      await server.kill();
      const seen = errors.length;
      await waitFor(() => errors.length > seen, 'a route to fail against the dead server', 20_000);
      await server.start();
      restartedAt = Date.now();
      await waitFor(() => afterRestart() >= 2000, () => `2,000 routes to succeed after the restart (${afterRestart()} did)`, 30_000);
    });
    const redis = plainClient(server.url);
    const inList = new Set(await delivered(redis, router, 'daemon_on'));
    const queued = new Set(
      [...(await redis.lrange(keyOf(router, 'routing:queue:orch_on'), 0, -1)), ...(await redis.lrange(keyOf(router, 'routing:queue:orch_off'), 0, -1))].map(
        (i) => JSON.parse(i).messageId,
      ),
    );
    const succeeded = results.filter((r) => r.success);
    const lost = succeeded.filter((r) => !inList.has(r.id) && !queued.has(r.id));
    const firstAfter = succeeded.filter((r) => r.at >= restartedAt).map((r) => r.at).sort((a, b) => a - b)[0];
    recordFigures('3. redis-server SIGKILL and restart (AOF, fsync always)', {
      messages: results.length,
      accepted: succeeded.length,
      failed: results.length - succeeded.length,
      'found delivered or queued': succeeded.length - lost.length,
      lost: lost.length,
      duplicated: duplicates(await delivered(redis, router, 'daemon_on')),
      'time to recover after restart (ms)': firstAfter - restartedAt,
    });
    expect(lost).toEqual([]);
    expect(duplicates(await delivered(redis, router, 'daemon_on'))).toBe(0);
  });
});

describe('scenario 4: Redis slowed with DEBUG SLEEP and connections cut with CLIENT KILL mid-load', () => {
  let server: RedisProcess;
  beforeEach(async () => {
    server = await startRedis();
  });
  afterEach(async () => {
    await closeAll();
    await server.kill();
  });

  it('bounds every call by the timeouts and retries, and no retry duplicates a message', async () => {
    const timeout = 200;
    const retry = { maxAttempts: 3, initialDelayMs: 50, backoffMultiplier: 2, maxDelayMs: 200 };
    const router = newRouter({ ...BIG, redis: server.url, deliveryTimeoutMs: timeout, retry });
    const errors = record(router, 'message.routing_error');
    const admin = plainClient(server.url);
    await router.registerSession('orch_on', { id: 's', daemonId: 'daemon_on', status: 'active' });
    let stopped = false;
    const load = routeUntil(router, ['orch_on'], 8, () => stopped);
    const { results } = load;
    /** Waits until `more` further calls resolved. */
    const further = async (more: number, what: string) => {
      const target = results.length + more;
      await waitFor(() => results.length >= target, () => `${more} calls to resolve ${what} (${results.length - target + more} did)`, 30_000);
    };
    // Each fault hits the load: the calls in flight when it lands time out or lose their
    // connection, and are retried.
    await underLoad(load, () => (stopped = true), async () => {
      await further(1000, 'before the first sleep');
      await admin.call('DEBUG', 'SLEEP', '0.5');
      await further(1000, 'after the first sleep');
      await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
      await further(1000, 'after the connections were cut');
      await admin.call('DEBUG', 'SLEEP', '0.3');
      await further(1000, 'after the second sleep');
    });
    const slowest = Math.max(...results.map((r) => r.ms));
    const list = await delivered(admin, router, 'daemon_on');
    const succeeded = results.filter((r) => r.success);
    const inList = new Set(list);
    recordFigures('4. DEBUG SLEEP and CLIENT KILL mid-load', {
      messages: results.length,
      accepted: succeeded.length,
      failed: results.length - succeeded.length,
      retried: results.filter((r) => r.attempts > 1).length,
      lost: succeeded.filter((r) => !inList.has(r.id)).length,
      duplicated: duplicates(list),
      'slowest call (ms)': slowest,
    });
    // A sleep longer than deliveryTimeoutMs ends the attempts waiting on it (they do not wait it
    // out) and they are retried; no call makes more than maxAttempts attempts.
    expect(errors.some((e) => e.error.includes('timed out'))).toBe(true);
    expect(results.filter((r) => r.attempts > 1).length).toBeGreaterThan(0);
    expect(results.every((r) => r.attempts >= 1 && r.attempts <= retry.maxAttempts)).toBe(true);
    expect(results.filter((r) => !r.success).every((r) => r.attempts === retry.maxAttempts)).toBe(true);
    expect(duplicates(list)).toBe(0);
    expect(succeeded.filter((r) => !inList.has(r.id))).toEqual([]);
  });
});

describe('scenario 5: a daemon that never acknowledges, with delivery receipts on', () => {
  it('dead-letters every message after maxAttempts deliveries, and requeueing delivers them in order', async () => {
    const receipts = {
      ...BIG,
      deliveryReceipts: { enabled: true },
      retry: { maxAttempts: 3, initialDelayMs: 10, backoffMultiplier: 2, maxDelayMs: 40 },
    };
    const router = newRouter({ ...receipts, deliveryTimeoutMs: 100 });
    const dead = record(router, 'message.dead_lettered');
    const redis = plainClient();
    const orch = uid('orch');
    await router.registerSession(orch, { id: 's', daemonId: 'daemon_silent', status: 'active' });
    const ids = Array.from({ length: 200 }, (_, i) => `m${String(i).padStart(3, '0')}`);
    const started = Date.now();
    for (const id of ids) await router.routeMessage(message(id), orch);
    await waitFor(() => dead.length === ids.length, 'every message to be dead-lettered', 20_000);
    const toDead = Date.now() - started;
    const silent = await delivered(redis, router, 'daemon_silent');
    const letters = await router.getDeadLetters(orch);

    // The new daemon acknowledges; the router that requeues gives it a minute to, so that nothing
    // is redelivered before the list is read, however slow the machine.
    await router.close();
    const patient = newRouter({ ...receipts, deliveryTimeoutMs: 60_000, keyPrefix: keyOf(router, '') });
    await patient.registerSession(orch, { id: 's2', daemonId: 'daemon_acking', status: 'active' });
    expect(await patient.requeueDeadLetters(orch)).toBe(ids.length);
    const acking = await delivered(redis, router, 'daemon_acking');
    expect(await patient.acknowledge(orch, acking)).toBe(ids.length);
    recordFigures('5. a daemon that never acknowledges', {
      messages: ids.length,
      'deliveries to the silent daemon': silent.length,
      'dead-lettered': letters.length,
      'requeued and delivered in order': acking.length,
      lost: ids.filter((id) => !acking.includes(id)).length,
      'time until all dead-lettered (ms)': toDead,
    });
    expect(ids.every((id) => silent.filter((x) => x === id).length === 3)).toBe(true);
    expect(letters.map((l) => l.messageId)).toEqual(ids);
    expect(letters.every((l) => l.attempts === 3)).toBe(true);
    expect(acking).toEqual(ids);
  });
});
