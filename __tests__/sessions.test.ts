import { closeAll, daemonMessageIds, keyOf, message, newRouter, plainClient, record, uid, waitFor } from './support/helpers';
import { RedisProcess, startRedis } from './support/redis-server';

afterEach(closeAll);

let server: RedisProcess;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server.kill();
});

describe('daemon sessions', () => {
  it('stores the deployed session JSON for one hour and reports session.registered', async () => {
    const router = newRouter();
    const registered = record(router, 'session.registered');
    const redis = plainClient();
    const orch = uid('orch');
    await router.registerSession(orch, { id: 'sess_1', daemonId: 'daemon_1', status: 'active', createdAt: new Date('2026-11-27T09:00:00.000Z') });
    const raw = await redis.get(keyOf(router, `routing:session:${orch}`));
    const stored = JSON.parse(raw ?? 'null');
    expect(Object.keys(stored)).toEqual(['sessionId', 'daemonId', 'status', 'lastActiveAt', 'createdAt']);
    expect(stored).toMatchObject({ sessionId: 'sess_1', daemonId: 'daemon_1', status: 'active', createdAt: '2026-11-27T09:00:00.000Z' });
    expect(await redis.ttl(keyOf(router, `routing:session:${orch}`))).toBeGreaterThan(3590);
    expect(registered).toEqual([{ type: 'session.registered', orchestratorId: orch, sessionId: 'sess_1', timestamp: expect.any(Date) }]);
  });

  it('returns the active session with real Date objects, and null otherwise', async () => {
    const router = newRouter();
    const orch = uid('orch');
    expect(await router.getOrchestratorSession(orch)).toBeNull();
    const registering = Date.now();
    await router.registerSession(orch, { id: 's1', daemonId: 'd1', status: 'active', createdAt: new Date('2026-11-27T09:00:00.000Z') });
    const registered = Date.now();
    const session = await router.getOrchestratorSession(orch);
    expect(session).toEqual({ sessionId: 's1', daemonId: 'd1', status: 'active', lastActiveAt: expect.any(Date), createdAt: new Date('2026-11-27T09:00:00.000Z') });
    expect(session!.lastActiveAt).toBeInstanceOf(Date);
    // Active as of the registration.
    expect(session!.lastActiveAt.getTime()).toBeGreaterThanOrEqual(registering);
    expect(session!.lastActiveAt.getTime()).toBeLessThanOrEqual(registered);
    await router.registerSession(orch, { id: 's1', daemonId: 'd1', status: 'revoked', createdAt: new Date() });
    expect(await router.getOrchestratorSession(orch)).toBeNull();
  });

  it('deletes the session on unregister and reports session.unregistered', async () => {
    const router = newRouter();
    const unregistered = record(router, 'session.unregistered');
    const orch = uid('orch');
    await router.registerSession(orch, { id: 's1', daemonId: 'd1', status: 'active', createdAt: new Date() });
    await router.unregisterSession(orch);
    expect(await plainClient().exists(keyOf(router, `routing:session:${orch}`))).toBe(0);
    expect(await router.getOrchestratorSession(orch)).toBeNull();
    expect(unregistered).toEqual([{ type: 'session.unregistered', orchestratorId: orch, timestamp: expect.any(Date) }]);
    expect((await router.routeMessage(message('m1'), orch)).status).toBe('offline');
  });

  it('refreshes lastActiveAt and the TTL on activity, keeping the rest of the session byte for byte', async () => {
    const router = newRouter();
    const redis = plainClient();
    const orch = uid('orch');
    const key = keyOf(router, `routing:session:${orch}`);
    await router.registerSession(orch, { id: 's1', daemonId: 'd1', status: 'active', createdAt: new Date('2026-11-27T09:00:00.000Z') });
    const old = JSON.parse((await redis.get(key))!);
    old.lastActiveAt = '2020-01-01T00:00:00.000Z';
    await redis.set(key, JSON.stringify(old), 'EX', 10);
    await router.updateSessionActivity(orch);
    const fresh = JSON.parse((await redis.get(key))!);
    expect({ ...fresh, lastActiveAt: 'x' }).toEqual({ ...old, lastActiveAt: 'x' });
    expect(Date.parse(fresh.lastActiveAt)).toBeGreaterThan(Date.parse('2026-01-01'));
    expect(await redis.ttl(key)).toBeGreaterThan(3590);
  });

  it('never recreates a session that is gone, even when activity races an unregister', async () => {
    const router = newRouter();
    const redis = plainClient();
    const orch = uid('orch');
    for (let i = 0; i < 20; i++) {
      await router.registerSession(orch, { id: `s${i}`, daemonId: 'd1', status: 'active', createdAt: new Date() });
      await Promise.all([router.updateSessionActivity(orch), router.unregisterSession(orch), router.updateSessionActivity(orch)]);
      expect(await redis.exists(keyOf(router, `routing:session:${orch}`))).toBe(0);
    }
    await router.updateSessionActivity(uid('never_registered'));
    expect(await redis.keys(keyOf(router, 'routing:session:never_registered*'))).toEqual([]);
  });

  it('drains a waiting backlog on the heartbeat', async () => {
    const router = newRouter({ drainIntervalMs: 60_000 });
    const redis = plainClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    await router.queueMessageForOffline(message('m1'), orch);
    // A session written directly (as another service would) does not drain by itself ...
    await redis.set(
      keyOf(router, `routing:session:${orch}`),
      JSON.stringify({ sessionId: 's', daemonId: daemon, status: 'active', lastActiveAt: new Date().toISOString(), createdAt: new Date().toISOString() }),
    );
    expect(await redis.llen(keyOf(router, `routing:queue:${orch}`))).toBe(1);
    // ... the heartbeat does (in the background: a heartbeat never waits for a drain).
    await router.updateSessionActivity(orch);
    await waitFor(async () => (await daemonMessageIds(redis, router, daemon)).length === 1, 'the backlog to reach the daemon');
    expect(await daemonMessageIds(redis, router, daemon)).toEqual(['m1']);
    expect(await redis.llen(keyOf(router, `routing:queue:${orch}`))).toBe(0);
  });

  it('never waits for a drain paced by a full daemon list, wakes it when the daemon made room, and not before', async () => {
    // A full daemon list paces the drain: it looks again after 2 ms, doubling while the daemon
    // takes nothing, until its waits add up to drainIntervalMs (here ten minutes). A private
    // server: its command counts are this test's alone.
    const router = newRouter({ redis: server.url, drainIntervalMs: 600_000, daemonQueue: { maxEvents: 5 } });
    const redis = plainClient(server.url);
    const orch = uid('orch');
    const daemon = uid('daemon');
    const ids = Array.from({ length: 15 }, (_, i) => `m${i}`);
    for (const id of ids) await router.queueMessageForOffline(message(id), orch);
    await router.registerSession(orch, { id: 's', daemonId: daemon, status: 'active', createdAt: new Date() });
    expect(await daemonMessageIds(redis, router, daemon)).toEqual(ids.slice(0, 5));
    // Long enough for the paced drain's next look to be a second away (its waits: 2, 4 ... 512 ms).
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await daemonMessageIds(redis, router, daemon)).toEqual(ids.slice(0, 5));

    // Heartbeats while the list is still full wake no look at the queue (each look reads its
    // head: LRANGE). At most one look of the drain's own falls in this window.
    const looks = async () => Number(/^cmdstat_lrange:calls=(\d+)/m.exec((await redis.info('commandstats')) as string)?.[1] ?? 0);
    const before = await looks();
    for (let i = 0; i < 10; i++) await router.updateSessionActivity(orch);
    expect((await looks()) - before).toBeLessThanOrEqual(1);

    // The daemon takes its five events and heartbeats: the heartbeat returns at once (before, it
    // waited for the paced drain: ten minutes), and the drain looks again at once.
    await redis.del(keyOf(router, `daemon:events:${daemon}`));
    await router.updateSessionActivity(orch);
    await waitFor(async () => (await daemonMessageIds(redis, router, daemon)).length === 5, 'the next five events', 400);
    expect(await daemonMessageIds(redis, router, daemon)).toEqual(ids.slice(5, 10));
  });

  it('says online from the session when there is no presence service, and from presence when there is', async () => {
    const router = newRouter();
    const orch = uid('orch');
    expect(await router.isOrchestratorOnline(orch)).toBe(false);
    await router.registerSession(orch, { id: 's1', daemonId: 'd1', status: 'active', createdAt: new Date() });
    expect(await router.isOrchestratorOnline(orch)).toBe(true);
    const statuses: Record<string, string> = { [orch]: 'BUSY', other: 'ONLINE' };
    router.setPresenceService({ getVPPresence: async (id: string) => ({ status: statuses[id] ?? 'OFFLINE' }) });
    expect(await router.isOrchestratorOnline(orch)).toBe(false);
    expect(await router.isOrchestratorOnline('other')).toBe(true);
    router.setPresenceService({ getVPPresence: async () => null });
    expect(await router.isOrchestratorOnline(orch)).toBe(false);
  });

  it('falls back to the session when the presence service fails', async () => {
    const router = newRouter();
    const orch = uid('orch');
    const daemon = uid('daemon');
    router.setPresenceService({ getVPPresence: async () => { throw new Error('presence down'); } });
    await router.registerSession(orch, { id: 's1', daemonId: daemon, status: 'active', createdAt: new Date() });
    expect(await router.isOrchestratorOnline(orch)).toBe(true);
    expect((await router.routeMessage(message('m1'), orch)).status).toBe('delivered');
  });
});

