import { closeAll, daemonMessageIds, keyOf, message, newRouter, plainClient, record, uid, waitFor } from './support/helpers';

afterEach(closeAll);

describe('the offline queue', () => {
  it('queueMessageForOffline appends in order and reports the exact queue size', async () => {
    const router = newRouter();
    const queued = record(router, 'message.queued');
    const orch = uid('orch');
    for (let i = 1; i <= 3; i++) await router.queueMessageForOffline(message(`m${i}`), orch);
    const items = await plainClient().lrange(keyOf(router, `routing:queue:${orch}`), 0, -1);
    expect(items.map((i) => JSON.parse(i).messageId)).toEqual(['m1', 'm2', 'm3']);
    expect(queued.map((e) => e.queueSize)).toEqual([1, 2, 3]);
  });

  it('holds the cap exactly under many concurrent writers, dropping and reporting the oldest', async () => {
    const routers = [newRouter({ offlineQueue: { maxQueueSize: 25 } })];
    routers.push(newRouter({ keyPrefix: keyOf(routers[0], ''), offlineQueue: { maxQueueSize: 25 } }));
    routers.push(newRouter({ keyPrefix: keyOf(routers[0], ''), offlineQueue: { maxQueueSize: 25 } }));
    const dropped = routers.flatMap((r) => [record(r, 'message.dropped')]);
    const queued = routers.flatMap((r) => [record(r, 'message.queued')]);
    const orch = uid('orch');
    const total = 300;
    await Promise.all(Array.from({ length: total }, (_, i) => routers[i % 3].queueMessageForOffline(message(`m${i}`), orch)));
    const items = (await plainClient().lrange(keyOf(routers[0], `routing:queue:${orch}`), 0, -1)).map((i) => JSON.parse(i).messageId);
    const allDropped = dropped.flat();
    expect(items).toHaveLength(25);
    expect(allDropped).toHaveLength(total - 25);
    expect(allDropped.every((e) => e.reason === 'queue_full' && e.orchestratorId === orch)).toBe(true);
    expect(new Set([...items, ...allDropped.map((e) => e.messageId)]).size).toBe(total);
    expect(queued.flat().every((e) => e.queueSize >= 1 && e.queueSize <= 25)).toBe(true);
  });

  it('drops the oldest when routing to an offline orchestrator with a full queue', async () => {
    const router = newRouter({ offlineQueue: { maxQueueSize: 2 } });
    const dropped = record(router, 'message.dropped');
    const orch = uid('orch');
    for (let i = 1; i <= 3; i++) await router.routeMessage(message(`m${i}`), orch);
    expect(dropped).toEqual([{ type: 'message.dropped', messageId: 'm1', orchestratorId: orch, reason: 'queue_full', timestamp: expect.any(Date) }]);
  });

  it('expires each message queueTtlSeconds after it was queued, reporting it and never delivering it', async () => {
    const router = newRouter({ offlineQueue: { queueTtlSeconds: 1 }, drainIntervalMs: 20 });
    const dropped = record(router, 'message.dropped');
    const redis = plainClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    await router.queueMessageForOffline(message('old'), orch);
    await waitFor(() => dropped.length === 1, 'the first message to expire and be reported', 5000);
    expect(dropped[0]).toMatchObject({ messageId: 'old', orchestratorId: orch, reason: 'expired' });
    await router.queueMessageForOffline(message('new'), orch);
    await router.registerSession(orch, { id: 's', daemonId: daemon, status: 'active', createdAt: new Date() });
    expect(await daemonMessageIds(redis, router, daemon)).toEqual(['new']);
  });

  it('keeps the queue key an hour past the expiry of its newest item, so expiry is still reported', async () => {
    const router = newRouter({ offlineQueue: { queueTtlSeconds: 100 } });
    const redis = plainClient();
    const orch = uid('orch');
    const key = keyOf(router, `routing:queue:${orch}`);
    await router.queueMessageForOffline(message('m1'), orch);
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(3_690_000);
    expect(ttl).toBeLessThanOrEqual(3_700_000);
  });

  it('reports as expired, not queue_full, an old item the cap pushes out', async () => {
    const router = newRouter({ offlineQueue: { maxQueueSize: 1 } });
    const dropped = record(router, 'message.dropped');
    const redis = plainClient();
    const orch = uid('orch');
    const stale = JSON.stringify({ messageId: 'ancient', channelId: 'c', authorId: 'u', content: 'x', createdAt: '2020-01-01T00:00:00.000Z', queuedAt: '2020-01-01T00:00:00.000Z' });
    await redis.rpush(keyOf(router, `routing:queue:${orch}`), stale);
    await router.queueMessageForOffline(message('m1'), orch);
    expect(dropped.map((e) => [e.messageId, e.reason])).toEqual([['ancient', 'expired']]);
  });

  it('rejects queueMessageForOffline with OrchestratorRoutingError when the queue is disabled', async () => {
    const router = newRouter({ offlineQueue: { enabled: false } });
    await expect(router.queueMessageForOffline(message('m1'), 'o')).rejects.toMatchObject({
      name: 'OrchestratorRoutingError', code: 'ORCHESTRATOR_ROUTING_ERROR', statusCode: 500,
    });
  });
});

describe('FIFO per orchestrator', () => {
  it('puts a message routed while a backlog exists behind it (pending) and drains the backlog by itself', async () => {
    const router = newRouter({ drainIntervalMs: 20 });
    const redis = plainClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    const queueKey = keyOf(router, `routing:queue:${orch}`);
    await router.queueMessageForOffline(message('q1'), orch);
    await router.queueMessageForOffline(message('q2'), orch);
    // The session appears without a registerSession through this router (another service wrote it).
    await redis.set(
      keyOf(router, `routing:session:${orch}`),
      JSON.stringify({ sessionId: 's', daemonId: daemon, status: 'active', lastActiveAt: new Date().toISOString(), createdAt: new Date().toISOString() }),
    );
    const live = await router.routeMessage(message('live'), orch);
    expect(live).toEqual({ success: true, status: 'pending', attempts: 1 });
    await waitFor(async () => (await redis.llen(queueKey)) === 0, 'the backlog to drain');
    expect(await daemonMessageIds(redis, router, daemon)).toEqual(['q1', 'q2', 'live']);
  });

  it('keeps order when messages are routed concurrently while the orchestrator comes online', async () => {
    const router = newRouter({ drainIntervalMs: 20 });
    const redis = plainClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    for (let i = 0; i < 50; i++) await router.routeMessage(message(`a${i}`), orch);
    const registering = router.registerSession(orch, { id: 's', daemonId: daemon, status: 'active', createdAt: new Date() });
    for (let i = 0; i < 50; i++) await router.routeMessage(message(`b${i}`), orch);
    await registering;
    await waitFor(async () => (await redis.llen(keyOf(router, `daemon:events:${daemon}`))) === 100, 'all 100 messages to arrive');
    const ids = await daemonMessageIds(redis, router, daemon);
    expect(ids).toEqual([...Array.from({ length: 50 }, (_, i) => `a${i}`), ...Array.from({ length: 50 }, (_, i) => `b${i}`)]);
  });
});
