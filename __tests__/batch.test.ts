import { closeAll, daemonMessageIds, keyOf, message, newRouter, plainClient, record, uid } from './support/helpers';

afterEach(closeAll);

describe('routing a batch with routeMessages', () => {
  it('routes each item as routeMessage would, results in input order, FIFO per orchestrator', async () => {
    const router = newRouter();
    const routed = record(router, 'message.routed');
    const queued = record(router, 'message.queued');
    const redis = plainClient();
    const on = uid('on');
    const off = uid('off');
    const daemon = uid('daemon');
    await router.registerSession(on, { id: 's', daemonId: daemon, status: 'active' });
    const items = Array.from({ length: 20 }, (_, i) => ({ message: message(`m${i}`), orchestratorId: i % 2 ? off : on }));
    const results = await router.routeMessages(items);
    expect(results).toEqual(items.map((_, i) => (i % 2 ? { success: true, status: 'offline', attempts: 1 } : { success: true, status: 'delivered', sessionId: 's', attempts: 1 })));
    expect(await daemonMessageIds(redis, router, daemon)).toEqual(items.filter((_, i) => i % 2 === 0).map((it) => it.message.id));
    const queuedIds = (await redis.lrange(keyOf(router, `routing:queue:${off}`), 0, -1)).map((q) => JSON.parse(q).messageId);
    expect(queuedIds).toEqual(items.filter((_, i) => i % 2).map((it) => it.message.id));
    expect(routed).toHaveLength(10);
    expect(queued.map((e) => e.queueSize)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('refuses the whole batch, writing nothing, when one item is invalid, naming it', async () => {
    const router = newRouter();
    const items = [{ message: message('ok'), orchestratorId: 'o' }, { message: { ...message('bad'), channelId: '' }, orchestratorId: 'o' }];
    await expect(router.routeMessages(items)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', metadata: { field: 'items[1].message.channelId' } });
    await expect(router.routeMessages([{ message: message('x'), orchestratorId: '' }])).rejects.toMatchObject({ metadata: { field: 'items[0].orchestratorId' } });
    await expect(router.routeMessages('nope' as never)).rejects.toMatchObject({ metadata: { field: 'items' } });
    expect(await plainClient().keys(`${keyOf(router, '')}*`)).toEqual([]);
    expect(await router.routeMessages([])).toEqual([]);
  });

  it('follows a session another router replaced, and pushes a repeated message id once', async () => {
    const router = newRouter();
    const other = newRouter({ keyPrefix: keyOf(router, '') });
    const redis = plainClient();
    const orch = uid('orch');
    await router.registerSession(orch, { id: 's_old', daemonId: 'd_old', status: 'active' });
    await other.registerSession(orch, { id: 's_new', daemonId: 'd_new', status: 'active' });
    const results = await router.routeMessages(['a', 'b', 'a', 'c'].map((id) => ({ message: message(id), orchestratorId: orch })));
    expect(results.map((r) => r.sessionId)).toEqual(['s_new', 's_new', 's_new', 's_new']);
    expect(await daemonMessageIds(redis, router, 'd_new')).toEqual(['a', 'b', 'c']);
  });

  it('queues the items whose orchestrator the presence service says is offline', async () => {
    const router = newRouter();
    router.setPresenceService({ getVPPresence: async (id: string) => ({ status: id.startsWith('away') ? 'AWAY' : 'ONLINE' }) });
    const away = uid('away');
    const here = uid('here');
    await router.registerSession(away, { id: 's1', daemonId: uid('d'), status: 'active' });
    await router.registerSession(here, { id: 's2', daemonId: uid('d'), status: 'active' });
    const results = await router.routeMessages([{ message: message('1'), orchestratorId: away }, { message: message('2'), orchestratorId: here }]);
    expect(results.map((r) => r.status)).toEqual(['offline', 'delivered']);
  });

  it('keeps working after the server lost its script cache (SCRIPT FLUSH)', async () => {
    const router = newRouter();
    const orch = uid('orch');
    const daemon = uid('daemon');
    await router.registerSession(orch, { id: 's', daemonId: daemon, status: 'active' });
    await plainClient().script('FLUSH');
    expect((await router.routeMessages([{ message: message('m1'), orchestratorId: orch }]))[0].status).toBe('delivered');
    await plainClient().script('FLUSH');
    expect((await router.routeMessage(message('m2'), orch)).status).toBe('delivered');
    expect(await daemonMessageIds(plainClient(), router, daemon)).toEqual(['m1', 'm2']);
  });
});

describe('routeMessage calls started in the same tick (routed together, as batches of up to 16)', () => {
  it('resolves each call with its own result and delivers them in call order', async () => {
    const router = newRouter({ maxMessageBytes: 1000 });
    const redis = plainClient();
    const on = uid('on');
    const off = uid('off');
    const daemon = uid('daemon');
    await router.registerSession(on, { id: 's', daemonId: daemon, status: 'active' });
    // 50 calls in one tick: more than three batches, mixed orchestrators, one invalid call.
    const calls = Array.from({ length: 50 }, (_, i) => {
      const content = i === 7 ? 'x'.repeat(1001) : `c${i}`;
      return router.routeMessage(message(`t${i}`, { content }), i % 5 === 4 ? off : on);
    });
    const settled = await Promise.allSettled(calls);
    settled.forEach((outcome, i) => {
      if (i === 7) {
        expect(outcome).toMatchObject({ status: 'rejected', reason: { code: 'INVALID_ARGUMENT', metadata: { field: 'message.content' } } });
      } else if (i % 5 === 4) {
        expect(outcome).toEqual({ status: 'fulfilled', value: { success: true, status: 'offline', attempts: 1 } });
      } else {
        expect(outcome).toEqual({ status: 'fulfilled', value: { success: true, status: 'delivered', sessionId: 's', attempts: 1 } });
      }
    });
    const expected = (keep: (i: number) => boolean) => Array.from({ length: 50 }, (_, i) => i).filter(keep).map((i) => `t${i}`);
    expect(await daemonMessageIds(redis, router, daemon)).toEqual(expected((i) => i % 5 !== 4 && i !== 7));
    const queuedIds = (await redis.lrange(keyOf(router, `routing:queue:${off}`), 0, -1)).map((q) => JSON.parse(q).messageId);
    expect(queuedIds).toEqual(expected((i) => i % 5 === 4));
  });

  it('keeps call order across methods: routeMessage, queueMessageForOffline and routeMessages of one tick', async () => {
    const router = newRouter();
    const redis = plainClient();
    const orch = uid('off');
    const calls = [
      router.routeMessage(message('x1'), orch),
      router.queueMessageForOffline(message('x2'), orch),
      router.routeMessages([{ message: message('x3'), orchestratorId: orch }]),
      router.routeMessage(message('x4'), orch),
    ];
    await Promise.all(calls);
    const queued = (await redis.lrange(keyOf(router, `routing:queue:${orch}`), 0, -1)).map((q) => JSON.parse(q).messageId);
    expect(queued).toEqual(['x1', 'x2', 'x3', 'x4']);
  });

  it('keeps call order when the session changed under the tick (every batch answered stale)', async () => {
    const a = newRouter();
    const b = newRouter({ keyPrefix: keyOf(a, '') });
    const redis = plainClient();
    const orch = uid('orch');
    const first = uid('daemon');
    const second = uid('daemon');
    await a.registerSession(orch, { id: 's1', daemonId: first, status: 'active' });
    expect((await a.routeMessage(message('before'), orch)).status).toBe('delivered');
    // Another router replaces the session: a still routes for s1, so each of its batches is stale.
    await b.registerSession(orch, { id: 's2', daemonId: second, status: 'active' });
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => a.routeMessage(message(`st${i}`), orch)));
    expect(results.every((r) => r.status === 'delivered' && r.sessionId === 's2')).toBe(true);
    expect(await daemonMessageIds(redis, a, second)).toEqual(Array.from({ length: 40 }, (_, i) => `st${i}`));
  });
});
