import { InvalidArgumentError, MessagePriority, OrchestratorRouter, OrchestratorRoutingError, PRIORITY_VALUES } from '..';
import { closeAll, keyOf, message, newRouter, plainClient, record, uid, waitFor } from './support/helpers';

afterEach(closeAll);

/** `[messageId, priority]` of every event in the daemon's list, oldest first. */
async function delivered(router: OrchestratorRouter, daemon: string): Promise<Array<[string, number]>> {
  const raw = await plainClient().lrange(keyOf(router, `daemon:events:${daemon}`), 0, -1);
  return raw.reverse().map((e) => {
    const event = JSON.parse(e);
    return [event.payload.messageId, event.priority];
  });
}

/** The message ids of one level of the orchestrator's queue, oldest first. */
async function level(router: OrchestratorRouter, orch: string, name: 'queue-high' | 'queue' | 'queue-low'): Promise<string[]> {
  const raw = await plainClient().lrange(keyOf(router, `routing:${name}:${orch}`), 0, -1);
  return raw.map((i) => JSON.parse(i).messageId);
}

async function online(router: OrchestratorRouter, orch: string, daemon: string): Promise<void> {
  await router.registerSession(orch, { id: `sess_${daemon}`, daemonId: daemon, status: 'active', createdAt: new Date() });
}

const at = (priority: MessagePriority) => ({ priority });

