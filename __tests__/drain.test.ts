import { closeAll, daemonMessageIds, keyOf, message, newRouter, plainClient, record, uid, waitFor } from './support/helpers';

afterEach(closeAll);

const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('draining a backlog', () => {
  it('resolves processQueuedMessages with what was delivered, dropped and left', async () => {
    const router = newRouter();
    const redis = plainClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    for (const id of ids('m', 3)) await router.queueMessageForOffline(message(id), orch);
    await redis.rpush(keyOf(router, `routing:queue:${orch}`), 'not json');
    expect(await router.processQueuedMessages(orch)).toEqual({ processed: 0, failed: 0, remaining: 4 });
    await redis.set(
      keyOf(router, `routing:session:${orch}`),
      JSON.stringify({ sessionId: 's', daemonId: daemon, status: 'active', lastActiveAt: new Date().toISOString(), createdAt: new Date().toISOString() }),
    );
    const dropped = record(router, 'message.dropped');
    expect(await router.processQueuedMessages(orch)).toEqual({ processed: 3, failed: 1, remaining: 0 });
    expect(dropped.map((e) => e.reason)).toEqual(['invalid']);
    expect(await daemonMessageIds(redis, router, daemon)).toEqual(ids('m', 3));
  });

  it('delivers each message exactly once, in order, when two routers drain the same queue at once', async () => {
    const size = 3000;
    const config = { offlineQueue: { maxQueueSize: size }, daemonQueue: { maxEvents: size }, drainIntervalMs: 10 };
    const a = newRouter(config);
    const b = newRouter({ ...config, keyPrefix: keyOf(a, '') });
    const redis = plainClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    const queueKey = keyOf(a, `routing:queue:${orch}`);
    const pipeline = redis.pipeline();
    const queuedAt = new Date().toISOString();
    for (const id of ids('m', size)) {
      pipeline.rpush(queueKey, JSON.stringify({ messageId: id, channelId: 'c', authorId: 'u', content: id, createdAt: queuedAt, queuedAt }));
    }
    await pipeline.exec();
    await redis.set(
      keyOf(a, `routing:session:${orch}`),
      JSON.stringify({ sessionId: 's', daemonId: daemon, status: 'active', lastActiveAt: queuedAt, createdAt: queuedAt }),
    );
    const routedA = record(a, 'message.routed');
    const routedB = record(b, 'message.routed');
    const [ra, rb] = await Promise.all([a.processQueuedMessages(orch), b.processQueuedMessages(orch), a.processQueuedMessages(orch)]);
    await waitFor(async () => (await redis.llen(queueKey)) === 0, 'the queue to empty');
    expect(ra.processed + rb.processed).toBeLessThanOrEqual(size);
    expect(await daemonMessageIds(redis, a, daemon)).toEqual(ids('m', size));
    expect(routedA.length + routedB.length).toBe(size);
  });

  it('leaves the rest queued, in order, when the orchestrator goes offline mid-drain, and terminates', async () => {
    const router = newRouter({ offlineQueue: { maxQueueSize: 1000 } });
    const redis = plainClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    for (const id of ids('m', 450)) await router.routeMessage(message(id), orch);
    // The session goes during the first look-up made once a step has reached the daemon: between
    // a step Redis applied and one it has not (which step that is depends on timing: the drain
    // plans the next step while Redis runs the one before, and sessions travel on a connection of
    // their own).
    let unregistered = false;
    router.setMessageService({
      getMessagesByIds: async (wanted: string[]) => {
        if (!unregistered && (await redis.llen(keyOf(router, `daemon:events:${daemon}`))) > 0) {
          unregistered = true;
          await router.unregisterSession(orch);
        }
        return wanted.map((id) => ({ id, content: `content of ${id}` }));
      },
    });
    await router.registerSession(orch, { id: 's', daemonId: daemon, status: 'active', createdAt: new Date() });
    const delivered = await daemonMessageIds(redis, router, daemon);
    const left = (await redis.lrange(keyOf(router, `routing:queue:${orch}`), 0, -1)).map((i) => JSON.parse(i).messageId);
    // Whole steps of 200 delivered, at least one, and the rest left.
    expect([[200, 250], [400, 50]]).toContainEqual([delivered.length, left.length]);
    expect([...delivered, ...left]).toEqual(ids('m', 450));
    expect(await router.processQueuedMessages(orch)).toEqual({ processed: 0, failed: 0, remaining: left.length });
  });
});

