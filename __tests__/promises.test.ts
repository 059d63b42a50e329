// Promises the README and docs/ make that no other test would notice breaking (issue 13, item 17): each
// test here failed against a build with that one behaviour broken on purpose.
import Redis from 'ioredis';
import { OrchestratorRouter } from '..';
import { closeAll, daemonMessageIds, keyOf, message, newRouter, plainClient, record, redisUrl, uid, waitFor } from './support/helpers';
import { startRouterProcess } from './support/processes';

afterEach(closeAll);

async function register(router: OrchestratorRouter, orch: string, id: string, daemonId: string): Promise<void> {
  await router.registerSession(orch, { id, daemonId, status: 'active', createdAt: new Date('2026-11-27T09:00:00.000Z') });
}

async function sessionIds(router: OrchestratorRouter, orch: string): Promise<string[]> {
  return (await router.getOrchestratorSessions(orch)).map((s) => s.sessionId);
}

/** The message ids of one level of the orchestrator's queue, oldest first. */
async function queued(router: OrchestratorRouter, orch: string, level: 'queue-high' | 'queue' | 'queue-low' = 'queue'): Promise<string[]> {
  return (await plainClient().lrange(keyOf(router, `routing:${level}:${orch}`), 0, -1)).map((i) => JSON.parse(i).messageId);
}

/** Takes up to `n` of the daemon's oldest events, as a daemon consuming its list does; their message ids. */
async function consume(redis: Redis, router: OrchestratorRouter, daemon: string, n: number): Promise<string[]> {
  const taken = await redis.rpop(keyOf(router, `daemon:events:${daemon}`), n);
  return (taken ?? []).map((e) => JSON.parse(e).payload.messageId);
}

/**
 * Takes the daemon's events, three at a time as the daemon makes room, until `count` arrived or
 * nothing more can come (queue and list empty); their message ids, in the order taken.
 */
async function consumeAll(router: OrchestratorRouter, orch: string, daemon: string, count: number, received: string[] = []): Promise<string[]> {
  const redis = plainClient();
  const listKey = keyOf(router, `daemon:events:${daemon}`);
  while (received.length < count) {
    await waitFor(
      async () => (await redis.llen(listKey)) > 0 || (await router.getQueueDepth(orch)) === 0,
      () => `more events (received ${received.join(', ')})`,
      20_000,
    );
    if ((await redis.llen(listKey)) === 0) break;
    received.push(...(await consume(redis, router, daemon, 3)));
  }
  return received;
}

describe('a drain and the delivered marker', () => {
  it('never pushes a message whose delivered marker exists, and counts it as already delivered', async () => {
    const router = newRouter();
    const redis = plainClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    await register(router, orch, 's', daemon);
    expect((await router.routeMessage(message('m1'), orch)).status).toBe('delivered');
    // The same id queued again (a sender retrying), and behind it a message never delivered.
    await router.queueMessageForOffline(message('m1'), orch);
    await router.queueMessageForOffline(message('m2'), orch);
    expect(await queued(router, orch)).toEqual(['m1', 'm2']);
    const routed = record(router, 'message.routed');
    // Already delivered counts as processed (it left the queue, and the daemon has it), not as failed.
    expect(await router.processQueuedMessages(orch)).toEqual({ processed: 2, failed: 0, remaining: 0 });
    expect(await daemonMessageIds(redis, router, daemon)).toEqual(['m1', 'm2']);
    expect(routed.map((e) => e.messageId)).toEqual(['m2']);
    expect(router.getMetrics()).toMatchObject({ delivered: 2, drained: 1 });
  });
});