describe('priority queuing', () => {
  it('drains every high message before normal before low, each level in order, with the daemon event priority as a number', async () => {
    const router = newRouter();
    const redis = plainClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    const plan: Array<[string, MessagePriority | undefined]> = [
      ['l1', 'low'], ['n1', undefined], ['h1', 'high'], ['l2', 'low'], ['n2', 'normal'], ['h2', 'high'], ['n3', undefined],
    ];
    for (const [id, priority] of plan) await router.queueMessageForOffline(message(id, priority ? at(priority) : {}), orch);
    // An item the deployed service queued (no priority field) is a normal one.
    await redis.rpush(keyOf(router, `routing:queue:${orch}`), JSON.stringify({
      messageId: 'deployed', channelId: 'chan_1', content: 'old', createdAt: '2026-11-27T10:00:00.000Z', queuedAt: new Date().toISOString(),
    }));
    expect(await level(router, orch, 'queue-high')).toEqual(['h1', 'h2']);
    expect(await level(router, orch, 'queue')).toEqual(['n1', 'n2', 'n3', 'deployed']);
    expect(await level(router, orch, 'queue-low')).toEqual(['l1', 'l2']);
    // Normal items keep the deployed item shape; the others say their level.
    const normal = JSON.parse((await redis.lrange(keyOf(router, `routing:queue:${orch}`), 0, 0))[0]);
    expect(normal).not.toHaveProperty('priority');
    expect(JSON.parse((await redis.lrange(keyOf(router, `routing:queue-high:${orch}`), 0, 0))[0]).priority).toBe('high');
    expect(await router.getQueueDepth(orch)).toBe(8);

    await online(router, orch, daemon);
    expect(await router.processQueuedMessages(orch)).toMatchObject({ remaining: 0 });
    expect(await delivered(router, daemon)).toEqual([
      ['h1', 3], ['h2', 3], ['n1', 2], ['n2', 2], ['n3', 2], ['deployed', 2], ['l1', 1], ['l2', 1],
    ]);
    expect(PRIORITY_VALUES).toEqual({ high: 3, normal: 2, low: 1 });
    for (const name of ['queue-high', 'queue', 'queue-low'] as const) expect(await level(router, orch, name)).toEqual([]);
    expect(await router.getQueueDepth(orch)).toBe(0);
  });

  it('drains in priority order across many drain steps, and routeMessages queues each message at its level', async () => {
    const router = newRouter({ offlineQueue: { maxQueueSize: 1000 } });
    const orch = uid('orch');
    const daemon = uid('daemon');
    const priorities: MessagePriority[] = ['low', 'normal', 'high'];
    const items = Array.from({ length: 900 }, (_, i) => ({ message: message(`m${i}`, at(priorities[i % 3])), orchestratorId: orch }));
    const results = await router.routeMessages(items);
    expect(results.every((r) => r.status === 'offline')).toBe(true);
    await online(router, orch, daemon);
    await waitFor(async () => (await router.getQueueDepth(orch)) === 0, 'the backlog to drain');
    const ids = (await delivered(router, daemon)).map(([id]) => Number(id.slice(1)));
    const expected = [2, 1, 0].flatMap((rest) => Array.from({ length: 900 }, (_, i) => i).filter((i) => i % 3 === rest));
    expect(ids).toEqual(expected);
  });

  it('lets a live message pass only lower levels of a backlog: high overtakes queued normal messages, normal and low wait', async () => {
    const router = newRouter({ drainIntervalMs: 60_000 });
    const redis = plainClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    await online(router, orch, daemon);
    // A backlog the drain has not reached yet (the tick is a minute away).
    const queued = JSON.stringify({ messageId: 'backlog', channelId: 'c', content: 'x', queuedAt: new Date().toISOString() });
    await redis.rpush(keyOf(router, `routing:queue:${orch}`), queued);
    const high = await router.routeMessage(message('h1', at('high')), orch);
    expect(high).toMatchObject({ success: true, status: 'delivered' });
    expect(await delivered(router, daemon)).toEqual([['h1', 3]]);
    const low = await router.routeMessage(message('l1', at('low')), orch);
    expect(low).toMatchObject({ success: true, status: 'pending' });
    // The pending route started a drain: the backlog goes before the low message.
    await waitFor(async () => (await delivered(router, daemon)).length === 3, 'the backlog and the low message');
    expect(await delivered(router, daemon)).toEqual([['h1', 3], ['backlog', 2], ['l1', 1]]);
  });

  it('on a full queue drops the oldest message of the lowest level, and refuses one that everything queued outranks', async () => {
    const router = newRouter({ offlineQueue: { maxQueueSize: 3 } });
    const dropped = record(router, 'message.dropped');
    const failed = record(router, 'message.routing_failed');
    const orch = uid('orch');
    await router.queueMessageForOffline(message('h1', at('high')), orch);
    await router.queueMessageForOffline(message('n1'), orch);
    await router.queueMessageForOffline(message('l1', at('low')), orch);

    await router.queueMessageForOffline(message('n2'), orch);
    expect(dropped.map((e) => [e.messageId, e.reason])).toEqual([['l1', 'queue_full']]);

    // Every queued message outranks a low one now: it is refused, reported as dropped, never queued.
    const refused = router.queueMessageForOffline(message('l2', at('low')), orch);
    await expect(refused).rejects.toThrow(OrchestratorRoutingError);
    await expect(refused).rejects.toThrow(`The queue of orchestrator ${orch} is full (3 messages) of messages of a higher priority`);
    const routed = await router.routeMessage(message('l3', at('low')), orch);
    expect(routed).toMatchObject({ success: false, status: 'failed', error: expect.stringContaining('is full') });
    expect(failed.map((e) => e.messageId)).toEqual(['l3']);
    expect(dropped.map((e) => [e.messageId, e.reason])).toEqual([['l1', 'queue_full'], ['l2', 'queue_full'], ['l3', 'queue_full']]);

    await router.routeMessage(message('h2', at('high')), orch);
    expect(dropped.map((e) => e.messageId).slice(3)).toEqual(['n1']);
    expect(await level(router, orch, 'queue-high')).toEqual(['h1', 'h2']);
    expect(await level(router, orch, 'queue')).toEqual(['n2']);
    expect(await level(router, orch, 'queue-low')).toEqual([]);
    expect(await router.getQueueDepth(orch)).toBe(3);
    const metrics = router.getMetrics();
    expect(metrics.dropped.queue_full).toBe(4);
  });

  it('puts overdue messages back at the head of their own level', async () => {
    const receipts = {
      deliveryReceipts: { enabled: true },
      retry: { maxAttempts: 3, initialDelayMs: 10, backoffMultiplier: 2, maxDelayMs: 40 },
      drainIntervalMs: 20,
    };
    const router = newRouter({ ...receipts, deliveryTimeoutMs: 150 });
    const orch = uid('orch');
    await online(router, orch, uid('daemon'));
    await router.routeMessage(message('n1'), orch);
    await router.routeMessage(message('h1', at('high')), orch);
    await router.routeMessage(message('l1', at('low')), orch);
    await router.unregisterSession(orch);
    await router.queueMessageForOffline(message('h2', at('high')), orch);
    await waitFor(async () => (await router.getQueueDepth(orch)) === 4, 'the overdue messages to return to the queue');
    expect(await level(router, orch, 'queue-high')).toEqual(['h1', 'h2']);
    expect(await level(router, orch, 'queue')).toEqual(['n1']);
    expect(await level(router, orch, 'queue-low')).toEqual(['l1']);
    // Delivered again by a router that gives a minute for the receipts: nothing is redelivered
    // before the list is read, however slow the machine.
    await router.close();
    const daemon = uid('daemon');
    await online(newRouter({ ...receipts, deliveryTimeoutMs: 60_000, keyPrefix: keyOf(router, '') }), orch, daemon);
    expect(await delivered(router, daemon)).toEqual([['h1', 3], ['h2', 3], ['n1', 2], ['l1', 1]]);
  });

  it('requeueDeadLetters puts each dead letter back at the head of its own level', async () => {
    const router = newRouter({
      deliveryReceipts: { enabled: true },
      deliveryTimeoutMs: 100,
      retry: { maxAttempts: 2, initialDelayMs: 10, backoffMultiplier: 2, maxDelayMs: 20 },
      drainIntervalMs: 20,
    });
    const dead = record(router, 'message.dead_lettered');
    const orch = uid('orch');
    await online(router, orch, uid('daemon'));
    await router.routeMessage(message('l1', at('low')), orch);
    await router.routeMessage(message('h1', at('high')), orch);
    await waitFor(() => dead.length === 2, 'two dead letters');
    await router.unregisterSession(orch);
    await router.queueMessageForOffline(message('l2', at('low')), orch);
    expect(await router.requeueDeadLetters(orch)).toBe(2);
    expect(await level(router, orch, 'queue-high')).toEqual(['h1']);
    expect(await level(router, orch, 'queue-low')).toEqual(['l1', 'l2']);
  });

  it('refuses a priority that is not a level, naming the field, and writes nothing', async () => {
    const router = newRouter();
    const orch = uid('orch');
    const bad = { ...message('m1'), priority: 'urgent' } as unknown as ReturnType<typeof message>;
    await expect(router.routeMessage(bad, orch)).rejects.toThrow(InvalidArgumentError);
    await expect(router.routeMessage(bad, orch)).rejects.toThrow("Invalid message.priority: must be 'high', 'normal' or 'low' when given, got string \"urgent\"");
    await expect(router.routeMessages([{ message: message('ok'), orchestratorId: orch }, { message: bad, orchestratorId: orch }]))
      .rejects.toThrow('Invalid items[1].message.priority');
    expect(await router.getQueueDepth(orch)).toBe(0);
  });
});
