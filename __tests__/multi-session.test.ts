import { OrchestratorRouter, OrchestratorRouterConfig } from '..';
import { closeAll, daemonMessageIds, keyOf, message, newRouter, plainClient, record, uid, waitFor } from './support/helpers';

afterEach(closeAll);

const several: OrchestratorRouterConfig = { sessions: { multiple: true } };

async function register(router: OrchestratorRouter, orch: string, id: string, daemonId: string, status = 'active'): Promise<void> {
  await router.registerSession(orch, { id, daemonId, status: status as 'active', createdAt: new Date('2026-11-27T09:00:00.000Z') });
}

async function sessionIds(router: OrchestratorRouter, orch: string): Promise<string[]> {
  return (await router.getOrchestratorSessions(orch)).map((s) => s.sessionId);
}

/** The session id in the deployed key, as a deployed reader sees it. */
async function primaryKey(router: OrchestratorRouter, orch: string): Promise<string | null> {
  const raw = await plainClient().get(keyOf(router, `routing:session:${orch}`));
  return raw === null ? null : JSON.parse(raw).sessionId;
}

describe('one session per orchestrator (the default, as deployed)', () => {
  it('replaces the session on a new registration and lists just that one', async () => {
    const router = newRouter();
    const orch = uid('orch');
    await register(router, orch, 's1', 'd1');
    await register(router, orch, 's2', 'd2');
    expect(await sessionIds(router, orch)).toEqual(['s2']);
    await router.unregisterSession(orch, 's1');
    expect(await sessionIds(router, orch)).toEqual(['s2']);
    await router.unregisterSession(orch, 's2');
    expect(await sessionIds(router, orch)).toEqual([]);
    expect(await primaryKey(router, orch)).toBeNull();
  });

  it('keeps the deployed keys only: a heartbeat adds no session set', async () => {
    const router = newRouter();
    const orch = uid('orch');
    await register(router, orch, 's1', 'd1');
    await router.updateSessionActivity(orch);
    await router.updateSessionActivity(orch, 's1');
    const redis = plainClient();
    expect(await redis.exists(keyOf(router, `routing:sessions:${orch}`), keyOf(router, `routing:session-records:${orch}`))).toBe(0);
    expect(await primaryKey(router, orch)).toBe('s1');
  });
});

