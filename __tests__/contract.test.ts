// The contract every store keeps: one suite, run on Redis, on Redis as a user with no more than
// the README's least-privilege ACL, on Redis over TLS (routes then take the store's own
// connection, not the Node socket), on a Redis Cluster of three masters, on the primary Redis
// Sentinel names (with `durability`: each write confirmed by its replica), and on the in-process
// store (`redis: 'memory://…'`). It sees the router only through its public
// API, and what daemons received only through readDaemonEvents, so it holds for all alike.
import { DaemonEvent, OrchestratorRouter, OrchestratorRouterConfig, OrchestratorRoutingError } from '..';
import { closeAll, keyOf, message, newRouter, record, redisAclUrl, redisClusterUrls, redisSentinel, redisTls, redisUrl, uid, waitFor } from './support/helpers';

afterEach(closeAll);

type RedisOption = OrchestratorRouterConfig['redis'];

/** A store's name, its `redis` option, how its key prefixes start and its other options, when it needs them. */
const stores: Array<[string, () => RedisOption, string?, OrchestratorRouterConfig?]> = [
  ['Redis', () => redisUrl()],
  // The ACL user's keys start with 'acl_' (ACL_PREFIX_PATTERN in support/acl.ts).
  ['Redis as the least-privilege ACL user', () => redisAclUrl(), 'acl'],
  ['Redis over TLS', () => ({ url: redisTls().url, tls: { ca: redisTls().ca } })],
  ['a Redis Cluster', () => ({ cluster: redisClusterUrls() })],
  ['the primary Redis Sentinel names, with durability', () => redisSentinel(), undefined, { durability: { replicas: 1 } }],
  ['the in-process store', () => `memory://${uid('contract')}`],
];