describe('registerSession and the queue', () => {
  it('delivers everything queued, in order, before resolving, with processing events', async () => {
    const router = newRouter();
    const events = record(router, 'queue.processing_started', 'queue.processing_completed', 'session.registered');
    const redis = plainClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    for (let i = 0; i < 5; i++) await router.routeMessage(message(`m${i}`), orch);
    await router.registerSession(orch, { id: 's', daemonId: daemon, status: 'active', createdAt: new Date() });
    expect(await daemonMessageIds(redis, router, daemon)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(await redis.exists(keyOf(router, `routing:queue:${orch}`))).toBe(0);
    expect(events.map((e) => e.type)).toEqual(['session.registered', 'queue.processing_started', 'queue.processing_completed']);
    expect(events[1]).toMatchObject({ orchestratorId: orch, queueSize: 5 });
    expect(events[2]).toMatchObject({ orchestratorId: orch, processed: 5, failed: 0 });
  });

  it('drains queue items written by the deployed TypeScript service', async () => {
    const router = newRouter();
    const redis = plainClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    const queuedAt = new Date(Date.now() - 60_000).toISOString();
    // Exactly what the deployed service's JSON.stringify wrote (RPUSH, 86400 s TTL).
    const deployed = [1, 2, 3].map((n) =>
      JSON.stringify({ messageId: `old_${n}`, channelId: 'chan_9', authorId: 'user_9', content: `legacy ${n}`, createdAt: '2026-11-26T08:00:00.000Z', queuedAt }),
    );
    await redis.rpush(keyOf(router, `routing:queue:${orch}`), ...deployed);
    await redis.expire(keyOf(router, `routing:queue:${orch}`), 86400);
    await router.registerSession(orch, { id: 's', daemonId: daemon, status: 'active', createdAt: new Date() });
    const events = (await redis.lrange(keyOf(router, `daemon:events:${daemon}`), 0, -1)).reverse().map((e) => JSON.parse(e));
    expect(events.map((e) => e.payload)).toEqual([1, 2, 3].map((n) => ({
      messageId: `old_${n}`, channelId: 'chan_9', content: `legacy ${n}`, authorId: 'user_9', timestamp: '2026-11-26T08:00:00.000Z',
    })));
    expect(events.every((e) => e.orchestratorId === orch && e.daemonId === daemon)).toBe(true);
  });

  it('routes through a session another writer stored without dates, and queues when one lacks its ids', async () => {
    const router = newRouter();
    const redis = plainClient();
    const orch = uid('orch');
    const key = keyOf(router, `routing:session:${orch}`);
    await redis.set(key, JSON.stringify({ sessionId: 's1', daemonId: 'd1', status: 'active' }), 'EX', 60);
    expect(await router.routeMessage(message('m1'), orch)).toMatchObject({ status: 'delivered', sessionId: 's1' });
    expect(await daemonMessageIds(redis, router, 'd1')).toEqual(['m1']);
    const session = await router.getOrchestratorSession(orch);
    expect(session).toMatchObject({ sessionId: 's1', daemonId: 'd1', status: 'active' });
    expect(Number.isNaN(session!.createdAt.getTime())).toBe(true);
    await redis.set(key, JSON.stringify({ daemonId: 'd1', status: 'active' }), 'EX', 60);
    expect(await router.routeMessage(message('m2'), orch)).toMatchObject({ success: true, status: 'offline' });
  });
});
