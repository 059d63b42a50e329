import { closeAll, daemonMessageIds, keyOf, message, newRouter, plainClient, readyClient, record, uid, waitFor } from './support/helpers';
import { RedisProcess, startRedis } from './support/redis-server';

afterEach(closeAll);

describe('routing a message to an online orchestrator', () => {
  it('pushes the deployed daemon event JSON to the daemon list and its channel, and resolves delivered', async () => {
    const router = newRouter();
    const redis = plainClient();
    const subscriber = await readyClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    await router.registerSession(orch, { id: 'sess_1', daemonId: daemon, status: 'active', createdAt: new Date() });
    const published: string[] = [];
    await subscriber.subscribe(`daemon:${daemon}:events`);
    subscriber.on('message', (_channel, payload) => published.push(payload));

    const before = Date.now();
    const result = await router.routeMessage(message('msg_1', { content: 'Hello "orchestrator" \u00e9\n' }), orch);

    expect(result).toEqual({ success: true, status: 'delivered', sessionId: 'sess_1', attempts: 1 });
    const events = await redis.lrange(keyOf(router, `daemon:events:${daemon}`), 0, -1);
    expect(events).toHaveLength(1);
    const event = JSON.parse(events[0]);
    // The deployed event's fields in its order, then `priority` (normal: 2).
    expect(Object.keys(event)).toEqual(['id', 'type', 'daemonId', 'orchestratorId', 'payload', 'timestamp', 'requiresAck', 'priority']);
    expect(event).toMatchObject({
      type: 'message.received',
      daemonId: daemon,
      orchestratorId: orch,
      payload: { messageId: 'msg_1', channelId: 'chan_1', content: 'Hello "orchestrator" \u00e9\n', authorId: 'user_1', timestamp: '2026-11-27T10:00:00.000Z' },
      requiresAck: true,
      priority: 2,
    });
    expect(Object.keys(event.payload)).toEqual(['messageId', 'channelId', 'content', 'authorId', 'timestamp']);
    expect(event.id).toMatch(/^evt_\d+_[0-9a-f]{8}$/);
    expect(Date.parse(event.timestamp)).toBeGreaterThanOrEqual(before - 5);
    expect(await redis.ttl(keyOf(router, `daemon:events:${daemon}`))).toBeGreaterThan(86_000);
    await waitFor(() => published.length === 1, 'the pub/sub copy');
    expect(published[0]).toBe(events[0]);
  });

  it("gives the daemon list its TTL whenever a route creates it, and refreshes it about once a second", async () => {
    const router = newRouter();
    const redis = plainClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    const list = keyOf(router, `daemon:events:${daemon}`);
    await router.registerSession(orch, { id: 's', daemonId: daemon, status: 'active', createdAt: new Date() });
    for (let i = 0; i < 3; i++) {
      // The daemon took everything: the next route creates the list again, within the second.
      await redis.del(list);
      expect((await router.routeMessage(message(`m${i}`), orch)).status).toBe('delivered');
      expect(await redis.ttl(list)).toBeGreaterThan(86_000);
    }
    // A list that lives on keeps its TTL refreshed, though not on every route.
    await redis.expire(list, 100);
    await waitFor(async () => {
      await router.routeMessage(message(uid('m')), orch);
      return (await redis.ttl(list)) > 86_000;
    }, 'the TTL to be refreshed');
  });

  it('writes a delivered marker with the session and time, for one hour', async () => {
    const router = newRouter();
    const redis = plainClient();
    const orch = uid('orch');
    await router.registerSession(orch, { id: 'sess_1', daemonId: uid('daemon'), status: 'active', createdAt: new Date() });
    await router.routeMessage(message('msg_marker'), orch);
    const marker = JSON.parse((await redis.get(keyOf(router, 'routing:delivered:msg_marker'))) ?? 'null');
    expect(Object.keys(marker)).toEqual(['sessionId', 'deliveredAt']);
    expect(marker.sessionId).toBe('sess_1');
    expect(new Date(marker.deliveredAt).toISOString()).toBe(marker.deliveredAt);
    const ttl = await redis.ttl(keyOf(router, 'routing:delivered:msg_marker'));
    expect(ttl).toBeGreaterThan(3590);
    expect(ttl).toBeLessThanOrEqual(3600);
  });

  it('pushes a message id to a daemon at most once while its delivered marker lives', async () => {
    const router = newRouter();
    const second = newRouter({ keyPrefix: keyOf(router, '') });
    const redis = plainClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    await router.registerSession(orch, { id: 'sess_1', daemonId: daemon, status: 'active', createdAt: new Date() });
    const results = await Promise.all([
      router.routeMessage(message('msg_dup'), orch),
      router.routeMessage(message('msg_dup'), orch),
      second.routeMessage(message('msg_dup'), orch),
    ]);
    expect(results.map((r) => r.status)).toEqual(['delivered', 'delivered', 'delivered']);
    expect(await daemonMessageIds(redis, router, daemon)).toEqual(['msg_dup']);
  });

  it('follows a session that another router replaced, delivering to the new daemon', async () => {
    const router = newRouter();
    const other = newRouter({ keyPrefix: keyOf(router, '') });
    const redis = plainClient();
    const orch = uid('orch');
    await router.registerSession(orch, { id: 'sess_old', daemonId: 'daemon_old', status: 'active', createdAt: new Date() });
    await router.routeMessage(message('m1'), orch);
    await other.registerSession(orch, { id: 'sess_new', daemonId: 'daemon_new', status: 'active', createdAt: new Date() });
    const result = await router.routeMessage(message('m2'), orch);
    expect(result.sessionId).toBe('sess_new');
    expect(await daemonMessageIds(redis, router, 'daemon_new')).toEqual(['m2']);
    expect(await daemonMessageIds(redis, router, 'daemon_old')).toEqual(['m1']);
  });

  it('follows a session another router replaced on the same daemon, reporting the new session', async () => {
    // The session id alone changed: a route planned on the old one is stale all the same.
    const router = newRouter();
    const other = newRouter({ keyPrefix: keyOf(router, '') });
    const orch = uid('orch');
    const daemon = uid('daemon');
    await router.registerSession(orch, { id: 'sess_old', daemonId: daemon, status: 'active', createdAt: new Date() });
    expect(await router.routeMessage(message('m1'), orch)).toMatchObject({ status: 'delivered', sessionId: 'sess_old' });
    await other.registerSession(orch, { id: 'sess_new', daemonId: daemon, status: 'active', createdAt: new Date() });
    expect(await router.routeMessage(message('m2'), orch)).toMatchObject({ status: 'delivered', sessionId: 'sess_new' });
    const markers = await plainClient().mget(keyOf(router, 'routing:delivered:m1'), keyOf(router, 'routing:delivered:m2'));
    expect(markers.map((m) => JSON.parse(m!).sessionId)).toEqual(['sess_old', 'sess_new']);
  });
});

