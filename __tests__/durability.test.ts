// Durability (`durability: { replicas, timeoutMs }`): a call resolves only once replicas confirm
// its writes (WAIT on the connection that wrote them), and says so when they do not. On a private
// primary with one replica, whose replication the tests stop with SIGSTOP and resume with SIGCONT.
import Redis from 'ioredis';
import { errorClasses, InvalidArgumentError, NotReplicatedError, OrchestratorRouterConfig } from '..';
import { closeAll, keyOf, message, newRouter, plainClient, record, redisClusterUrls, uid, waitFor } from './support/helpers';
import { RedisProcess, startRedis } from './support/redis-server';

jest.setTimeout(30_000);

let primary: RedisProcess;
let replica: RedisProcess;
let replicaPid: number;
let replicaClient: Redis;

beforeAll(async () => {
  primary = await startRedis();
  // Loaded from the socket, not through a dump.rdb written to the working directory.
  replica = await startRedis(['--replicaof', '127.0.0.1', String(primary.port), '--repl-diskless-load', 'on-empty-db']);
  replicaClient = new Redis(replica.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
  replicaClient.on('error', () => undefined);
  replicaPid = Number(/^process_id:(\d+)/m.exec(await replicaClient.info('server'))![1]);
  await waitFor(async () => /master_link_status:up/.test(await replicaClient.info('replication')), 'the replica to sync', 10_000);
});
afterEach(async () => {
  // A test that stopped the replica resumes it, whatever happened.
  process.kill(replicaPid, 'SIGCONT');
  await closeAll();
});
afterAll(async () => {
  replicaClient.disconnect();
  await replica.kill();
  await primary.kill();
});

/** A router on the private primary with durability on (1 replica); `timeoutMs` as given. */
function router(config: OrchestratorRouterConfig = {}, timeoutMs = 3000) {
  return newRouter({ redis: primary.url, durability: { replicas: 1, timeoutMs }, deliveryTimeoutMs: 5000, ...config });
}

/** Stops the replica: it reads nothing more from the primary, so it confirms nothing. */
function stopReplica() {
  process.kill(replicaPid, 'SIGSTOP');
}

/** Whether `promise` has settled, checked after the event loop has turned once. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true), () => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('durability: calls resolve once replicas confirm their writes', () => {
  it('resolves a route only after the replica has it, as durable', async () => {
    const r = router();
    const orch = uid('orch');
    await r.registerSession(orch, { id: 's1', daemonId: `${orch}_d` });
    // A first route loads the route function (a round that must be sent again would wait twice).
    await r.routeMessage(message('m0'), orch);
    stopReplica();
    const routing = r.routeMessage(message('m1'), orch);
    // The route ran on the primary long ago; it waits for the stopped replica.
    const onPrimary = plainClient(primary.url);
    await waitFor(async () => (await onPrimary.llen(keyOf(r, `daemon:events:${orch}_d`))) === 2, 'the event on the primary');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await settled(routing)).toBe(false);
    process.kill(replicaPid, 'SIGCONT');
    expect(await routing).toEqual({ success: true, status: 'delivered', sessionId: 's1', attempts: 1, durable: true });
    expect(await replicaClient.llen(keyOf(r, `daemon:events:${orch}_d`))).toBe(2);
  });

  it('says durable: false when the replica does not confirm in time, and a retry does not deliver twice', async () => {
    const r = router({ retry: { maxAttempts: 2, initialDelayMs: 10 } }, 100);
    const failed = record(r, 'message.routing_failed');
    const orch = uid('orch');
    await r.registerSession(orch, { id: 's1', daemonId: `${orch}_d` });
    stopReplica();
    const result = await r.routeMessage(message('m1'), orch);
    expect(result).toMatchObject({ success: false, status: 'failed', attempts: 2, durable: false });
    expect(result.error).toMatch(/^not replicated: .* 0 of the 1 replicas .* within 100 ms/);
    expect(failed).toHaveLength(1);
    // The message is on the primary once: the second attempt found it delivered.
    expect(await plainClient(primary.url).llen(keyOf(r, `daemon:events:${orch}_d`))).toBe(1);
  });

  it('confirms each route of a batch, and fails the batch as not durable without the replica', async () => {
    const r = router({ retry: { maxAttempts: 1 } }, 100);
    const orch = uid('orch');
    const items = ['b1', 'b2', 'b3'].map((id) => ({ message: message(id), orchestratorId: orch }));
    expect(await r.routeMessages(items)).toEqual(items.map(() => ({ success: true, status: 'offline', attempts: 1, durable: true })));
    stopReplica();
    const results = await r.routeMessages(['c1', 'c2'].map((id) => ({ message: message(id), orchestratorId: orch })));
    expect(results).toEqual([expect.objectContaining({ success: false, durable: false }), expect.objectContaining({ success: false, durable: false })]);
  });

  it('counts each unconfirmed round of a batch as a failed attempt: reported, backed off, and bounded by maxAttempts', async () => {
    const r = router({ retry: { maxAttempts: 10, initialDelayMs: 50, backoffMultiplier: 1 } }, 100);
    const errors = record(r, 'message.routing_error');
    const orch = uid('orch');
    const ids = ['b1', 'b2'];
    await r.routeMessage(message('b0'), orch);
    stopReplica();
    const routing = r.routeMessages(ids.map((id) => ({ message: message(id), orchestratorId: orch })));
    await waitFor(() => errors.length >= 4, 'two unconfirmed rounds to be reported');
    process.kill(replicaPid, 'SIGCONT');
    const results = await routing;
    for (const [i, id] of ids.entries()) {
      const reported = errors.filter((e) => e.messageId === id).length;
      expect(reported).toBeGreaterThanOrEqual(2);
      expect(results[i]).toEqual({ success: true, status: 'offline', attempts: reported + 1, durable: true });
    }

    // Never more attempts than maxAttempts, each one a round (one WAIT) for the whole batch.
    const bounded = router({ retry: { maxAttempts: 2, initialDelayMs: 10 } }, 100);
    const waits = async () => Number(/^cmdstat_wait:calls=(\d+)/m.exec(await plainClient(primary.url).info('commandstats'))?.[1] ?? 0);
    await bounded.routeMessage(message('c0'), orch);
    stopReplica();
    const before = await waits();
    const failed = await bounded.routeMessages(['c1', 'c2', 'c3'].map((id) => ({ message: message(id), orchestratorId: orch })));
    expect(failed.map((f) => [f.success, f.attempts, f.durable])).toEqual([[false, 2, false], [false, 2, false], [false, 2, false]]);
    expect((await waits()) - before).toBe(2);
  });

  it('rejects registrations, heartbeats and acknowledgements with NotReplicatedError when the replica does not confirm', async () => {
    const r = router({ retry: { maxAttempts: 1 }, deliveryReceipts: { enabled: true } }, 100);
    const orch = uid('orch');
    await r.registerSession(orch, { id: 's1', daemonId: 'd1' });
    stopReplica();
    for (const call of [
      () => r.registerSession(orch, { id: 's1', daemonId: 'd1' }),
      () => r.updateSessionActivity(orch),
      () => r.acknowledge(orch, ['m1']),
    ]) {
      const error = await call().then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(NotReplicatedError);
      expect(error).toMatchObject({ code: 'NOT_REPLICATED', statusCode: 503, metadata: { orchestratorId: orch } });
      expect((error as Error).message).toMatch(/not replicated/);
    }
    // Reads need no confirmation.
    expect(await r.isOrchestratorOnline(orch)).toBe(true);
  });

  it("raises NotReplicatedError in a host's error family (errorBase), caught by either class", async () => {
    class HostError extends Error {
      constructor(message: string, readonly code: string, readonly statusCode = 500, readonly metadata?: Record<string, unknown>) {
        super(message);
      }
    }
    const r = router({ retry: { maxAttempts: 1 }, errorBase: HostError }, 100);
    stopReplica();
    const error = await r.registerSession(uid('orch'), { id: 's1', daemonId: 'd1' }).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(HostError);
    expect(error).toBeInstanceOf(errorClasses(HostError).NotReplicatedError);
    expect(error).toBeInstanceOf(NotReplicatedError);
    expect(error).toMatchObject({ name: 'NotReplicatedError', code: 'NOT_REPLICATED', statusCode: 503 });
  });

  it('fails a drain step the replica does not confirm, and drains once it does', async () => {
    const r = router({ drainIntervalMs: 20, retry: { maxAttempts: 1, initialDelayMs: 50 } }, 100);
    const failed = record(r, 'queue.processing_failed');
    const orch = uid('orch');
    for (const id of ['q1', 'q2']) await r.routeMessage(message(id), orch);
    stopReplica();
    // The session reaches the primary (not confirmed: the call rejects), and the drain it is due
    // fails its steps until the replica confirms them.
    await expect(r.registerSession(orch, { id: 's1', daemonId: `${orch}_d` })).rejects.toThrow(NotReplicatedError);
    await waitFor(() => failed.some((e) => /not replicated/.test(e.error)), 'a drain step to fail as not replicated');
    process.kill(replicaPid, 'SIGCONT');
    await waitFor(async () => (await replicaClient.llen(keyOf(r, `daemon:events:${orch}_d`))) === 2, 'both messages delivered and on the replica', 10_000);
    expect(await r.getQueueDepth(orch)).toBe(0);
  });
});

describe('durability: what is refused at construction', () => {
  it.each<[string, OrchestratorRouterConfig, string, RegExp]>([
    ['without replicas', { durability: {} as never }, 'durability.replicas', /is required/],
    ['with 0 replicas', { durability: { replicas: 0 } }, 'durability.replicas', /must be/],
    ['with a WAIT longer than an attempt', { durability: { replicas: 1, timeoutMs: 2000 }, deliveryTimeoutMs: 2000 }, 'durability.timeoutMs', /less than deliveryTimeoutMs \(2000\)/],
    ['on the in-process store', { durability: { replicas: 1 }, redis: 'memory://durable' }, 'durability', /in-process store has none/],
    ['on a Redis Cluster', { durability: { replicas: 1 }, redis: { cluster: [] } }, 'durability', /Redis Cluster/],
  ])('refuses durability %s', (_what, config, field, problem) => {
    const redis = config.redis && typeof config.redis === 'object' && 'cluster' in config.redis ? { cluster: redisClusterUrls() } : config.redis;
    let thrown: unknown;
    try {
      newRouter({ redis: primary.url, ...config, ...(redis ? { redis } : {}) });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidArgumentError);
    expect((thrown as Error).message).toMatch(problem);
    expect((thrown as InvalidArgumentError).metadata).toEqual({ field });
  });
});