describe('a daemon whose event list is full', () => {
  it('keeps draining in the background while the daemon takes events, without waiting for the next look', async () => {
    const size = 600;
    // No background look for a minute: whatever is delivered is delivered by this one drain.
    const router = newRouter({ offlineQueue: { maxQueueSize: size }, daemonQueue: { maxEvents: 50 }, drainIntervalMs: 60_000 });
    const redis = plainClient();
    const consumer = plainClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    const queuedAt = new Date().toISOString();
    const pipeline = redis.pipeline();
    for (const id of ids('f', size)) {
      pipeline.rpush(keyOf(router, `routing:queue:${orch}`), JSON.stringify({ messageId: id, channelId: 'c', authorId: 'u', content: id, createdAt: queuedAt, queuedAt }));
    }
    await pipeline.exec();
    await redis.set(keyOf(router, `routing:session:${orch}`), JSON.stringify({ sessionId: 's', daemonId: daemon, status: 'active', lastActiveAt: queuedAt, createdAt: queuedAt }));
    // The daemon: takes up to 20 events at a time, oldest first, until it has them all.
    const received: string[] = [];
    const consuming = (async () => {
      while (received.length < size) {
        const events = await consumer.rpop(keyOf(router, `daemon:events:${daemon}`), 20);
        for (const event of events ?? []) received.push(JSON.parse(event).payload.messageId);
      }
    })();
    // The call returns once the list is full (it does not wait on the daemon); a background drain
    // keeps pace with the daemon from there.
    const summary = await router.processQueuedMessages(orch);
    expect(summary.processed).toBeGreaterThanOrEqual(50);
    await consuming;
    expect(received).toEqual(ids('f', size));
  });
});

describe('a drain reading two steps at once', () => {
  function fill(router: ReturnType<typeof newRouter>, orch: string, daemon: string, n: number) {
    const redis = plainClient();
    const queuedAt = new Date().toISOString();
    const pipeline = redis.pipeline();
    for (const id of ids('s', n)) {
      pipeline.rpush(keyOf(router, `routing:queue:${orch}`), JSON.stringify({ messageId: id, channelId: 'c', authorId: 'u', content: id, createdAt: queuedAt, queuedAt }));
    }
    pipeline.set(keyOf(router, `routing:session:${orch}`), JSON.stringify({ sessionId: 's', daemonId: daemon, status: 'active', lastActiveAt: queuedAt, createdAt: queuedAt }));
    return pipeline.exec();
  }

  it('reports what the first step delivered when the second cannot be planned', async () => {
    const router = newRouter({ offlineQueue: { maxQueueSize: 1000 }, daemonQueue: { maxEvents: 1000 }, drainIntervalMs: 60_000 });
    const orch = uid('orch');
    const daemon = uid('daemon');
    await fill(router, orch, daemon, 450);
    let calls = 0;
    router.setMessageService({
      getMessagesByIds: async (messageIds: string[]) => {
        calls += 1;
        if (calls === 2) throw new Error('database down');
        return messageIds.map((id) => ({ id, content: id }));
      },
    });
    const routed = record(router, 'message.routed');
    const completed = record(router, 'queue.processing_completed');
    const deferred = { reason: 'lookup_failed', error: 'messageService.getMessagesByIds(ids) failed: database down' };
    expect(await router.processQueuedMessages(orch)).toEqual({ processed: 200, failed: 0, remaining: 250, deferred });
    const delivered = await daemonMessageIds(plainClient(), router, daemon);
    expect(delivered).toEqual(ids('s', 200));
    expect(routed.map((e) => e.messageId)).toEqual(delivered);
    expect(completed).toEqual([expect.objectContaining({ processed: 200, deferred })]);
  });

  it('gives every delivery awaiting a receipt its own place in delivery order', async () => {
    const router = newRouter({ deliveryReceipts: { enabled: true }, deliveryTimeoutMs: 60_000, offlineQueue: { maxQueueSize: 1000 }, daemonQueue: { maxEvents: 1000 } });
    const orch = uid('orch');
    await fill(router, orch, uid('daemon'), 450);
    expect((await router.processQueuedMessages(orch)).processed).toBe(450);
    const records = Object.entries(await plainClient().hgetall(keyOf(router, `routing:inflight:${orch}`)));
    expect(records).toHaveLength(450);
    const byOrder = records.map(([id, raw]) => [JSON.parse(raw).order, id] as [number, string]).sort((a, b) => a[0] - b[0]);
    expect(new Set(byOrder.map(([order]) => order)).size).toBe(450);
    expect(byOrder.map(([, id]) => id)).toEqual(ids('s', 450));
  });
});