describe('several sessions per orchestrator, primary routing', () => {
  it('adds sessions, makes the most recently active the primary in the deployed key, and routes to it', async () => {
    const router = newRouter(several);
    const redis = plainClient();
    const orch = uid('orch');
    await register(router, orch, 's1', 'd1');
    await register(router, orch, 's2', 'd2');
    expect(await sessionIds(router, orch)).toEqual(['s2', 's1']);
    expect(await primaryKey(router, orch)).toBe('s2');
    expect((await router.getOrchestratorSession(orch))!.sessionId).toBe('s2');
    const sessions = await router.getOrchestratorSessions(orch);
    expect(sessions[1]).toEqual({ sessionId: 's1', daemonId: 'd1', status: 'active', lastActiveAt: expect.any(Date), createdAt: new Date('2026-11-27T09:00:00.000Z') });

    expect(await router.routeMessage(message('m1'), orch)).toMatchObject({ status: 'delivered', sessionId: 's2' });
    // A heartbeat of s1 makes it the most recently active: the primary.
    await router.updateSessionActivity(orch, 's1');
    expect(await primaryKey(router, orch)).toBe('s1');
    expect(await sessionIds(router, orch)).toEqual(['s1', 's2']);
    expect(await router.routeMessage(message('m2'), orch)).toMatchObject({ status: 'delivered', sessionId: 's1' });
    expect(await daemonMessageIds(redis, router, 'd2')).toEqual(['m1']);
    expect(await daemonMessageIds(redis, router, 'd1')).toEqual(['m2']);
    // Re-registering an id replaces that session, not the others.
    await register(router, orch, 's2', 'd2b');
    expect((await router.getOrchestratorSessions(orch)).map((s) => [s.sessionId, s.daemonId])).toEqual([['s2', 'd2b'], ['s1', 'd1']]);
  });

  it('falls back to the next active session when the primary is no longer active, or its key is gone', async () => {
    const router = newRouter(several);
    const redis = plainClient();
    const orch = uid('orch');
    await register(router, orch, 's1', 'd1');
    await register(router, orch, 's2', 'd2');
    await register(router, orch, 's3', 'd3');
    expect(await router.routeMessage(message('m1'), orch)).toMatchObject({ sessionId: 's3' });
    // The daemon reports s3 expired: the next most recently active one takes over.
    await register(router, orch, 's3', 'd3', 'expired');
    expect(await primaryKey(router, orch)).toBe('s2');
    expect(await router.routeMessage(message('m2'), orch)).toMatchObject({ status: 'delivered', sessionId: 's2' });
    expect((await router.getOrchestratorSessions(orch)).map((s) => [s.sessionId, s.status])).toEqual([['s2', 'active'], ['s3', 'expired'], ['s1', 'active']]);
    // A deployed instance unregisters s2 (it deletes the session key): s2 is gone, s1 takes over.
    await redis.del(keyOf(router, `routing:session:${orch}`));
    expect(await router.routeMessage(message('m3'), orch)).toMatchObject({ status: 'delivered', sessionId: 's1' });
    expect(await primaryKey(router, orch)).toBe('s1');
    expect(await sessionIds(router, orch)).toEqual(['s1', 's3']);
    expect(await daemonMessageIds(redis, router, 'd3')).toEqual(['m1']);
    expect(await daemonMessageIds(redis, router, 'd2')).toEqual(['m2']);
    expect(await daemonMessageIds(redis, router, 'd1')).toEqual(['m3']);
  });

  it('unregisters one session (the next becomes the primary) or all of them, reporting which', async () => {
    const router = newRouter(several);
    const unregistered = record(router, 'session.unregistered');
    const redis = plainClient();
    const orch = uid('orch');
    await register(router, orch, 's1', 'd1');
    await register(router, orch, 's2', 'd2');
    await router.routeMessage(message('m1'), orch);
    await router.unregisterSession(orch, 's2');
    expect(await sessionIds(router, orch)).toEqual(['s1']);
    expect(await primaryKey(router, orch)).toBe('s1');
    expect(await router.routeMessage(message('m2'), orch)).toMatchObject({ status: 'delivered', sessionId: 's1' });
    await register(router, orch, 's3', 'd3');
    await router.unregisterSession(orch);
    expect(await sessionIds(router, orch)).toEqual([]);
    expect(await redis.exists(keyOf(router, `routing:session:${orch}`), keyOf(router, `routing:sessions:${orch}`), keyOf(router, `routing:session-records:${orch}`))).toBe(0);
    expect(unregistered.map((e) => e.sessionId)).toEqual(['s2', undefined]);
    expect((await router.routeMessage(message('m3'), orch)).status).toBe('offline');
    expect(await daemonMessageIds(redis, router, 'd2')).toEqual(['m1']);
    expect(await daemonMessageIds(redis, router, 'd1')).toEqual(['m2']);
  });

  it('drains the queue through the primary when sessions come back, and lets sessions expire with their TTL', async () => {
    const router = newRouter({ sessions: { multiple: true, ttlSeconds: 1 } });
    const redis = plainClient();
    const orch = uid('orch');
    for (const id of ['q1', 'q2']) await router.queueMessageForOffline(message(id), orch);
    await register(router, orch, 's1', 'd1');
    await register(router, orch, 's2', 'd2');
    expect(await daemonMessageIds(redis, router, 'd1')).toEqual(['q1', 'q2']);
    expect(await redis.pttl(keyOf(router, `routing:sessions:${orch}`))).toBeGreaterThan(0);
    await waitFor(async () => (await router.getOrchestratorSessions(orch)).length === 0, 'both sessions to expire', 5000);
    expect((await router.routeMessage(message('late'), orch)).status).toBe('offline');
    await waitFor(async () => (await redis.exists(keyOf(router, `routing:sessions:${orch}`))) === 0, 'the session set to expire', 5000);
  });

  it('never lets a heartbeat recreate an unregistered session', async () => {
    const router = newRouter(several);
    const orch = uid('orch');
    await register(router, orch, 's1', 'd1');
    await register(router, orch, 's2', 'd2');
    await router.unregisterSession(orch, 's1');
    await router.updateSessionActivity(orch, 's1');
    expect(await sessionIds(router, orch)).toEqual(['s2']);
    await router.unregisterSession(orch);
    await router.updateSessionActivity(orch);
    await router.updateSessionActivity(orch, 's2');
    expect(await sessionIds(router, orch)).toEqual([]);
  });

  it('refuses a bad sessions configuration and a bad session id, naming the field', () => {
    expect(() => newRouter({ sessions: { routing: 'all' as 'primary' } })).toThrow("Invalid sessions.routing: must be 'primary' or 'broadcast'");
    expect(() => newRouter({ sessions: { ttlSeconds: 0 } })).toThrow('Invalid sessions.ttlSeconds');
    const router = newRouter(several);
    return expect(router.unregisterSession('o', '' as string)).rejects.toThrow('Invalid sessionId');
  });
});