describe.each(stores)('the routing contract on %s', (_name, store, prefix, storeConfig = {}) => {
  /** What a route's result adds with durability on: its writes were confirmed. */
  const confirmed = storeConfig.durability ? { durable: true } : {};

  /** A router on a fresh store (Redis: a fresh key prefix); `like` shares another router's store. */
  function router(config: OrchestratorRouterConfig = {}, like?: OrchestratorRouter): OrchestratorRouter {
    const shared = like
      ? { redis: options.get(like), keyPrefix: keyOf(like, '') }
      : { redis: store(), ...(prefix ? { keyPrefix: uid(prefix) + ':' } : {}) };
    const made = newRouter({ ...storeConfig, ...config, ...shared });
    options.set(made, shared.redis);
    return made;
  }
  const options = new WeakMap<OrchestratorRouter, RedisOption>();

  async function online(r: OrchestratorRouter, orch: string, daemon: string, id = `sess_${daemon}`): Promise<void> {
    await r.registerSession(orch, { id, daemonId: daemon, status: 'active', createdAt: new Date('2026-11-27T09:00:00.000Z') });
  }

  async function received(r: OrchestratorRouter, daemon: string): Promise<string[]> {
    return (await r.readDaemonEvents(daemon, { max: 10_000 })).map((e) => e.payload.messageId);
  }

  it('delivers to an online orchestrator the daemon event the daemons read', async () => {
    const r = router();
    const routed = record(r, 'message.routed');
    const orch = uid('orch');
    await online(r, orch, 'd1');
    const result = await r.routeMessage(message('m1', { content: 'Hello "orchestrator" é\n' }), orch);
    expect(result).toEqual({ success: true, status: 'delivered', sessionId: 'sess_d1', attempts: 1, ...confirmed });
    const [event] = await r.readDaemonEvents('d1');
    expect(Object.keys(event)).toEqual(['id', 'type', 'daemonId', 'orchestratorId', 'payload', 'timestamp', 'requiresAck', 'priority']);
    expect(event).toMatchObject<Partial<DaemonEvent>>({
      type: 'message.received',
      daemonId: 'd1',
      orchestratorId: orch,
      payload: { messageId: 'm1', channelId: 'chan_1', content: 'Hello "orchestrator" é\n', authorId: 'user_1', timestamp: '2026-11-27T10:00:00.000Z' },
      requiresAck: true,
      priority: 2,
    });
    expect(event.id).toMatch(/^evt_\d+_[0-9a-f]{8}$/);
    expect(routed).toEqual([{ type: 'message.routed', messageId: 'm1', orchestratorId: orch, sessionId: 'sess_d1', attempts: 1, timestamp: expect.any(Date) }]);
  });

  it('queues for an offline orchestrator and drains in order when its session registers', async () => {
    const r = router();
    const seen = record(r, 'message.queued', 'queue.processing_started', 'queue.processing_completed');
    const orch = uid('orch');
    for (const id of ['q1', 'q2', 'q3']) expect(await r.routeMessage(message(id), orch)).toEqual({ success: true, status: 'offline', attempts: 1, ...confirmed });
    expect(await r.getQueueDepth(orch)).toBe(3);
    expect(await r.isOrchestratorOnline(orch)).toBe(false);
    await online(r, orch, 'd1');
    expect(await received(r, 'd1')).toEqual(['q1', 'q2', 'q3']);
    expect(await r.getQueueDepth(orch)).toBe(0);
    expect(seen.map((e) => e.type)).toEqual(['message.queued', 'message.queued', 'message.queued', 'queue.processing_started', 'queue.processing_completed']);
    expect(seen.slice(0, 3).map((e) => (e as { queueSize: number }).queueSize)).toEqual([1, 2, 3]);
  });

  it('keeps FIFO: a message routed while a backlog waits goes behind it (pending)', async () => {
    const r = router({ daemonQueue: { maxEvents: 2 }, drainIntervalMs: 20 });
    const orch = uid('orch');
    await online(r, orch, 'd1');
    const results = [];
    for (const id of ['m1', 'm2', 'm3', 'm4']) results.push((await r.routeMessage(message(id), orch)).status);
    expect(results).toEqual(['delivered', 'delivered', 'pending', 'pending']);
    // The daemon takes its two events: the backlog follows, in order, within a tick or two.
    const taken = await r.readDaemonEvents('d1');
    expect(await r.acknowledgeDaemonEvents('d1', taken.map((e) => e.id))).toBe(2);
    await waitFor(async () => (await r.getQueueDepth(orch)) === 0, 'the backlog to drain');
    expect(await received(r, 'd1')).toEqual(['m3', 'm4']);
  });

  it('holds the queue cap exactly, dropping and reporting the oldest', async () => {
    const r = router({ offlineQueue: { maxQueueSize: 3 } });
    const dropped = record(r, 'message.dropped');
    const orch = uid('orch');
    for (let i = 1; i <= 5; i++) await r.queueMessageForOffline(message(`m${i}`), orch);
    expect(await r.getQueueDepth(orch)).toBe(3);
    expect(dropped.map((e) => [e.messageId, e.reason])).toEqual([['m1', 'queue_full'], ['m2', 'queue_full']]);
    await online(r, orch, 'd1');
    expect(await received(r, 'd1')).toEqual(['m3', 'm4', 'm5']);
  });

  it('expires queued messages queueTtlSeconds after they were queued, reporting them', async () => {
    const r = router({ offlineQueue: { queueTtlSeconds: 1 }, drainIntervalMs: 20 });
    const dropped = record(r, 'message.dropped');
    const orch = uid('orch');
    await r.queueMessageForOffline(message('old'), orch);
    await waitFor(() => dropped.length === 1, 'the message to expire', 5000);
    expect(dropped[0]).toMatchObject({ messageId: 'old', reason: 'expired' });
    await r.queueMessageForOffline(message('new'), orch);
    await online(r, orch, 'd1');
    expect(await received(r, 'd1')).toEqual(['new']);
  });

  it('offline, reports a message expiring at the head of a lower level while a higher level still waits', async () => {
    const r = router({ offlineQueue: { queueTtlSeconds: 2 }, drainIntervalMs: 20 });
    const dropped = record(r, 'message.dropped');
    const orch = uid('orch');
    await r.queueMessageForOffline(message('n1'), orch);
    await new Promise((resolve) => setTimeout(resolve, 1000)); // h1 is queued a second after n1
    await r.queueMessageForOffline(message('h1', { priority: 'high' }), orch);
    await waitFor(() => dropped.length >= 1, 'n1 to expire', 5000);
    // Reported when it expired, not when the high message in front of it does, a second later.
    expect(dropped.map((e) => [e.messageId, e.reason])).toEqual([['n1', 'expired']]);
    expect(await r.getQueueDepth(orch)).toBe(1);
    await waitFor(() => dropped.length === 2, 'h1 to expire', 5000);
    expect(dropped[1]).toMatchObject({ messageId: 'h1', reason: 'expired' });
  });

  it('delivers by priority and applies the cap by level', async () => {
    const r = router({ offlineQueue: { maxQueueSize: 4 } });
    const dropped = record(r, 'message.dropped');
    const orch = uid('orch');
    await r.queueMessageForOffline(message('l1', { priority: 'low' }), orch);
    await r.queueMessageForOffline(message('n1'), orch);
    await r.queueMessageForOffline(message('h1', { priority: 'high' }), orch);
    await r.queueMessageForOffline(message('n2', { priority: 'normal' }), orch);
    await r.queueMessageForOffline(message('h2', { priority: 'high' }), orch);
    expect(dropped.map((e) => e.messageId)).toEqual(['l1']);
    await expect(r.queueMessageForOffline(message('l2', { priority: 'low' }), orch)).rejects.toThrow(OrchestratorRoutingError);
    await online(r, orch, 'd1');
    const events = await r.readDaemonEvents('d1');
    expect(events.map((e) => [e.payload.messageId, e.priority])).toEqual([['h1', 3], ['h2', 3], ['n1', 2], ['n2', 2]]);
  });

  it('pushes a message id to a daemon once, however often it is routed', async () => {
    const r = router();
    const orch = uid('orch');
    await online(r, orch, 'd1');
    const results = await Promise.all([1, 2, 3].map(() => r.routeMessage(message('same'), orch)));
    expect(results.every((x) => x.status === 'delivered')).toBe(true);
    expect(await received(r, 'd1')).toEqual(['same']);
  });

  it('routes a batch in order, each with routeMessage\'s guarantees', async () => {
    const r = router();
    const [a, b] = [uid('a'), uid('b')];
    await online(r, a, 'da');
    const results = await r.routeMessages([
      { message: message('a1'), orchestratorId: a },
      { message: message('b1'), orchestratorId: b },
      { message: message('a2'), orchestratorId: a },
    ]);
    expect(results.map((x) => x.status)).toEqual(['delivered', 'offline', 'delivered']);
    expect(await received(r, 'da')).toEqual(['a1', 'a2']);
    expect(await r.getQueueDepth(b)).toBe(1);
  });

  it('keeps sessions: the heartbeat never recreates one, unregistering makes the orchestrator offline, and they expire', async () => {
    const r = router({ sessions: { ttlSeconds: 1 } });
    const orch = uid('orch');
    await online(r, orch, 'd1');
    expect(await r.getOrchestratorSession(orch)).toMatchObject({ sessionId: 'sess_d1', daemonId: 'd1', status: 'active' });
    await r.updateSessionActivity(orch);
    await r.unregisterSession(orch);
    await r.updateSessionActivity(orch);
    expect(await r.getOrchestratorSession(orch)).toBeNull();
    expect((await r.routeMessage(message('m1'), orch)).status).toBe('offline');
    await online(r, orch, 'd2');
    expect(await received(r, 'd2')).toEqual(['m1']);
    await waitFor(async () => (await r.getOrchestratorSession(orch)) === null, 'the session to expire', 5000);
    expect((await r.routeMessage(message('m2'), orch)).status).toBe('offline');
  });

  it('with several sessions, routes to the primary and falls back to the next active one', async () => {
    const r = router({ sessions: { multiple: true } });
    const orch = uid('orch');
    await online(r, orch, 'd1', 's1');
    await online(r, orch, 'd2', 's2');
    expect((await r.getOrchestratorSessions(orch)).map((s) => s.sessionId)).toEqual(['s2', 's1']);
    expect(await r.routeMessage(message('m1'), orch)).toMatchObject({ sessionId: 's2' });
    await r.registerSession(orch, { id: 's2', daemonId: 'd2', status: 'expired' });
    expect(await r.routeMessage(message('m2'), orch)).toMatchObject({ sessionId: 's1' });
    await r.unregisterSession(orch, 's1');
    expect((await r.routeMessage(message('m3'), orch)).status).toBe('offline');
    expect([await received(r, 'd1'), await received(r, 'd2')]).toEqual([['m2'], ['m1']]);
  });

  it('with broadcast routing, delivers to every living active session\'s daemon once, and drains to all', async () => {
    const r = router({ sessions: { multiple: true, routing: 'broadcast' } });
    const orch = uid('orch');
    await r.queueMessageForOffline(message('q1'), orch);
    await online(r, orch, 'd1', 's1');
    await online(r, orch, 'd2', 's2');
    await online(r, orch, 'd1', 's3');
    await r.routeMessage(message('m1'), orch);
    expect(await received(r, 'd1')).toEqual(['q1', 'm1']);
    expect(await received(r, 'd2')).toEqual(['m1']);
    const [one, two] = [await r.readDaemonEvents('d1'), await r.readDaemonEvents('d2')];
    expect(two[0].id).toBe(one[1].id);
    expect(two[0].daemonId).toBe('d2');
  });

  it('with delivery receipts, redelivers with the same event id, dead-letters, and requeues dead letters', async () => {
    const r = router({
      deliveryReceipts: { enabled: true },
      deliveryTimeoutMs: 100,
      retry: { maxAttempts: 2, initialDelayMs: 10, backoffMultiplier: 2, maxDelayMs: 20 },
      drainIntervalMs: 20,
    });
    const dead = record(r, 'message.dead_lettered');
    const orch = uid('orch');
    await online(r, orch, 'd1');
    await r.routeMessage(message('acked'), orch);
    expect(await r.acknowledge(orch, ['acked', 'unknown'])).toBe(1);
    await r.routeMessage(message('lost'), orch);
    await waitFor(() => dead.length === 1, 'the unacknowledged message to be dead-lettered');
    const events = (await r.readDaemonEvents('d1')).filter((e) => e.payload.messageId === 'lost');
    expect(events).toHaveLength(2);
    expect(events[1].id).toBe(events[0].id);
    expect((await r.getDeadLetters(orch)).map((l) => [l.messageId, l.attempts])).toEqual([['lost', 2]]);
    await r.unregisterSession(orch);
    expect(await r.requeueDeadLetters(orch)).toBe(1);
    expect(await r.getQueueDepth(orch)).toBe(1);
    await online(r, orch, 'd2');
    expect(await received(r, 'd2')).toEqual(['lost']);
    expect(await r.acknowledge(orch, ['lost'])).toBe(1);
  });

  it('shares one store between two routers: one queues, the other drains', async () => {
    const a = router();
    const b = router({}, a);
    const orch = uid('orch');
    await a.routeMessage(message('m1'), orch);
    await a.routeMessage(message('m2'), orch);
    expect(await b.getQueueDepth(orch)).toBe(2);
    await online(b, orch, 'd1');
    expect(await received(a, 'd1')).toEqual(['m1', 'm2']);
  });

  it('lets a daemon read a bounded number of its events, oldest first, and acknowledge them by id', async () => {
    const r = router();
    const orch = uid('orch');
    await online(r, orch, 'd1');
    for (const id of ['m1', 'm2', 'm3']) await r.routeMessage(message(id), orch);
    const first = await r.readDaemonEvents('d1', { max: 2 });
    expect(first.map((e) => e.payload.messageId)).toEqual(['m1', 'm2']);
    expect(await r.acknowledgeDaemonEvents('d1', [first[0].id, 'evt_0_00000000'])).toBe(1);
    expect(await received(r, 'd1')).toEqual(['m2', 'm3']);
    await expect(r.readDaemonEvents('d1', { max: 0 })).rejects.toThrow('Invalid options.max');
    expect(await r.readDaemonEvents(uid('nobody'))).toEqual([]);
  });

  it('counts what it did in its metrics', async () => {
    const r = router();
    const orch = uid('orch');
    await r.routeMessage(message('q1'), orch);
    await online(r, orch, 'd1');
    await r.routeMessage(message('m1'), orch);
    const metrics = r.getMetrics();
    expect(metrics).toMatchObject({ routed: 2, queued: 1, drained: 1, delivered: 2 });
    expect(metrics.deliveryLatencyMs.count).toBe(2);
    expect(r.metrics()).toContain('orchestrator_router_routed_total 2\n');
  });
});
