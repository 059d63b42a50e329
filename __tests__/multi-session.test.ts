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
    // A deployed instance deletes the session key (its unregisterSession): the next one is found.
    await redis.del(keyOf(router, `routing:session:${orch}`));
    expect(await router.routeMessage(message('m3'), orch)).toMatchObject({ status: 'delivered', sessionId: 's2' });
    expect(await primaryKey(router, orch)).toBe('s2');
    expect(await daemonMessageIds(redis, router, 'd3')).toEqual(['m1']);
    expect(await daemonMessageIds(redis, router, 'd2')).toEqual(['m2', 'm3']);
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