describe('routing a message to an offline orchestrator', () => {
  it('queues it in the deployed queue item format and resolves offline', async () => {
    const router = newRouter();
    const redis = plainClient();
    const orch = uid('orch');
    const result = await router.routeMessage(message('msg_q'), orch);
    expect(result).toEqual({ success: true, status: 'offline', attempts: 1 });
    const items = await redis.lrange(keyOf(router, `routing:queue:${orch}`), 0, -1);
    expect(items).toHaveLength(1);
    const item = JSON.parse(items[0]);
    expect(Object.keys(item)).toEqual(['messageId', 'channelId', 'authorId', 'content', 'createdAt', 'queuedAt']);
    expect(item).toMatchObject({ messageId: 'msg_q', channelId: 'chan_1', authorId: 'user_1', content: 'content of msg_q', createdAt: '2026-11-27T10:00:00.000Z' });
    expect(new Date(item.queuedAt).toISOString()).toBe(item.queuedAt);
  });

  it('queues (offline) when presence says online but there is no session', async () => {
    const router = newRouter();
    router.setPresenceService({ getVPPresence: async () => ({ status: 'ONLINE' }) });
    const orch = uid('orch');
    const result = await router.routeMessage(message('m1'), orch);
    expect(result).toEqual({ success: true, status: 'offline', attempts: 1 });
    expect(await plainClient().llen(keyOf(router, `routing:queue:${orch}`))).toBe(1);
  });

  it('queues without delivering when presence says offline even though a session exists', async () => {
    const router = newRouter();
    router.setPresenceService({ getVPPresence: async () => ({ status: 'AWAY' }) });
    const redis = plainClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    await router.registerSession(orch, { id: 's', daemonId: daemon, status: 'active', createdAt: new Date() });
    const result = await router.routeMessage(message('m1'), orch);
    expect(result.status).toBe('offline');
    expect(await redis.llen(keyOf(router, `daemon:events:${daemon}`))).toBe(0);
  });

  it('queues for a session that is not active', async () => {
    const router = newRouter();
    const orch = uid('orch');
    await router.registerSession(orch, { id: 's', daemonId: uid('daemon'), status: 'idle', createdAt: new Date() });
    expect((await router.routeMessage(message('m1'), orch)).status).toBe('offline');
  });

  it('fails with the offline error message when the offline queue is disabled', async () => {
    const router = newRouter({ offlineQueue: { enabled: false } });
    const failed = record(router, 'message.routing_failed');
    const orch = uid('orch');
    const result = await router.routeMessage(message('m1'), orch);
    expect(result).toEqual({ success: false, status: 'failed', error: `Orchestrator is offline: ${orch}`, attempts: 1 });
    expect(failed).toHaveLength(1);
    expect(await plainClient().exists(keyOf(router, `routing:queue:${orch}`))).toBe(0);
  });
});

