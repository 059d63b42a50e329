import type Redis from 'ioredis';
import { OrchestratorRouter, RouteMessageResult } from '..';
import { closeAll, daemonMessageIds, keyOf, message, newRouter, plainClient, record, uid, waitFor } from './support/helpers';
import { RedisProcess, startRedis } from './support/redis-server';

let server: RedisProcess;

beforeEach(async () => {
  server = await startRedis();
});

afterEach(async () => {
  await closeAll();
  await server.kill();
});

describe('retries and an unreachable Redis', () => {
  it('resolves failed after maxAttempts with the backoff between attempts, reporting each error', async () => {
    const router = newRouter({ redis: server.url, retry: { maxAttempts: 3, initialDelayMs: 60, backoffMultiplier: 2, maxDelayMs: 1000 } });
    const errors = record(router, 'message.routing_error');
    const failed = record(router, 'message.routing_failed');
    await server.kill();
    const started = Date.now();
    const result = await router.routeMessage(message('m1'), uid('orch'));
    const elapsed = Date.now() - started;
    expect(result).toEqual({ success: false, status: 'failed', error: expect.any(String), attempts: 3 });
    expect(errors).toHaveLength(3);
    expect(errors[0]).toMatchObject({ messageId: 'm1', error: expect.any(String) });
    expect(failed).toEqual([expect.objectContaining({ messageId: 'm1', attempts: 3, error: result.error })]);
    // Waited 60 ms then 120 ms between the three attempts.
    expect(elapsed).toBeGreaterThanOrEqual(180);
  });

  it('reconnects by itself when Redis comes back on the same port', async () => {
    const router = newRouter({ redis: server.url, retry: { maxAttempts: 1 } });
    const orch = uid('orch');
    const daemon = uid('daemon');
    await router.registerSession(orch, { id: 's', daemonId: daemon, status: 'active', createdAt: new Date() });
    await server.kill();
    expect((await router.routeMessage(message('lost'), orch)).status).toBe('failed');
    await server.start();
    // The restarted server kept nothing (no persistence): the orchestrator is offline now.
    expect(await router.routeMessage(message('m2'), orch)).toEqual({ success: true, status: 'offline', attempts: 1 });
    await router.registerSession(orch, { id: 's', daemonId: daemon, status: 'active', createdAt: new Date() });
    expect((await router.routeMessage(message('m3'), orch)).status).toBe('delivered');
    expect(await daemonMessageIds(plainClient(server.url), router, daemon)).toEqual(['m2', 'm3']);
  });

  /** Each attempt is cut at 150 ms; retries wait 300 ms and more. */
  const SLOW_ATTEMPTS = { deliveryTimeoutMs: 150, retry: { maxAttempts: 10, initialDelayMs: 300, backoffMultiplier: 2, maxDelayMs: 2000 } };

  /**
   * Routes `id` while Redis holds every write (CLIENT PAUSE WRITE; the route script included, and
   * the pause is in force once its reply comes): two attempts time out, both stay queued at the
   * server, and they run, late, once it resumes. Resolves the route's result.
   */
  async function routeWhileWritesPaused(router: OrchestratorRouter, admin: Redis, errors: unknown[], id: string, orch: string): Promise<RouteMessageResult> {
    await admin.call('CLIENT', 'PAUSE', '60000', 'WRITE');
    try {
      const routing = router.routeMessage(message(id), orch);
      await waitFor(() => errors.length >= 2, 'two attempts to time out');
      await admin.call('CLIENT', 'UNPAUSE');
      return await routing;
    } finally {
      await admin.call('CLIENT', 'UNPAUSE');
    }
  }

  it('bounds each attempt by deliveryTimeoutMs and never pushes twice when a slow attempt lands late', async () => {
    const router = newRouter({ redis: server.url, ...SLOW_ATTEMPTS });
    const errors = record(router, 'message.routing_error');
    const admin = plainClient(server.url);
    const orch = uid('orch');
    const daemon = uid('daemon');
    await router.registerSession(orch, { id: 's', daemonId: daemon, status: 'active', createdAt: new Date() });
    // A first route loads the route script: the late attempts below run it (on a fresh server
    // they would only be answered NOSCRIPT, and the marker would never be put to the test).
    expect((await router.routeMessage(message('first'), orch)).status).toBe('delivered');
    const result = await routeWhileWritesPaused(router, admin, errors, 'slow', orch);
    expect(errors[0].error).toBe('timed out after 150 ms');
    expect(result).toMatchObject({ success: true, status: 'delivered', sessionId: 's' });
    expect(result.attempts).toBeGreaterThan(2);
    const events = (await admin.lrange(keyOf(router, `daemon:events:${daemon}`), 0, -1)).reverse().map((e) => JSON.parse(e));
    expect(events.map((e) => e.payload.messageId)).toEqual(['first', 'slow']);
    // The event in the list is the one the first attempt built, before it timed out: a late
    // attempt landed, and the ones after it pushed nothing.
    expect(Date.parse(events[1].timestamp)).toBeLessThan(errors[0].timestamp.getTime());
  });

  it('never queues a message twice when a slow attempt lands late, and reports it queued', async () => {
    const router = newRouter({ redis: server.url, ...SLOW_ATTEMPTS });
    const errors = record(router, 'message.routing_error');
    const admin = plainClient(server.url);
    const orch = uid('orch');
    // Loads the route script (see above); the orchestrator stays offline: routes queue.
    expect((await router.routeMessage(message('first'), orch)).status).toBe('offline');
    const result = await routeWhileWritesPaused(router, admin, errors, 'slow', orch);
    // A late attempt queued it; the attempt that answered found it there (a retry looks first).
    expect(result).toMatchObject({ success: true, status: 'offline' });
    expect(result.attempts).toBeGreaterThan(2);
    const queued = (await admin.lrange(keyOf(router, `routing:queue:${orch}`), 0, -1)).map((item) => JSON.parse(item).messageId);
    expect(queued).toEqual(['first', 'slow']);
  });
});

describe('a key of the wrong type (written by something else)', () => {
  it('fails the route without leaving a delivered marker, and keeps a drain from losing the queue', async () => {
    const router = newRouter({ redis: server.url, retry: { maxAttempts: 2, initialDelayMs: 5 } });
    const redis = plainClient(server.url);
    const orch = uid('orch');
    await router.registerSession(orch, { id: 's', daemonId: 'broken', status: 'active' });
    await redis.set(keyOf(router, 'daemon:events:broken'), 'not a list');
    const result = await router.routeMessage(message('m1'), orch);
    expect(result).toMatchObject({ success: false, status: 'failed', attempts: 2 });
    expect(result.error).toContain('WRONGTYPE');
    expect(await redis.exists(keyOf(router, 'routing:delivered:m1'))).toBe(0);

    await router.unregisterSession(orch);
    await router.routeMessage(message('q1'), orch);
    await router.routeMessage(message('q2'), orch);
    await redis.set(
      keyOf(router, `routing:session:${orch}`),
      JSON.stringify({ sessionId: 's', daemonId: 'broken', status: 'active', lastActiveAt: new Date().toISOString(), createdAt: new Date().toISOString() }),
    );
    await expect(router.processQueuedMessages(orch)).rejects.toMatchObject({ message: expect.stringContaining('WRONGTYPE') });
    expect((await redis.lrange(keyOf(router, `routing:queue:${orch}`), 0, -1)).map((i) => JSON.parse(i).messageId)).toEqual(['q1', 'q2']);
    expect(await redis.exists(keyOf(router, 'routing:delivered:q1'))).toBe(0);
  });
});