describe('several sessions: heartbeats and a change of configuration', () => {
  it('a named heartbeat does not revive a session that expired but is still in the session set', async () => {
    // s1 lives one second; s2, registered by a router with the default hour, keeps the set alive.
    const short = newRouter({ sessions: { multiple: true, ttlSeconds: 1 } });
    const router = newRouter({ sessions: { multiple: true }, keyPrefix: keyOf(short, '') });
    const redis = plainClient();
    const orch = uid('orch');
    const setKey = keyOf(router, `routing:sessions:${orch}`);
    await register(short, orch, 's1', 'd1');
    await register(router, orch, 's2', 'd2');
    expect(await sessionIds(router, orch)).toEqual(['s2', 's1']);
    await waitFor(async () => Number(await redis.zscore(setKey, 's1')) < Date.now(), 's1 to expire', 10_000);
    expect(await redis.zscore(setKey, 's1')).not.toBeNull(); // expired, but still in the set
    expect(await sessionIds(router, orch)).toEqual(['s2']);

    await router.updateSessionActivity(orch, 's1');
    await short.updateSessionActivity(orch, 's1');
    expect(await sessionIds(router, orch)).toEqual(['s2']);
    expect(Number(await redis.zscore(setKey, 's1'))).toBeLessThan(Date.now());
    expect(JSON.parse((await redis.get(keyOf(router, `routing:session:${orch}`)))!).sessionId).toBe('s2');
    expect(await router.routeMessage(message('m1'), orch)).toMatchObject({ status: 'delivered', sessionId: 's2' });
    expect(await daemonMessageIds(redis, router, 'd1')).toEqual([]);
  });

  it('registering with multiple: false leaves none of the sessions an earlier multiple: true configuration kept', async () => {
    const several = newRouter({ sessions: { multiple: true } });
    const single = newRouter({ keyPrefix: keyOf(several, '') });
    const redis = plainClient();
    const orch = uid('orch');
    for (const id of ['s1', 's2', 's3']) await register(several, orch, id, `d_${id}`);
    expect(await sessionIds(several, orch)).toEqual(['s3', 's2', 's1']);

    await register(single, orch, 's4', 'd_s4');
    expect(await sessionIds(single, orch)).toEqual(['s4']);
    expect(await sessionIds(several, orch)).toEqual(['s4']);
    expect(await redis.exists(keyOf(several, `routing:sessions:${orch}`), keyOf(several, `routing:session-records:${orch}`))).toBe(0);
    // Nor does one come back as a fallback once the one session is gone.
    await several.unregisterSession(orch, 's4');
    expect(await sessionIds(several, orch)).toEqual([]);
    expect((await several.routeMessage(message('m1'), orch)).status).toBe('offline');
  });
});

describe('receipts: overdue messages returned to the queue', () => {
  it('go back in delivery order, not in the order of their deadlines or ids', async () => {
    // Ids sort the other way round from delivery order, and the three drained in one step share a
    // deadline: neither the deadline index nor the ids can stand in for delivery order.
    const router = newRouter({
      deliveryReceipts: { enabled: true },
      deliveryTimeoutMs: 300,
      // Redeliveries while still online keep a message's place; ten leave no chance of a dead letter.
      retry: { maxAttempts: 10, initialDelayMs: 10, backoffMultiplier: 2, maxDelayMs: 40 },
      drainIntervalMs: 20,
    });
    const orch = uid('orch');
    const daemon = uid('daemon');
    for (const id of ['z5', 'y4', 'x3']) await router.queueMessageForOffline(message(id), orch);
    await register(router, orch, 's', daemon); // drains z5, y4, x3 in one step
    for (const id of ['w2', 'v1']) expect((await router.routeMessage(message(id), orch)).status).toBe('delivered');
    const delivery = ['z5', 'y4', 'x3', 'w2', 'v1'];
    expect((await daemonMessageIds(plainClient(), router, daemon)).slice(0, 5)).toEqual(delivery);
    await router.unregisterSession(orch);
    await router.routeMessage(message('later'), orch);
    await waitFor(async () => (await router.getQueueDepth(orch)) === 6, 'the awaited messages to return to the queue', 15_000);
    expect(await queued(router, orch)).toEqual([...delivery, 'later']);
  });
});

describe('deliveredMarkerTtlSeconds', () => {
  it('is the TTL of the marker a route, a batch and a drain write; while it lives the id is not pushed again', async () => {
    const router = newRouter({ deliveredMarkerTtlSeconds: 30 });
    const redis = plainClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    await router.queueMessageForOffline(message('drained'), orch);
    await register(router, orch, 's', daemon);
    await router.routeMessage(message('routed'), orch);
    await router.routeMessages([{ message: message('batched'), orchestratorId: orch }]);
    const ttls: Array<[string, number]> = [];
    for (const id of ['drained', 'routed', 'batched']) ttls.push([id, await redis.ttl(keyOf(router, `routing:delivered:${id}`))]);
    // Each at most 30 s, and not far below (however slow the machine, not 10 s went by).
    expect(ttls.filter(([, ttl]) => !(ttl > 20 && ttl <= 30))).toEqual([]);
    expect((await router.routeMessage(message('routed'), orch)).status).toBe('delivered');
    expect(await daemonMessageIds(redis, router, daemon)).toEqual(['drained', 'routed', 'batched']);
  });

  it('lets the id be delivered again once the marker expired', async () => {
    const router = newRouter({ deliveredMarkerTtlSeconds: 1 });
    const redis = plainClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    const markerKey = keyOf(router, 'routing:delivered:m1');
    await register(router, orch, 's', daemon);
    await router.routeMessage(message('m1'), orch);
    expect(await redis.pttl(markerKey)).toBeLessThanOrEqual(1000);
    await waitFor(async () => (await redis.exists(markerKey)) === 0, 'the marker to expire', 10_000);
    expect(await router.routeMessage(message('m1'), orch)).toMatchObject({ status: 'delivered', sessionId: 's' });
    expect(await daemonMessageIds(redis, router, daemon)).toEqual(['m1', 'm1']);
    expect(await redis.exists(markerKey)).toBe(1);
  });
});