describe('routing events', () => {
  it('emits message.routed and message.queued with their fields and a Date timestamp before the call resolves', async () => {
    const router = newRouter();
    const routed = record(router, 'message.routed');
    const queued = record(router, 'message.queued');
    const orch = uid('orch');
    await router.routeMessage(message('m_off'), orch);
    expect(queued).toHaveLength(1);
    expect(queued[0]).toEqual({ type: 'message.queued', messageId: 'm_off', orchestratorId: orch, queueSize: 1, timestamp: expect.any(Date) });
    await router.registerSession(orch, { id: 's', daemonId: uid('daemon'), status: 'active', createdAt: new Date() });
    routed.length = 0;
    const routing = Date.now();
    await router.routeMessage(message('m_on'), orch);
    expect(routed).toEqual([{ type: 'message.routed', messageId: 'm_on', orchestratorId: orch, sessionId: 's', attempts: 1, timestamp: expect.any(Date) }]);
    expect(routed[0].timestamp.getTime()).toBeGreaterThanOrEqual(routing);
    expect(routed[0].timestamp.getTime()).toBeLessThanOrEqual(Date.now());
  });

  it('only hands events that have a listener to JavaScript', async () => {
    const router = newRouter();
    const emitted: string[] = [];
    const emit = router.emit.bind(router);
    router.emit = ((name: string, ...args: unknown[]) => {
      emitted.push(name);
      return emit(name, ...args);
    }) as typeof router.emit;
    const orch = uid('orch');
    const listener = () => undefined;
    router.on('message.queued', listener);
    await router.routeMessage(message('m1'), orch);
    router.off('message.queued', listener);
    await router.routeMessage(message('m2'), orch);
    await router.registerSession(orch, { id: 's', daemonId: uid('daemon'), status: 'active', createdAt: new Date() });
    expect(emitted.filter((n) => n.includes('.'))).toEqual(['message.queued']);
  });

  it('keeps delivering events after removeAllListeners and a new subscription', async () => {
    const router = newRouter();
    router.on('message.queued', () => undefined);
    router.removeAllListeners();
    const queued = record(router, 'message.queued');
    await router.routeMessage(message('m1'), uid('orch'));
    expect(queued).toHaveLength(1);
  });

  it('returns itself as the event emitter', () => {
    const router = newRouter();
    expect(router.getEventEmitter()).toBe(router);
  });
});