describe('re-reading queued messages through the message service', () => {
  it('delivers an edited message as edited and drops a deleted one with reason deleted (getMessagesByIds)', async () => {
    const router = newRouter();
    const dropped = record(router, 'message.dropped');
    const redis = plainClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    for (const id of ['keep', 'edit', 'gone', 'soft']) await router.routeMessage(message(id), orch);
    const asked: string[][] = [];
    router.setMessageService({
      getMessagesByIds: async (wanted: string[]) => {
        asked.push(wanted);
        return [
          { id: 'soft', content: 'x', deletedAt: new Date() },
          { id: 'edit', content: 'edited text' },
          { id: 'keep', content: 'content of keep' },
        ];
      },
    });
    await router.registerSession(orch, { id: 's', daemonId: daemon, status: 'active', createdAt: new Date() });
    expect(asked).toEqual([['keep', 'edit', 'gone', 'soft']]);
    const events = (await redis.lrange(keyOf(router, `daemon:events:${daemon}`), 0, -1)).reverse().map((e) => JSON.parse(e));
    expect(events.map((e) => [e.payload.messageId, e.payload.content])).toEqual([['keep', 'content of keep'], ['edit', 'edited text']]);
    expect(dropped.map((e) => [e.messageId, e.reason])).toEqual([['gone', 'deleted'], ['soft', 'deleted']]);
  });

  it('uses getMessage one by one when the service has no batch method', async () => {
    const router = newRouter();
    const redis = plainClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    await router.routeMessage(message('a'), orch);
    await router.routeMessage(message('b'), orch);
    router.setMessageService({ getMessage: async (id: string) => (id === 'a' ? { id, content: 'A!' } : null) });
    const result = await router.processQueuedMessages(orch);
    expect(result).toEqual({ processed: 0, failed: 0, remaining: 2 });
    await router.registerSession(orch, { id: 's', daemonId: daemon, status: 'active', createdAt: new Date() });
    const events = (await redis.lrange(keyOf(router, `daemon:events:${daemon}`), 0, -1)).map((e) => JSON.parse(e).payload);
    expect(events).toEqual([expect.objectContaining({ messageId: 'a', content: 'A!' })]);
  });

  it('drops and reports an edit over maxMessageBytes instead of delivering it', async () => {
    const router = newRouter({ maxMessageBytes: 1024 });
    const redis = plainClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    for (const id of ['a', 'b', 'c']) await router.routeMessage(message(id), orch);
    // 'b' was edited past the limit a routed message is held to (1,025 bytes: one over).
    router.setMessageService({ getMessage: async (id: string) => ({ id, content: id === 'b' ? 'é'.repeat(512) + 'x' : `${id}!` }) });
    const dropped = record(router, 'message.dropped');
    await router.registerSession(orch, { id: 's', daemonId: daemon, status: 'active', createdAt: new Date() });
    // The daemon list holds the newest first.
    const events = (await redis.lrange(keyOf(router, `daemon:events:${daemon}`), 0, -1)).reverse().map((e) => JSON.parse(e).payload);
    expect(events.map((e) => [e.messageId, e.content])).toEqual([['a', 'a!'], ['c', 'c!']]);
    expect(dropped.map((e) => [e.messageId, e.reason])).toEqual([['b', 'too_large']]);
    expect(router.getMetrics().dropped.too_large).toBe(1);
    expect(await redis.llen(keyOf(router, `routing:queue:${orch}`))).toBe(0);
  });

  it('keeps messages queued when the message service fails, and says so', async () => {
    const router = newRouter();
    const redis = plainClient();
    const orch = uid('orch');
    await router.routeMessage(message('a'), orch);
    router.setMessageService({ getMessagesByIds: async () => { throw new Error('database down'); } });
    await router.registerSession(orch, { id: 's', daemonId: uid('daemon'), status: 'active', createdAt: new Date() });
    expect(await router.processQueuedMessages(orch)).toEqual({
      processed: 0,
      failed: 0,
      remaining: 1,
      deferred: { reason: 'lookup_failed', error: 'messageService.getMessagesByIds(ids) failed: database down' },
    });
    expect(await redis.llen(keyOf(router, `routing:queue:${orch}`))).toBe(1);
  });
});

describe('an unresponsive daemon', () => {
  it('stops pushing at daemonQueue.maxEvents, trims nothing, and drains by itself once the daemon makes room', async () => {
    const router = newRouter({ daemonQueue: { maxEvents: 5 }, drainIntervalMs: 20 });
    const redis = plainClient();
    const orch = uid('orch');
    const daemon = uid('daemon');
    const listKey = keyOf(router, `daemon:events:${daemon}`);
    await router.registerSession(orch, { id: 's', daemonId: daemon, status: 'active', createdAt: new Date() });
    const statuses: string[] = [];
    for (const id of ids('m', 8)) statuses.push((await router.routeMessage(message(id), orch)).status);
    expect(statuses).toEqual(['delivered', 'delivered', 'delivered', 'delivered', 'delivered', 'pending', 'pending', 'pending']);
    expect(await daemonMessageIds(redis, router, daemon)).toEqual(ids('m', 5));
    expect(await redis.llen(keyOf(router, `routing:queue:${orch}`))).toBe(3);
    // The daemon consumes (and acknowledges) its three oldest events.
    const consumed = (await redis.rpop(listKey, 3))!.map((e) => JSON.parse(e).payload.messageId);
    expect(consumed).toEqual(['m0', 'm1', 'm2']);
    await waitFor(async () => (await redis.llen(keyOf(router, `routing:queue:${orch}`))) === 0, 'the waiting messages to drain');
    expect(await daemonMessageIds(redis, router, daemon)).toEqual(ids('m', 8).slice(3));
  });
});