describe('metrics of receipts', () => {
  it('count redeliveries, acknowledgements and dead letters exactly', async () => {
    // A minute to acknowledge and no background look: the test makes receipts overdue itself (by
    // moving their deadline in the index) and has them acted on by processQueuedMessages.
    const router = newRouter({
      deliveryReceipts: { enabled: true },
      deliveryTimeoutMs: 60_000,
      retry: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 40 },
      drainIntervalMs: 60_000,
    });
    const redis = plainClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    const deadlines = keyOf(router, `routing:receipts:${orch}`);
    const overdue = async (...ids: string[]) => {
      for (const id of ids) await redis.zadd(deadlines, 'XX', Date.now() - 1, id);
      await router.processQueuedMessages(orch);
    };
    const seen = record(router, 'message.redelivered', 'message.acknowledged', 'message.dead_lettered');
    const counts = () => {
      const { redeliveries, acknowledged, deadLettered } = router.getMetrics();
      return { redeliveries, acknowledged, deadLettered };
    };
    await register(router, orch, 's', daemon);
    for (const id of ['a', 'b', 'c']) await router.routeMessage(message(id), orch);
    expect(counts()).toEqual({ redeliveries: 0, acknowledged: 0, deadLettered: 0 });

    // Unknown and repeated ids acknowledge nothing more.
    expect(await router.acknowledge(orch, ['a', 'unknown', 'a'])).toBe(1);
    expect(await router.acknowledge(orch, ['a'])).toBe(0);
    expect(counts()).toEqual({ redeliveries: 0, acknowledged: 1, deadLettered: 0 });

    await overdue('b', 'c'); // delivery 2 of each
    expect(counts()).toEqual({ redeliveries: 2, acknowledged: 1, deadLettered: 0 });
    expect(await router.acknowledge(orch, ['b'])).toBe(1);
    await overdue('c'); // delivery 3, the last
    expect(counts()).toEqual({ redeliveries: 3, acknowledged: 2, deadLettered: 0 });
    await overdue('c'); // dead-lettered, not delivered again
    expect(counts()).toEqual({ redeliveries: 3, acknowledged: 2, deadLettered: 1 });
    expect(await router.acknowledge(orch, ['c'])).toBe(0);
    expect(counts()).toEqual({ redeliveries: 3, acknowledged: 2, deadLettered: 1 });

    expect(await daemonMessageIds(redis, router, daemon)).toEqual(['a', 'b', 'c', 'b', 'c', 'c']);
    expect(seen.map((e) => [e.type, e.messageId])).toEqual([
      ['message.acknowledged', 'a'],
      ['message.redelivered', 'b'],
      ['message.redelivered', 'c'],
      ['message.acknowledged', 'b'],
      ['message.redelivered', 'c'],
      ['message.dead_lettered', 'c'],
    ]);
    const text = router.metrics();
    expect(text).toMatch(/^orchestrator_router_redeliveries_total 3$/m);
    expect(text).toMatch(/^orchestrator_router_acknowledged_total 2$/m);
    expect(text).toMatch(/^orchestrator_router_dead_lettered_total 1$/m);
  });
});

