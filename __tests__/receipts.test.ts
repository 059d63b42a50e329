import { OrchestratorRouterConfig } from '..';
import { closeAll, keyOf, message, newRouter, plainClient, record, uid, waitFor } from './support/helpers';

afterEach(closeAll);

const receipts: OrchestratorRouterConfig = {
  deliveryReceipts: { enabled: true },
  deliveryTimeoutMs: 150,
  retry: { maxAttempts: 3, initialDelayMs: 10, backoffMultiplier: 2, maxDelayMs: 40 },
  drainIntervalMs: 20,
};

/** Every daemon event in the list, oldest first, as `[messageId, eventId]`. */
async function deliveries(router: ReturnType<typeof newRouter>, daemon: string): Promise<Array<[string, string]>> {
  const raw = await plainClient().lrange(keyOf(router, `daemon:events:${daemon}`), 0, -1);
  return raw.reverse().map((e) => {
    const event = JSON.parse(e);
    return [event.payload.messageId, event.id];
  });
}

async function online(router: ReturnType<typeof newRouter>, orch: string, daemon: string): Promise<void> {
  await router.registerSession(orch, { id: `sess_${daemon}`, daemonId: daemon, status: 'active', createdAt: new Date() });
}

describe('delivery receipts', () => {
  it('are off by default: nothing awaits a receipt, however long the daemon stays silent', async () => {
    const router = newRouter({ deliveryTimeoutMs: 150, drainIntervalMs: 20, offlineQueue: { queueTtlSeconds: 1 } });
    const seen = record(router, 'message.redelivered', 'message.dead_lettered', 'message.dropped');
    const orch = uid('orch');
    const daemon = uid('daemon');
    // One message drained, one routed straight to the daemon.
    await router.routeMessage(message('drained'), orch);
    await online(router, orch, daemon);
    await router.routeMessage(message('routed'), orch);
    // A message queued for an orchestrator that never comes online expires a second later: when
    // the router reports it, its background look has come round well after both deliveries would
    // have been due a receipt (150 ms), and would have acted on them first.
    const probe = uid('orch');
    await router.routeMessage(message('probe'), probe);
    await waitFor(() => seen.length > 0, 'the probe to expire');
    expect(seen).toEqual([expect.objectContaining({ type: 'message.dropped', messageId: 'probe', reason: 'expired' })]);
    expect((await deliveries(router, daemon)).map(([id]) => id)).toEqual(['drained', 'routed']);
    const redis = plainClient();
    expect(await redis.exists(keyOf(router, `routing:inflight:${orch}`), keyOf(router, `routing:receipts:${orch}`), keyOf(router, `routing:dead:${orch}`))).toBe(0);
    expect(await router.acknowledge(orch, ['drained', 'routed'])).toBe(0);
    expect(router.getMetrics()).toMatchObject({ redeliveries: 0, deadLettered: 0 });
  });

  it('acknowledge resolves how many were waiting, ignores unknown and repeated ids, and reports each', async () => {
    const router = newRouter({ ...receipts, deliveryTimeoutMs: 60_000 });
    const acknowledged = record(router, 'message.acknowledged');
    const orch = uid('orch');
    await online(router, orch, uid('daemon'));
    await router.routeMessage(message('m1'), orch);
    await router.routeMessage(message('m2'), orch);
    expect(await router.acknowledge(orch, ['m1', 'unknown', 'm1'])).toBe(1);
    expect(await router.acknowledge(orch, ['m1'])).toBe(0);
    expect(await router.acknowledge(orch, ['m2'])).toBe(1);
    expect(acknowledged.map((e) => e.messageId)).toEqual(['m1', 'm2']);
    expect(await plainClient().exists(keyOf(router, `routing:inflight:${orch}`))).toBe(0);
  });

  it('redelivers an unacknowledged message with the same event id, then dead-letters it after maxAttempts deliveries', async () => {
    const router = newRouter(receipts);
    const redelivered = record(router, 'message.redelivered');
    const dead = record(router, 'message.dead_lettered');
    const failed = record(router, 'message.routing_failed');
    const orch = uid('orch');
    const daemon = uid('daemon');
    await online(router, orch, daemon);
    // 'acked' is delivered with a minute to acknowledge it (by a router with that timeout, which
    // then stops), so that its acknowledgement cannot come too late, however slow the machine.
    const patient = newRouter({ ...receipts, deliveryTimeoutMs: 60_000, keyPrefix: keyOf(router, '') });
    await patient.routeMessage(message('acked'), orch);
    await patient.close();
    await router.routeMessage(message('silent'), orch);
    expect(await router.acknowledge(orch, ['acked'])).toBe(1);
    await waitFor(() => dead.length === 1, 'the silent message to be dead-lettered');
    const list = await deliveries(router, daemon);
    expect(list.map(([id]) => id)).toEqual(['acked', 'silent', 'silent', 'silent']);
    expect(new Set(list.slice(1).map(([, eventId]) => eventId)).size).toBe(1);
    expect(redelivered.map((e) => [e.messageId, e.attempts, e.sessionId])).toEqual([['silent', 2, `sess_${daemon}`], ['silent', 3, `sess_${daemon}`]]);
    expect(dead[0]).toMatchObject({ messageId: 'silent', orchestratorId: orch, attempts: 3, error: 'not acknowledged within 150 ms' });
    expect(failed).toEqual([expect.objectContaining({ messageId: 'silent', attempts: 3 })]);
    const letters = await router.getDeadLetters(orch);
    expect(letters).toEqual([{
      messageId: 'silent', channelId: 'chan_1', authorId: 'user_1', content: 'content of silent', createdAt: new Date('2026-11-27T10:00:00.000Z'),
      queuedAt: expect.any(Date), attempts: 3, lastError: 'not acknowledged within 150 ms', deadLetteredAt: expect.any(Date),
    }]);
  });

  it('puts every message awaiting a receipt back at the head of the queue, in delivery order, once one is overdue and the orchestrator is offline', async () => {
    // m3's receipt is due seconds after m1's and m2's (another router, with a longer timeout,
    // delivered it): it still goes back with them, behind them, not later ahead of them.
    const router = newRouter(receipts);
    const slow = newRouter({ ...receipts, deliveryTimeoutMs: 3000, keyPrefix: keyOf(router, '') });
    const redis = plainClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    await online(router, orch, daemon);
    for (const id of ['m1', 'm2']) await router.routeMessage(message(id), orch);
    await slow.routeMessage(message('m3'), orch);
    await router.unregisterSession(orch);
    await router.routeMessage(message('m4'), orch);
    const queueKey = keyOf(router, `routing:queue:${orch}`);
    await waitFor(async () => (await redis.llen(queueKey)) === 4, 'the awaited messages to return to the queue', 15_000);
    expect((await redis.lrange(queueKey, 0, -1)).map((i) => JSON.parse(i).messageId)).toEqual(['m1', 'm2', 'm3', 'm4']);
  });

  it('puts overdue messages back at the head of the queue, in order, when the orchestrator went offline', async () => {
    const router = newRouter(receipts);
    const redis = plainClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    await online(router, orch, daemon);
    for (const id of ['m1', 'm2', 'm3']) await router.routeMessage(message(id), orch);
    await router.unregisterSession(orch);
    await router.routeMessage(message('m4'), orch);
    const queueKey = keyOf(router, `routing:queue:${orch}`);
    await waitFor(async () => (await redis.llen(queueKey)) === 4, 'the overdue messages to return to the queue');
    expect((await redis.lrange(queueKey, 0, -1)).map((i) => JSON.parse(i).messageId)).toEqual(['m1', 'm2', 'm3', 'm4']);
    // Delivered again by a router that gives a minute for the receipts: nothing is redelivered
    // before the list is read, however slow the machine.
    await router.close();
    await online(newRouter({ ...receipts, deliveryTimeoutMs: 60_000, keyPrefix: keyOf(router, '') }), orch, 'daemon_new');
    expect((await deliveries(router, 'daemon_new')).map(([id]) => id)).toEqual(['m1', 'm2', 'm3', 'm4']);
  });

  it('requeueDeadLetters puts them back at the head of the queue in their order, and they are delivered in order', async () => {
    const router = newRouter(receipts);
    const dead = record(router, 'message.dead_lettered');
    const redis = plainClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    await online(router, orch, daemon);
    for (const id of ['d1', 'd2', 'd3']) await router.routeMessage(message(id), orch);
    await waitFor(() => dead.length === 3, 'three dead letters');
    expect((await router.getDeadLetters(orch)).map((l) => l.messageId)).toEqual(['d1', 'd2', 'd3']);
    await router.unregisterSession(orch);
    await router.routeMessage(message('later'), orch);
    const requeuing = Date.now();
    expect(await router.requeueDeadLetters(orch)).toBe(3);
    expect(await router.getDeadLetters(orch)).toEqual([]);
    const queued = (await redis.lrange(keyOf(router, `routing:queue:${orch}`), 0, -1)).map((i) => JSON.parse(i));
    expect(queued.map((i) => i.messageId)).toEqual(['d1', 'd2', 'd3', 'later']);
    // Queued anew: queuedAt is the time of the requeue.
    expect(Date.parse(queued[0].queuedAt)).toBeGreaterThanOrEqual(requeuing);
    expect(Date.parse(queued[0].queuedAt)).toBeLessThanOrEqual(Date.now());
    // Delivered by a router that gives a minute for the receipts: each arrives once, however slow
    // the acknowledgement.
    await router.close();
    const patient = newRouter({ ...receipts, deliveryTimeoutMs: 60_000, keyPrefix: keyOf(router, '') });
    await online(patient, orch, 'daemon_back');
    expect((await deliveries(router, 'daemon_back')).map(([id]) => id)).toEqual(['d1', 'd2', 'd3', 'later']);
    expect(await patient.acknowledge(orch, ['d1', 'd2', 'd3', 'later'])).toBe(4);
  });

  it('never redelivers one message twice for one timeout when two routers watch it', async () => {
    const a = newRouter({ ...receipts, drainIntervalMs: 5 });
    const b = newRouter({ ...receipts, drainIntervalMs: 5, keyPrefix: keyOf(a, '') });
    const dead = [record(a, 'message.dead_lettered'), record(b, 'message.dead_lettered')];
    const orch = uid('orch');
    const daemon = uid('daemon');
    await online(a, orch, daemon);
    for (let i = 0; i < 20; i++) await a.routeMessage(message(`m${i}`), orch);
    await waitFor(() => dead[0].length + dead[1].length === 20, 'all 20 to be dead-lettered');
    const list = (await deliveries(a, daemon)).map(([id]) => id);
    for (let i = 0; i < 20; i++) expect(list.filter((id) => id === `m${i}`)).toHaveLength(3);
    expect((await a.getDeadLetters(orch)).map((l) => l.messageId).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`).sort());
  });

  it('keeps the pending state in Redis: a router started later redelivers what a closed one delivered', async () => {
    const first = newRouter({ ...receipts, retry: { ...receipts.retry, maxAttempts: 2 } });
    const orch = uid('orch');
    const daemon = uid('daemon');
    await online(first, orch, daemon);
    await first.routeMessage(message('m1'), orch);
    await first.close();
    const second = newRouter({ ...receipts, retry: { ...receipts.retry, maxAttempts: 2 }, keyPrefix: keyOf(first, '') });
    const redelivered = record(second, 'message.redelivered');
    await second.processQueuedMessages(uid('anything')); // starts the second router's background work
    await waitFor(() => redelivered.length === 1, 'the second router to redeliver');
    expect((await deliveries(second, daemon)).map(([id]) => id)).toEqual(['m1', 'm1']);
  });

  it('looks at an orchestrator by its earliest receipt deadline, whatever a later delivery awaits', async () => {
    // Two routers on one store, one waiting 60 s for a receipt: the index keeps the earlier deadline.
    const soon = newRouter({ ...receipts, deliveryTimeoutMs: 500, drainIntervalMs: 60_000 });
    const late = newRouter({ ...receipts, deliveryTimeoutMs: 60_000, drainIntervalMs: 60_000, keyPrefix: keyOf(soon, '') });
    const orch = uid('orch');
    await online(soon, orch, uid('daemon'));
    await soon.routeMessage(message('m1'), orch);
    await late.routeMessage(message('m2'), orch);
    const redis = plainClient();
    const [deadline1, deadline2] = [
      Number(await redis.zscore(keyOf(soon, `routing:receipts:${orch}`), 'm1')),
      Number(await redis.zscore(keyOf(soon, `routing:receipts:${orch}`), 'm2')),
    ];
    expect(deadline2).toBeGreaterThan(deadline1);
    expect(Number(await redis.zscore(keyOf(soon, 'routing:pending'), orch))).toBe(deadline1);
  });
});
