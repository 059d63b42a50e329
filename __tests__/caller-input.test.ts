// The caller's objects are read as a careful library reads them: each field exactly once, then
// checked and used as read; an exception from the caller's own getter or Proxy reaches the caller
// as it was thrown.
import { createOrchestratorRouter, OrchestratorRouter, RoutableMessage } from '..';
import { message, uid } from './support/helpers';

const routers: OrchestratorRouter[] = [];
afterEach(async () => {
  await Promise.all(routers.splice(0).map((r) => r.close()));
});

/** A router on the in-process store (what is read from the caller does not depend on the store). */
function memoryRouter(): OrchestratorRouter {
  const router = createOrchestratorRouter({ redis: `memory://${uid('input')}` });
  routers.push(router);
  return router;
}

/**
 * `target` behind a Proxy that counts the reads of each field and answers `later[field]` from the
 * second read of that field on (as a hostile or buggy getter might).
 */
function shifty<T extends object>(target: T, later: Partial<Record<keyof T, unknown>>): { proxy: T; reads: Record<string, number> } {
  const reads: Record<string, number> = {};
  const proxy = new Proxy(target, {
    get(t, key, receiver) {
      if (typeof key !== 'string') return Reflect.get(t, key, receiver);
      reads[key] = (reads[key] ?? 0) + 1;
      if (reads[key] > 1 && key in later) return later[key as keyof T];
      return Reflect.get(t, key, receiver);
    },
  });
  return { proxy, reads };
}

const onceEach = (reads: Record<string, number>) => Object.fromEntries(Object.keys(reads).map((k) => [k, 1]));

describe("reading the caller's objects", () => {
  it('reads each field of a routed message once, and delivers what it checked', async () => {
    const router = memoryRouter();
    const orch = uid('orch');
    const daemon = uid('daemon');
    await router.registerSession(orch, { id: 's', daemonId: daemon });
    // Later reads would answer an unpaired surrogate and an object: neither may reach the store.
    const { proxy, reads } = shifty(message('m1', { content: 'checked' }), { content: 'x\uD800y', id: {}, channelId: 42, priority: 'urgent' });
    expect(await router.routeMessage(proxy, orch)).toMatchObject({ success: true, status: 'delivered' });
    expect(reads).toEqual(onceEach(reads));
    expect(Object.keys(reads)).toEqual(expect.arrayContaining(['id', 'channelId', 'content', 'authorId', 'createdAt', 'priority']));
    const [event] = await router.readDaemonEvents(daemon);
    expect(event.payload).toMatchObject({ messageId: 'm1', channelId: 'chan_1', content: 'checked' });
  });

  it('reads each field of a batch item and its message once', async () => {
    const router = memoryRouter();
    const orch = uid('orch');
    const daemon = uid('daemon');
    await router.registerSession(orch, { id: 's', daemonId: daemon });
    const inner = shifty(message('m1', { content: 'checked' }), { content: 'x\uD800y' });
    const item = shifty({ message: inner.proxy, orchestratorId: orch }, { message: null, orchestratorId: '' });
    expect(await router.routeMessages([item.proxy])).toEqual([expect.objectContaining({ status: 'delivered' })]);
    expect(item.reads).toEqual({ message: 1, orchestratorId: 1 });
    expect(inner.reads).toEqual(onceEach(inner.reads));
    expect((await router.readDaemonEvents(daemon))[0].payload.content).toBe('checked');
  });

  it('reads each field of a session once', async () => {
    const router = memoryRouter();
    const orch = uid('orch');
    const { proxy, reads } = shifty({ id: 's1', daemonId: 'd1', status: 'active' as const, createdAt: new Date() }, { id: '', daemonId: 7, status: 3 });
    await router.registerSession(orch, proxy);
    expect(reads).toEqual({ id: 1, daemonId: 1, status: 1, createdAt: 1 });
    expect(await router.getOrchestratorSession(orch)).toMatchObject({ sessionId: 's1', daemonId: 'd1', status: 'active' });
  });

  it("rejects a batch with the caller's own error when an item's getter throws", async () => {
    const router = memoryRouter();
    const failure = new Error("the caller's getter failed");
    const item = { orchestratorId: 'orch' } as { message: RoutableMessage; orchestratorId: string };
    Object.defineProperty(item, 'message', { get: () => { throw failure; } });
    await expect(router.routeMessages([item])).rejects.toBe(failure);
    // The same from a getter of the message itself, as routeMessage rejects.
    const msg = message('m1');
    Object.defineProperty(msg, 'content', { get: () => { throw failure; } });
    await expect(router.routeMessages([{ message: msg, orchestratorId: 'orch' }])).rejects.toBe(failure);
    await expect(router.routeMessage(msg, 'orch')).rejects.toBe(failure);
  });

  it("rejects a batch with the Proxy's own TypeError when an item is a revoked Proxy", async () => {
    const router = memoryRouter();
    const { proxy, revoke } = Proxy.revocable({ message: message('m1'), orchestratorId: 'orch' }, {});
    revoke();
    const error = await router.routeMessages([proxy]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as TypeError).message).toMatch(/revoked/);
  });

  it('still names the item and field of an invalid one', async () => {
    const router = memoryRouter();
    await expect(router.routeMessages([{ message: message('m1'), orchestratorId: 'o' }, { message: message('m2', { channelId: '' }), orchestratorId: 'o' }])).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      metadata: { field: 'items[1].message.channelId' },
    });
  });
});