describe('a high-priority message arriving mid-drain', () => {
  it('is delivered next when it arrives while a paced drain waits for the daemon to make room', async () => {
    // No background look for a minute: what moves is moved by the drain that keeps pace.
    const router = newRouter({ daemonQueue: { maxEvents: 3 }, drainIntervalMs: 60_000 });
    const orch = uid('orch');
    const daemon = uid('daemon');
    const normal = Array.from({ length: 8 }, (_, i) => `n${i}`);
    for (const id of normal) await router.queueMessageForOffline(message(id), orch);
    await register(router, orch, 's', daemon); // delivers n0..n2: the daemon list is full
    expect(await daemonMessageIds(plainClient(), router, daemon)).toEqual(['n0', 'n1', 'n2']);
    expect((await router.routeMessage(message('h', { priority: 'high' }), orch)).status).toBe('pending');
    expect(await queued(router, orch, 'queue-high')).toEqual(['h']);

    const received = await consumeAll(router, orch, daemon, normal.length + 1, await consume(plainClient(), router, daemon, 3));
    expect(received).toEqual(['n0', 'n1', 'n2', 'h', 'n3', 'n4', 'n5', 'n6', 'n7']);
  });

  it('is delivered next when it arrives after a drain step was planned: the step is refused', async () => {
    const router = newRouter({ daemonQueue: { maxEvents: 3 }, drainIntervalMs: 60_000 });
    const orch = uid('orch');
    const daemon = uid('daemon');
    await register(router, orch, 's', daemon);
    for (const id of ['p0', 'p1', 'p2']) expect((await router.routeMessage(message(id), orch)).status).toBe('delivered');
    // The daemon list is full: these wait, and a drain keeps looking for room.
    for (const id of ['n0', 'n1', 'n2', 'n3']) expect((await router.routeMessage(message(id), orch)).status).toBe('pending');
    // The next plan re-reads n0..n3; before its step runs, h is routed (the list is still full: it
    // waits in the high level) and then the daemon takes its three events.
    let meanwhile: { planned: string[]; status: string; consumed: string[] } | null = null;
    router.setMessageService({
      getMessagesByIds: async (ids: string[]) => {
        if (meanwhile === null) {
          const { status } = await router.routeMessage(message('h', { priority: 'high' }), orch);
          meanwhile = { planned: ids, status, consumed: await consume(plainClient(), router, daemon, 3) };
        }
        return ids.map((id) => ({ id, content: `content of ${id}` }));
      },
    });
    await waitFor(() => meanwhile !== null, 'the drain to plan a step', 20_000);
    expect(meanwhile).toEqual({ planned: ['n0', 'n1', 'n2', 'n3'], status: 'pending', consumed: ['p0', 'p1', 'p2'] });
    expect(await consumeAll(router, orch, daemon, 5)).toEqual(['h', 'n0', 'n1', 'n2', 'n3']);
  });
});

describe('a router killed while it owns a backlog', () => {
  it('leaves the backlog to another router, which delivers all of it once, in order', async () => {
    // Every router looks every 500 ms and claims for max(1 s, 4 × 500 ms) = 2 s.
    const drainIntervalMs = 500;
    const survivor = newRouter({ offlineQueue: { maxQueueSize: 10_000 }, daemonQueue: { maxEvents: 10_000 }, drainIntervalMs });
    const redis = plainClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    const ids = Array.from({ length: 3000 }, (_, i) => `m${String(i).padStart(4, '0')}`);
    const queuedAt = new Date().toISOString();
    const pipeline = redis.pipeline();
    for (const id of ids) {
      pipeline.rpush(keyOf(survivor, `routing:queue:${orch}`), JSON.stringify({ messageId: id, channelId: 'c', authorId: 'u', content: id, createdAt: queuedAt, queuedAt }));
    }
    await pipeline.exec();

    // The other router drains 800 (four look-ups of 200), then its message service stops
    // answering: it is stuck mid-backlog, and its ticker keeps the backlog claimed.
    const dying = startRouterProcess({ role: 'drain', redis: redisUrl(), keyPrefix: keyOf(survivor, ''), orchestrator: orch, daemon, batchDelayMs: 10, drainIntervalMs, hangAfter: 4 });
    await dying.waitForLine((l) => l.lookup === 5);
    // Owned: its claim hides the backlog for a lease (a drain step files it only 500 ms ahead).
    const pendingKey = keyOf(survivor, 'routing:pending');
    await waitFor(async () => Number(await redis.zscore(pendingKey, orch)) > Date.now() + 1.2 * drainIntervalMs, 'the dying router to claim the backlog', 20_000);
    dying.kill('SIGKILL');
    await dying.exited;
    const killedAt = Date.now();
    const listKey = keyOf(survivor, `daemon:events:${daemon}`);
    expect(await redis.llen(listKey)).toBe(800);

    const started = record(survivor, 'queue.processing_started');
    await survivor.processQueuedMessages(uid('other')); // its first call: its background looks begin
    await waitFor(async () => (await redis.llen(listKey)) === ids.length, async () => `the backlog to be delivered (${await redis.llen(listKey)} of ${ids.length})`, 20_000);
    const finishedAt = Date.now();
    const takeover = started.find((e) => e.orchestratorId === orch);
    expect(takeover).toBeDefined();
    console.log(
      `takeover after SIGKILL: drain started ${takeover!.timestamp.getTime() - killedAt} ms after the kill, ` +
        `backlog of ${ids.length - 800} delivered ${finishedAt - killedAt} ms after it ` +
        `(claimed: max(1 s, 4 × ${drainIntervalMs} ms) = ${Math.max(1000, 4 * drainIntervalMs)} ms)`,
    );
    expect(await daemonMessageIds(redis, survivor, daemon)).toEqual(ids);
    expect(await redis.llen(keyOf(survivor, `routing:queue:${orch}`))).toBe(0);
  }, 60_000);
});