/** `[messageId, eventId, daemonId]` of every event in a daemon's list, oldest first. */
async function events(router: OrchestratorRouter, daemon: string): Promise<Array<[string, string, string]>> {
  const raw = await plainClient().lrange(keyOf(router, `daemon:events:${daemon}`), 0, -1);
  return raw.reverse().map((e) => {
    const event = JSON.parse(e);
    return [event.payload.messageId, event.id, event.daemonId];
  });
}

describe('several sessions per orchestrator, broadcast routing', () => {
  const broadcast: OrchestratorRouterConfig = { sessions: { multiple: true, routing: 'broadcast' } };

  it("delivers each message to every living active session's daemon, each daemon once, with one event id", async () => {
    const router = newRouter(broadcast);
    const routed = record(router, 'message.routed');
    const orch = uid('orch');
    await register(router, orch, 's1', 'd1');
    await register(router, orch, 's2', 'd2');
    await register(router, orch, 's3', 'd1'); // a second session of daemon d1
    await register(router, orch, 's4', 'd4', 'idle'); // not active: gets nothing
    const result = await router.routeMessage(message('m1'), orch);
    expect(result).toMatchObject({ success: true, status: 'delivered', sessionId: 's3' });
    const [d1, d2] = [await events(router, 'd1'), await events(router, 'd2')];
    expect(d1).toEqual([['m1', expect.any(String), 'd1']]);
    expect(d2).toEqual([['m1', d1[0][1], 'd2']]);
    expect(await events(router, 'd4')).toEqual([]);
    expect(routed.map((e) => e.sessionId).sort()).toEqual(['s2', 's3']);
    expect(await primaryKey(router, orch)).toBe('s3');
  });

  it('pushes a message id once to each target, however often it is routed', async () => {
    const router = newRouter(broadcast);
    const orch = uid('orch');
    await register(router, orch, 's1', 'd1');
    await register(router, orch, 's2', 'd2');
    for (let i = 0; i < 3; i++) expect(await router.routeMessage(message('same'), orch)).toMatchObject({ status: 'delivered' });
    expect((await events(router, 'd1')).map(([id]) => id)).toEqual(['same']);
    expect((await events(router, 'd2')).map(([id]) => id)).toEqual(['same']);
  });

  it('holds every daemon list to maxEvents within one batch: what does not fit waits, in order', async () => {
    const router = newRouter({ ...broadcast, daemonQueue: { maxEvents: 2 }, drainIntervalMs: 60_000 });
    const orch = uid('orch');
    await register(router, orch, 's1', 'd1');
    await register(router, orch, 's2', 'd2');
    const results = await router.routeMessages(['m1', 'm2', 'm3'].map((id) => ({ message: message(id), orchestratorId: orch })));
    expect(results.map((r) => r.status)).toEqual(['delivered', 'delivered', 'pending']);
    expect((await events(router, 'd1')).map(([id]) => id)).toEqual(['m1', 'm2']);
    expect((await events(router, 'd2')).map(([id]) => id)).toEqual(['m1', 'm2']);
    expect(await router.getQueueDepth(orch)).toBe(1);
  });

  it('follows session changes made by another router, and routes batches to every target', async () => {
    const a = newRouter(broadcast);
    const b = newRouter({ ...broadcast, keyPrefix: keyOf(a, '') });
    const orch = uid('orch');
    await register(a, orch, 's1', 'd1');
    expect(await a.routeMessage(message('m1'), orch)).toMatchObject({ status: 'delivered' });
    await register(b, orch, 's2', 'd2');
    await a.routeMessages([{ message: message('m2'), orchestratorId: orch }, { message: message('m3'), orchestratorId: orch }]);
    await b.unregisterSession(orch, 's1');
    await a.routeMessage(message('m4'), orch);
    expect((await events(a, 'd1')).map(([id]) => id)).toEqual(['m1', 'm2', 'm3']);
    expect((await events(a, 'd2')).map(([id]) => id)).toEqual(['m2', 'm3', 'm4']);
  });

  it('drains a queue to every target in order, and waits for room in every daemon list', async () => {
    const router = newRouter({ ...broadcast, daemonQueue: { maxEvents: 3 }, drainIntervalMs: 20 });
    const redis = plainClient();
    const orch = uid('orch');
    await router.queueMessageForOffline(message('q1'), orch);
    await router.queueMessageForOffline(message('q2', { priority: 'high' }), orch);
    await register(router, orch, 's1', 'd1');
    expect((await events(router, 'd1')).map(([id]) => id)).toEqual(['q2', 'q1']);
    await register(router, orch, 's2', 'd2');
    // d1 has room for one more, d2 for three: a message waits until both have room.
    expect(await router.routeMessage(message('m1'), orch)).toMatchObject({ status: 'delivered' });
    expect(await router.routeMessage(message('m2'), orch)).toMatchObject({ status: 'pending' });
    expect(await router.routeMessage(message('m3'), orch)).toMatchObject({ status: 'pending' });
    expect((await events(router, 'd2')).map(([id]) => id)).toEqual(['m1']);
    // The daemon of d1 takes its three oldest events: the backlog drains to both, in order.
    await redis.ltrim(keyOf(router, 'daemon:events:d1'), 0, 0);
    await waitFor(async () => (await router.getQueueDepth(orch)) === 0, 'the backlog to drain');
    expect((await events(router, 'd1')).map(([id]) => id)).toEqual(['m1', 'm2', 'm3']);
    expect((await events(router, 'd2')).map(([id]) => id)).toEqual(['m1', 'm2', 'm3']);
  });

  it('redelivers an unacknowledged message to every target with its event id, until acknowledged', async () => {
    const router = newRouter({
      ...broadcast,
      deliveryReceipts: { enabled: true },
      deliveryTimeoutMs: 150,
      // Enough attempts that the message still awaits its receipt when the test acknowledges it,
      // however slow the machine (three would dead-letter it a third of a second after the first
      // redelivery).
      retry: { maxAttempts: 100, initialDelayMs: 10, backoffMultiplier: 2, maxDelayMs: 40 },
      drainIntervalMs: 20,
    });
    const redelivered = record(router, 'message.redelivered');
    const orch = uid('orch');
    await register(router, orch, 's1', 'd1');
    await register(router, orch, 's2', 'd2');
    await router.routeMessage(message('m1'), orch);
    await waitFor(() => redelivered.length >= 2, 'a redelivery to both sessions');
    expect(await router.acknowledge(orch, ['m1'])).toBe(1);
    const [d1, d2] = [await events(router, 'd1'), await events(router, 'd2')];
    expect(d1.length).toBeGreaterThanOrEqual(2);
    expect(new Set([...d1, ...d2].map(([id, eventId]) => `${id} ${eventId}`)).size).toBe(1);
    expect(new Set(redelivered.slice(0, 2).map((e) => e.sessionId))).toEqual(new Set(['s1', 's2']));
  });
});