describe('routes as Redis Functions', () => {
  // A private server: its command counts and its functions are this test's alone.
  let server: RedisProcess;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server.kill();
  });

  /** How many times the server ran `command` (INFO commandstats). */
  async function calls(command: string): Promise<number> {
    const stats = (await plainClient(server.url).info('commandstats')) as string;
    return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(stats)?.[1] ?? 0);
  }
  async function libraries(): Promise<string[]> {
    const list = (await plainClient(server.url).call('FUNCTION', 'LIST')) as unknown[][];
    return list.map((library) => String(library[1])).sort();
  }

  it('loads each route script as a function on first use, and again after the server lost it', async () => {
    const router = newRouter({ redis: server.url });
    const redis = plainClient(server.url);
    const orch = uid('orch');
    const daemon = uid('daemon');
    await router.registerSession(orch, { id: 's', daemonId: daemon, status: 'active', createdAt: new Date() });
    await redis.call('FUNCTION', 'FLUSH');
    expect((await router.routeMessage(message('m1'), orch)).status).toBe('delivered');
    expect((await router.routeMessages([{ message: message('m2'), orchestratorId: orch }]))[0].status).toBe('delivered');
    // Named by the script and a hash of the library: routers of another version call their own.
    const names = await libraries();
    expect(names.map((name) => name.replace(/_[0-9a-f]{12}$/, '')).sort()).toEqual(['orchestrator_router_route', 'orchestrator_router_route_batch']);
    expect(names.every((name) => /_[0-9a-f]{12}$/.test(name))).toBe(true);
    const [fcalls, evalshas] = [await calls('fcall'), await calls('evalsha')];
    expect((await router.routeMessage(message('m3'), orch)).status).toBe('delivered');
    expect([(await calls('fcall')) - fcalls, (await calls('evalsha')) - evalshas]).toEqual([1, 0]);
    // Lost (a restart without persistence, FUNCTION FLUSH): loaded again, and the route runs once.
    await redis.call('FUNCTION', 'FLUSH');
    expect((await router.routeMessage(message('m4'), orch)).status).toBe('delivered');
    expect((await router.routeMessages([{ message: message('m5'), orchestratorId: orch }]))[0].status).toBe('delivered');
    expect(await daemonMessageIds(redis, router, daemon)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
    expect(await libraries()).toHaveLength(2);
  });

  it('keeps nothing of one call for the next: each route reads the lists as they are', async () => {
    // A function's library keeps its values between calls; a route that went by the daemon list's
    // length as an earlier call saw it would find a list the daemon emptied still full.
    const router = newRouter({ redis: server.url, daemonQueue: { maxEvents: 2 }, drainIntervalMs: 60_000 });
    const redis = plainClient(server.url);
    const orch = uid('orch');
    const daemon = uid('daemon');
    await router.registerSession(orch, { id: 's', daemonId: daemon, status: 'active', createdAt: new Date() });
    expect((await router.routeMessage(message('a'), orch)).status).toBe('delivered');
    expect((await router.routeMessage(message('b'), orch)).status).toBe('delivered');
    expect((await router.routeMessage(message('c'), orch)).status).toBe('pending');
    await redis.del(keyOf(router, `daemon:events:${daemon}`));
    await router.processQueuedMessages(orch);
    await waitFor(async () => (await daemonMessageIds(redis, router, daemon)).includes('c'), 'c to be drained');
    await redis.del(keyOf(router, `daemon:events:${daemon}`));
    expect((await router.routeMessage(message('d'), orch)).status).toBe('delivered');
    expect((await router.routeMessage(message('e'), orch)).status).toBe('delivered');
    expect(await daemonMessageIds(redis, router, daemon)).toEqual(['d', 'e']);
  });
});
