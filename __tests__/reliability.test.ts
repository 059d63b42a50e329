// The reliability scenarios: real processes, real faults, and an account of every message —
// accepted = delivered + reported; none lost, none duplicated, FIFO per orchestrator (scenario 6a,
// a Sentinel failover without durability, counts the loss Redis's asynchronous replication allows
// instead of forbidding it). Each records its figures for RELIABILITY.md (npm run reliability).
import Redis from 'ioredis';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OrchestratorRouter } from '..';
import { recordFigures } from './support/figures';
import { closeAll, keyOf, message, newRouter, plainClient, record, redisUrl, uid, waitFor } from './support/helpers';
import { RouterProcess, startRouterProcess } from './support/processes';
import { RedisSentinelProcess, startRedisSentinel } from './support/redis-sentinel';
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

/** One time an event was found: popped by the consumer (its pop confirmed by a replica or not), or left over at the end. */
interface Sighting {
  messageId: string;
  eventId: string;
  /** The daemon list it was popped from or left in; the orchestrator's queue for a queued message. */
  where: string;
  /** A pop a replica confirmed (WAIT 1 answered 1); true for what was left over (nothing more to lose). */
  confirmed: boolean;
}

/**
 * The daemons of scenario 6: one client configured with the Sentinels (it follows the failover by
 * itself) that pops the daemon lists from the right, up to 1,000 events at a time (BLMPOP, which
 * blocks 100 ms at most on empty lists), then sends WAIT 1 1000 and records whether a replica
 * confirmed the pop. A pop the old primary made but never replicated comes back on the promoted
 * one, to be popped again: the consumer's loss, not the router's.
 *
 * A command is sent only while the client is ready, and one cut off by the kill is counted, not
 * sent again (a pop whose reply was lost may have taken events with it). ioredis, told not to
 * resend such commands (autoResendUnfulfilledCommands: false), drops them without settling their
 * promises: the close event settles them here.
 */
function startConsumer(deployment: RedisSentinelProcess, lists: string[]) {
  const client = new Redis({
    sentinels: deployment.sentinelPorts.map((port) => ({ host: '127.0.0.1', port })),
    name: deployment.name,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: null,
    retryStrategy: () => 100,
  });
  client.on('error', () => undefined);
  const stopping = new AbortController();
  /** Resolves once the client is ready (true), or once the consumer is stopped (false). */
  const ready = (): Promise<boolean> =>
    new Promise((resolve) => {
      if (client.status === 'ready' || stopping.signal.aborted) return resolve(!stopping.signal.aborted);
      const settle = (value: boolean) => {
        client.off('ready', onReady);
        stopping.signal.removeEventListener('abort', onAbort);
        resolve(value);
      };
      const onReady = () => settle(true);
      const onAbort = () => settle(false);
      client.on('ready', onReady);
      stopping.signal.addEventListener('abort', onAbort);
    });
  /** Sends a command (the client is ready); rejects if the connection closes before its reply. */
  const send = async (...args: string[]): Promise<unknown> => {
    let onClose = () => undefined as void;
    const closed = new Promise<never>((_, reject) => {
      onClose = () => reject(new Error('connection closed before the reply'));
      client.once('close', onClose);
    });
    try {
      return await Promise.race([client.call(args[0], ...args.slice(1)), closed]);
    } finally {
      client.off('close', onClose);
    }
  };
  const sightings: Sighting[] = [];
  const state = { cut: 0, pops: 0, unconfirmed: 0 };
  const done = (async () => {
    for (let turn = 0; await ready(); turn++) {
      // Each list in turn comes first: BLMPOP pops from the first non-empty one.
      const order = [...lists.slice(turn % lists.length), ...lists.slice(0, turn % lists.length)];
      let reply: [string, string[]] | null;
      try {
        reply = (await send('BLMPOP', '0.1', String(order.length), ...order, 'RIGHT', 'COUNT', '1000')) as [string, string[]] | null;
      } catch {
        state.cut += 1;
        continue;
      }
      if (!reply) continue;
      const confirmed = await send('WAIT', '1', '1000').then((n) => Number(n) >= 1, () => false);
      state.pops += 1;
      if (!confirmed) state.unconfirmed += 1;
      for (const raw of reply[1]) {
        const event = JSON.parse(raw);
        sightings.push({ messageId: event.payload.messageId, eventId: event.id, where: reply[0], confirmed });
      }
    }
  })();
  return {
    sightings,
    state,
    /** Stops popping (after the pop under way, recorded) and disconnects. */
    async stop() {
      stopping.abort();
      await done;
      client.disconnect();
    },
  };
}

/** Counts lines matching `match` across processes as they come, reading each line once. */
function counter(workers: RouterProcess[], match: (line: Record<string, unknown>) => boolean): () => number {
  const seen = workers.map(() => 0);
  let count = 0;
  return () => {
    workers.forEach((w, i) => {
      for (; seen[i] < w.lines.length; seen[i]++) if (match(w.lines[seen[i]])) count += 1;
    });
    return count;
  };
}

describe('scenario 6: a Sentinel failover under load (the primary killed with SIGKILL, the replica promoted)', () => {
  let deployment: RedisSentinelProcess;
  let workers: RouterProcess[] = [];
  let consumer: ReturnType<typeof startConsumer> | undefined;
  beforeEach(async () => {
    deployment = await startRedisSentinel();
  });
  afterEach(async () => {
    // Whatever happened: no router process outlives the test, nor the consumer, nor the deployment.
    for (const w of workers.splice(0)) {
      w.kill('SIGKILL');
      await w.exited;
    }
    await consumer?.stop();
    consumer = undefined;
    await closeAll();
    await deployment.stop();
  });

  const PROCESSES = ['p1', 'p2', 'p3'];
  const LOOPS = 4;
  const ORCHESTRATORS = ['orch_a', 'orch_b', 'orch_c', 'orch_d'];
  const daemonOf = (orch: string) => `daemon_${orch}`;
  // Retries that outlast the failover with room to spare on a busy machine: at least 15 s at 100 ms
  // apart (a failover takes about 4 s here; with durability each attempt also waits 500 ms for WAIT).
  const RETRY = { maxAttempts: 150, initialDelayMs: 100, backoffMultiplier: 1 };

  /**
   * Three router processes (four loops each) route through the Sentinels while the consumer pops;
   * once 2,000 routes have succeeded the primary is killed; once the Sentinels have promoted the
   * replica the killed node is restarted as a replica of the new primary (with durability: { replicas:
   * 1 } no write can be confirmed before); the load stops once 2,000 more routes have succeeded after
   * that. Then the consumer empties the daemon lists and what is left is read on the new primary.
   */
  async function failoverUnderLoad(label: string, durability?: { replicas: number }) {
    const keyPrefix = `${uid('s6')}:`;
    const redis = { sentinels: deployment.sentinelUrls, name: deployment.name };
    const setup = newRouter({ redis, keyPrefix, deliveryTimeoutMs: 5000, ...(durability ? { durability } : {}) });
    for (const orch of ORCHESTRATORS) await setup.registerSession(orch, { id: `s_${orch}`, daemonId: daemonOf(orch), status: 'active' });
    await setup.close();
    consumer = startConsumer(
      deployment,
      ORCHESTRATORS.map((o) => `${keyPrefix}daemon:events:${daemonOf(o)}`),
    );
    workers = PROCESSES.map((name) => startRouterProcess({ role: 'stream', redis, keyPrefix, name, orchestrators: ORCHESTRATORS, loops: LOOPS, durability, retry: RETRY }));
    const resolved = () => workers.flatMap((w) => w.lines.filter((l) => l.id)) as unknown as StreamResult[];
    const successes = counter(workers, (l) => l.id !== undefined && l.success === true);

    await waitFor(() => successes() >= 2000, () => `2,000 routes to succeed before the kill (${successes()} did)`, 30_000);
    const killed = await deployment.killPrimary();
    const killedAt = Date.now();
    const promoted = await deployment.waitForFailover(killed, 60_000);
    const failoverAt = Date.now();
    // When the restarted node is a replica in sync again: with durability, no write can be confirmed before.
    const node = plainClient(`redis://127.0.0.1:${promoted}`);
    const replicating = waitFor(
      async () => /^slave0:.*state=online/m.test(await node.info('replication')),
      `the killed node to replicate from the new primary ${promoted}`,
      30_000,
    ).then(() => Date.now());
    await deployment.restartNode(killed);
    const replicatingAt = await replicating;
    const atRestart = successes();
    await waitFor(() => successes() - atRestart >= 2000, () => `2,000 routes to succeed after the restart of the killed node (${successes() - atRestart} did)`, 60_000);

    workers.forEach((w) => w.kill('SIGTERM'));
    const codes = await Promise.all(workers.map((w) => w.exited));
    const done = workers.map((w) => w.lines.some((l) => l.done === true));
    // A process's own failure (not a route's or an attempt's).
    const errors = workers.flatMap((w) => w.lines.filter((l) => l.error !== undefined && l.id === undefined && l.routingError === undefined));
    const results = resolved();
    const dropped = workers.flatMap((w) => w.lines.filter((l) => l.dropped !== undefined));

    // The consumer empties the daemon lists on the promoted node; what is left (queues) is read there.
    const listKeys = ORCHESTRATORS.map((o) => `${keyPrefix}daemon:events:${daemonOf(o)}`);
    const remaining = async () => (await Promise.all(listKeys.map((k) => node.llen(k)))).reduce((a, b) => a + b, 0);
    await waitFor(async () => (await remaining()) === 0, async () => `the consumer to empty the daemon lists (${await remaining()} events left)`, 30_000);
    await consumer.stop();
    const { sightings, state } = consumer;
    consumer = undefined;
    for (const orch of ORCHESTRATORS) {
      for (const key of [`${keyPrefix}daemon:events:${daemonOf(orch)}`, `${keyPrefix}routing:queue:${orch}`]) {
        for (const raw of (await node.lrange(key, 0, -1)).reverse()) {
          const item = JSON.parse(raw);
          const messageId = item.payload?.messageId ?? item.messageId;
          sightings.push({ messageId, eventId: item.id ?? `queued ${messageId}`, where: key, confirmed: true });
        }
      }
    }

    // Every later sighting of an id is a re-read if the one before it was a pop no replica
    // confirmed of the same event, and a duplicate otherwise.
    const last = new Map<string, Sighting>();
    let duplicated = 0;
    let reread = 0;
    for (const s of sightings) {
      const before = last.get(s.messageId);
      if (before) {
        if (!before.confirmed && before.eventId === s.eventId) reread += 1;
        else duplicated += 1;
      }
      last.set(s.messageId, s);
    }
    // FIFO per sender loop and orchestrator: each list's first sightings, by seq.
    let outOfOrder = 0;
    const lastSeq = new Map<string, number>();
    const firstSeen = new Set<string>();
    for (const s of sightings) {
      if (firstSeen.has(s.messageId)) continue;
      firstSeen.add(s.messageId);
      const [sender, lane, orch, seq] = s.messageId.split(':');
      const key = `${sender}:${lane}:${orch}`;
      if (lastSeq.has(key) && Number(seq) <= lastSeq.get(key)!) outOfOrder += 1;
      lastSeq.set(key, Number(seq));
    }
    const accepted = results.filter((r) => r.success);
    const failed = results.filter((r) => !r.success);
    // An accepted message found nowhere was lost by the router if its delivered marker, written by
    // the same script as its event, is not on the new primary either (the write never reached the
    // replica). With its marker there, its event reached the replica and was popped since: by a pop
    // whose reply the kill cut off (the consumer's loss), or, with no such pop, by nobody: lost.
    const missing = accepted.filter((r) => !firstSeen.has(r.id));
    const marked = await Promise.all(missing.map((r) => node.exists(`${keyPrefix}routing:delivered:${r.id}`)));
    const takenByCutPop = state.cut > 0 ? missing.filter((_, i) => marked[i] === 1) : [];
    const lost = missing.filter((r) => !takenByCutPop.includes(r));
    const sent = new Set(results.map((r) => r.id));
    const strangers = [...firstSeen].filter((id) => !sent.has(id));
    // Failed attempts per message, as the routers reported them (message.routing_error). A result's
    // `attempts` is not used for this: it undercounts a route that went through a batch (the
    // routeMessage calls of one tick) and then, its batch rounds spent, was routed alone: it counts
    // only the attempts made alone (1 where 38 had failed, in this scenario's runs).
    const failedAttempts = new Map<string, number>();
    for (const w of workers) for (const l of w.lines) if (l.routingError !== undefined) failedAttempts.set(l.routingError as string, (failedAttempts.get(l.routingError as string) ?? 0) + 1);
    // Recovered: the first success of a route that started after the kill or had an attempt fail
    // (one resolved just after the kill without a failed attempt may have been written before it).
    const recoveredAt = Math.min(...accepted.filter((r) => r.at > killedAt && (r.started > killedAt || failedAttempts.has(r.id))).map((r) => r.at));
    // The calls in flight when the primary died (started before, resolved after).
    const inFlight = results.filter((r) => r.started <= killedAt && r.at > killedAt);
    const figures: Record<string, number | string> = {
      messages: results.length,
      accepted: accepted.length,
      failed: failed.length,
      'found delivered or queued': accepted.length - missing.length,
      lost: lost.length,
      'taken by a consumer pop cut off by the kill': takenByCutPop.length,
      duplicated,
      're-read after an unconfirmed pop': reread,
      'out of order': outOfOrder,
      'routes with a failed attempt': failedAttempts.size,
      'failover as the harness saw it (ms)': failoverAt - killedAt,
      'killed node replicating again (ms after the kill)': replicatingAt - killedAt,
      'time to recover (ms)': recoveredAt - killedAt,
    };
    if (durability) figures['resolved durable: true'] = accepted.filter((r) => r.durable === true).length;
    recordFigures(label, figures);
    console.log(
      `${label}\n${Object.entries(figures).map(([k, v]) => `  ${k}: ${v}`).join('\n')}\n  consumer: ${state.pops} pops, ${state.unconfirmed} unconfirmed, ${state.cut} cut off by the kill` +
        `\n  in flight at the kill: ${inFlight.length}, resolved ${Math.min(...inFlight.map((r) => r.at - killedAt))}..${Math.max(...inFlight.map((r) => r.at - killedAt))} ms after it, ` +
        `attempts reported ${JSON.stringify(inFlight.map((r) => r.attempts))}, failed attempts reported (message.routing_error) ${JSON.stringify(inFlight.map((r) => failedAttempts.get(r.id) ?? 0))}` +
        `\n  statuses: ${JSON.stringify(results.reduce<Record<string, number>>((n, r) => ({ ...n, [r.status]: (n[r.status] ?? 0) + 1 }), {}))}` +
        (failed.length ? `\n  failures: ${JSON.stringify(failed.slice(0, 3))}` : '') +
        (lost.length ? `\n  lost: ${JSON.stringify(lost.slice(0, 10).map((r) => ({ ...r, marked: marked[missing.indexOf(r)] })))}` : ''),
    );

    expect(codes).toEqual([0, 0, 0]);
    expect(done).toEqual([true, true, true]);
    expect(errors).toEqual([]);
    expect(dropped).toEqual([]);
    expect(new Set(results.map((r) => r.id)).size).toBe(results.length);
    expect(strangers).toEqual([]);
    expect(duplicated).toBe(0);
    expect(outOfOrder).toBe(0);
    expect(Number.isFinite(recoveredAt)).toBe(true);
    return { accepted, failed, lost };
  }

  it('6a. without durability: the loss that asynchronous replication allows is counted, none duplicated, FIFO held', async () => {
    await failoverUnderLoad('6a. Sentinel failover under load, no durability');
  }, 180_000);

  it('6b. with durability: { replicas: 1 }: nothing that resolved success is lost, none duplicated, FIFO held', async () => {
    const { accepted, lost } = await failoverUnderLoad('6b. Sentinel failover under load, durability: { replicas: 1 }', { replicas: 1 });
    expect(accepted.every((r) => r.durable === true)).toBe(true);
    expect(lost).toEqual([]);
  }, 180_000);
});

interface StreamResult {
  id: string;
  orchestrator: string;
  success: boolean;
  status: string;
  durable?: boolean;
  attempts: number;
  started: number;
  at: number;
}
