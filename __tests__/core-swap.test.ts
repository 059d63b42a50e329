// @neolith/core with its router swapped for this package, against a real redis-server. The
// stand-in for core (__tests__/core-swap) has core's error base and logic, the method shapes of its
// message, presence and daemon API services and of Prisma's message delegate, core's compiler
// options, its `services/index.ts` re-exports, and docs/core-swap.md's replacement module verbatim.
import fs from 'node:fs';
import path from 'node:path';
import Redis from 'ioredis';
import { prisma, store } from '@neolith/database';
import { GenesisError, isGenesisError, wrapError } from './core-swap/src/errors';
import {
  createOrchestratorRouter,
  DaemonApiService,
  MessageServiceImpl,
  NoActiveSessionError,
  OrchestratorOfflineError,
  OrchestratorRouter,
  orchestratorRouter,
  OrchestratorRoutingError,
  PresenceServiceImpl,
  getPresenceService,
  type OrchestratorRouterConfig,
} from './core-swap/src/services';
import { InvalidArgumentError, OrchestratorRoutingError as PackageRoutingError, RouterBaseError, errorClasses } from '..';
import { closeAll, plainClient, redisUrl, uid, waitFor } from './support/helpers';

const routers: OrchestratorRouter[] = [];
const presences: PresenceServiceImpl[] = [];

/** A router as core's replacement module builds it (core's database client and errors), closed after the test. */
function coreRouter(config: OrchestratorRouterConfig = {}): OrchestratorRouter {
  const router = createOrchestratorRouter({ redis: redisUrl(), retry: { initialDelayMs: 10, maxDelayMs: 50 }, drainIntervalMs: 50, ...config });
  routers.push(router);
  return router;
}

/** Core's presence service over the test server, closed after the test. */
function corePresence(): PresenceServiceImpl {
  const presence = new PresenceServiceImpl(new Redis(redisUrl(), { lazyConnect: true }));
  presences.push(presence);
  return presence;
}

/** A message row in core's database (the stand-in), as core's message service writes it. */
async function sent(content: string) {
  return new MessageServiceImpl(prisma).sendMessage({ channelId: uid('chan'), authorId: uid('user'), content });
}

/** The events of a daemon's list as core's daemon API reads them (newest first), oldest first. */
async function received(daemonId: string) {
  const api = new DaemonApiService(plainClient());
  return (await api.getPendingEvents({ daemonId, orchestratorId: '' })).reverse();
}

/** Every event of `name` the router emits. */
function recorded(router: OrchestratorRouter, name: string): Array<Record<string, unknown>> {
  const seen: Array<Record<string, unknown>> = [];
  router.on(name, (event: Record<string, unknown>) => seen.push(event));
  return seen;
}

function session(daemonId: string) {
  return { id: uid('sess'), daemonId, status: 'active' as const, createdAt: new Date() };
}

beforeEach(() => {
  store.calls.length = 0;
  store.failure = null;
});

afterEach(async () => {
  await Promise.all(routers.splice(0).map((r) => r.close()));
  await Promise.all(presences.splice(0).map((p) => p.close()));
  await closeAll();
});

afterAll(async () => {
  await orchestratorRouter.close();
  await getPresenceService().close();
});

describe('the replacement module', () => {
  it('is the section "Swapping it into @neolith/core" of docs/core-swap.md, verbatim', () => {
    const doc = fs.readFileSync(path.join(__dirname, '..', 'docs', 'core-swap.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## Swapping it into @neolith/core'));
    const block = /```ts\n([\s\S]*?)```/.exec(section);
    const module = fs.readFileSync(path.join(__dirname, 'core-swap', 'src', 'services', 'orchestrator-router.ts'), 'utf8');
    expect(block?.[1]).toBe(module);
  });

  it("builds the default instance with core's database client, presence service and errors", async () => {
    const presence = corePresence();
    const orch = uid('orch');
    const daemon = uid('daemon');
    await presence.setVPStatus(orch, 'ONLINE');
    const message = await sent('hello');
    await orchestratorRouter.queueMessageForOffline(message, orch);
    await prisma.message.update({ where: { id: message.id }, data: { content: 'hello, edited' } });
    await orchestratorRouter.registerSession(orch, session(daemon));
    expect((await received(daemon)).map((e) => e.payload.content)).toEqual(['hello, edited']);
    expect(store.calls.filter((c) => c.method === 'findMany')).toHaveLength(1);
    await expect(orchestratorRouter.routeMessage({ ...message, id: '' }, orch)).rejects.toBeInstanceOf(GenesisError);
  });
});

describe("core's errors", () => {
  // Every way a method throws or rejects, each expected as a GenesisError with its code and status.
  const failures: Array<[string, () => unknown, string, number]> = [
    ['the constructor, for an invalid option', () => coreRouter({ retry: { maxAttempts: 0 } }), 'INVALID_ARGUMENT', 400],
    ['the constructor, for an unparsable URL', () => coreRouter({ redis: 'http://nowhere' }), 'INVALID_ARGUMENT', 400],
    ['routeMessage, for an invalid message', () => coreRouter().routeMessage({ id: 'm', channelId: '', content: 'x' }, 'o'), 'INVALID_ARGUMENT', 400],
    ['routeMessages, for an invalid item', () => coreRouter().routeMessages([{ message: { id: 'm', channelId: 'c', content: 'x' }, orchestratorId: '' }]), 'INVALID_ARGUMENT', 400],
    ['registerSession, for an invalid status', () => coreRouter().registerSession('o', { id: 's', daemonId: 'd', status: 'lost' as never }), 'INVALID_ARGUMENT', 400],
    ['readDaemonEvents, for an invalid max', () => coreRouter().readDaemonEvents('d', { max: 0 }), 'INVALID_ARGUMENT', 400],
    ['acknowledge, for invalid ids', () => coreRouter().acknowledge('o', [''] as string[]), 'INVALID_ARGUMENT', 400],
    ['setMessageService, for a paging getMessages only', () => coreRouter().setMessageService({ getMessages: async () => ({ data: [] }) } as never), 'INVALID_ARGUMENT', 400],
    ['setPresenceService, for an object without getVPPresence', () => coreRouter().setPresenceService({} as never), 'INVALID_ARGUMENT', 400],
    ['queueMessageForOffline, once closed', async () => {
      const router = coreRouter();
      await router.close();
      return router.queueMessageForOffline({ id: 'm', channelId: 'c', content: 'x' }, 'o');
    }, 'ORCHESTRATOR_ROUTING_ERROR', 500],
    ['queueMessageForOffline, when Redis does not answer', () => {
      const router = coreRouter({ redis: 'redis://127.0.0.1:1', retry: { maxAttempts: 1 }, deliveryTimeoutMs: 200 });
      return router.queueMessageForOffline({ id: 'm', channelId: 'c', content: 'x' }, 'o');
    }, 'ORCHESTRATOR_ROUTING_ERROR', 500],
    ['getOrchestratorSession, when Redis does not answer', () => {
      const router = coreRouter({ redis: 'redis://127.0.0.1:1', retry: { maxAttempts: 1 }, deliveryTimeoutMs: 200 });
      return router.getOrchestratorSession('o');
    }, 'ORCHESTRATOR_ROUTING_ERROR', 500],
  ];

  it.each(failures)('%s: isGenesisError, and wrapError keeps code, status and metadata', async (_what, call, code, statusCode) => {
    let error: unknown;
    try {
      await call();
    } catch (thrown) {
      error = thrown;
    }
    expect(isGenesisError(error)).toBe(true);
    const wrapped = wrapError(error, 'routing');
    expect(wrapped).toBe(error);
    expect(wrapped).toMatchObject({ code, statusCode });
    expect(wrapped.metadata).toBeDefined();
    expect(wrapped.toJSON()).toEqual({ name: wrapped.name, message: wrapped.message, code, statusCode, metadata: wrapped.metadata });
    // The package's own classes still recognise the error, whichever base it was built on.
    expect(error).toBeInstanceOf(RouterBaseError);
    expect(error instanceof (code === 'INVALID_ARGUMENT' ? InvalidArgumentError : PackageRoutingError)).toBe(true);
  });

  it("exports the three classes as core's, with the deployed names, codes, status codes and messages", () => {
    const offline = new OrchestratorOfflineError('orch_1');
    expect(offline).toBeInstanceOf(GenesisError);
    expect(offline.toJSON()).toEqual({ name: 'OrchestratorOfflineError', message: 'Orchestrator is offline: orch_1', code: 'ORCHESTRATOR_OFFLINE', statusCode: 503, metadata: { orchestratorId: 'orch_1' } });
    expect(new NoActiveSessionError('orch_1').toJSON()).toEqual({
      name: 'NoActiveSessionError', message: 'No active session found for orchestrator: orch_1', code: 'NO_ACTIVE_SESSION', statusCode: 404, metadata: { orchestratorId: 'orch_1' },
    });
    expect(wrapError(new OrchestratorRoutingError('failed', { a: 1 }), 'x')).toMatchObject({ code: 'ORCHESTRATOR_ROUTING_ERROR', statusCode: 500, metadata: { a: 1 } });
    // The classes a router built on GenesisError raises are these very classes.
    expect(errorClasses(GenesisError).OrchestratorRoutingError).toBe(OrchestratorRoutingError);
  });

  it("gives the package's own classes toJSON, as core's errors have", () => {
    expect(JSON.parse(JSON.stringify(new InvalidArgumentError('message.id', 'must be a non-empty string')))).toEqual({
      name: 'InvalidArgumentError', message: 'Invalid message.id: must be a non-empty string', code: 'INVALID_ARGUMENT', statusCode: 400, metadata: { field: 'message.id' },
    });
  });

  it('refuses an errorBase that is not an Error class, naming it', () => {
    expect(() => createOrchestratorRouter({ errorBase: (() => undefined) as never })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', metadata: { field: 'errorBase' } }));
  });
});

describe("core's message service, set with setMessageService", () => {
  it('re-reads each queued message with getMessage: edited ones go as edited, soft-deleted ones are dropped', async () => {
    const router = coreRouter();
    const service = new MessageServiceImpl(prisma);
    const paging = jest.spyOn(service, 'getMessages');
    router.setMessageService(service);
    const dropped = recorded(router, 'message.dropped');
    const orch = uid('orch');
    const daemon = uid('daemon');
    const [keep, edit, gone] = [await sent('keep'), await sent('edit me'), await sent('delete me')];
    for (const m of [keep, edit, gone]) await router.queueMessageForOffline(m, orch);
    await service.updateMessage(edit.id, 'edited');
    await service.softDeleteMessage(gone.id);
    await router.registerSession(orch, session(daemon));
    expect((await received(daemon)).map((e) => [e.payload.messageId, e.payload.content])).toEqual([[keep.id, 'keep'], [edit.id, 'edited']]);
    expect(dropped.map((e) => [e.messageId, e.reason])).toEqual([[gone.id, 'deleted']]);
    expect(paging).not.toHaveBeenCalled();
  });

  it('keeps the messages queued, in order, when getMessage fails; says why; and delivers them once it answers', async () => {
    const router = coreRouter();
    const service = new MessageServiceImpl(prisma);
    router.setMessageService(service);
    const completed = recorded(router, 'queue.processing_completed');
    const orch = uid('orch');
    const daemon = uid('daemon');
    const messages = [await sent('one'), await sent('two'), await sent('three')];
    for (const m of messages) await router.queueMessageForOffline(m, orch);
    store.failure = new Error('Can\'t reach database server');
    await router.registerSession(orch, session(daemon));
    const deferred = { reason: 'lookup_failed', error: `messageService.getMessage(${JSON.stringify(messages[0]!.id)}) failed: Can't reach database server` };
    expect(completed[0]).toMatchObject({ processed: 0, failed: 0, deferred });
    expect(await router.processQueuedMessages(orch)).toEqual({ processed: 0, failed: 0, remaining: 3, deferred });
    expect(await router.getQueueDepth(orch)).toBe(3);
    store.failure = null;
    // A later look (the background drain, within max(1 s, 4 × drainIntervalMs)) tries again; the
    // deadline leaves room for a loaded machine.
    await waitFor(async () => (await received(daemon)).length === 3, 'the queue to drain once the database answers', 20_000);
    expect((await received(daemon)).map((e) => e.payload.messageId)).toEqual(messages.map((m) => m.id));
  });

  it('keeps the messages queued when the service answers something that is not a message', async () => {
    const router = coreRouter();
    router.setMessageService({ getMessage: async () => ({ data: [], total: 0 }) as never });
    const orch = uid('orch');
    await router.queueMessageForOffline(await sent('x'), orch);
    await router.registerSession(orch, session(uid('daemon')));
    const result = await router.processQueuedMessages(orch);
    expect(result).toMatchObject({ processed: 0, failed: 0, remaining: 1, deferred: { reason: 'lookup_failed' } });
    expect(result.deferred).toMatchObject({ error: expect.stringContaining('whose content is undefined, not a string') });
  });

  it('uses a batch getMessagesByIds when the service has one, and checks its answer', async () => {
    const router = coreRouter();
    const asked: string[][] = [];
    router.setMessageService({ getMessagesByIds: async (ids: string[]) => (asked.push(ids), ids.length > 1 ? { data: [] } : []) as never });
    const orch = uid('orch');
    const daemon = uid('daemon');
    await router.queueMessageForOffline(await sent('a'), orch);
    await router.queueMessageForOffline(await sent('b'), orch);
    await router.registerSession(orch, session(daemon));
    expect(asked).toHaveLength(1);
    expect(await router.processQueuedMessages(orch)).toMatchObject({ remaining: 2, deferred: { reason: 'lookup_failed', error: 'messageService.getMessagesByIds(ids) answered object, not an array of messages' } });
  });
});

describe("core's database client, given as prisma", () => {
  it('re-reads with one findMany per drain step, dropping missing and deleted messages and delivering edits', async () => {
    const router = coreRouter({ offlineQueue: { maxQueueSize: 500 } });
    const dropped = recorded(router, 'message.dropped');
    const orch = uid('orch');
    const daemon = uid('daemon');
    const messages = [];
    for (let i = 0; i < 250; i++) messages.push(await sent(`m${i}`));
    await router.routeMessages(messages.map((message) => ({ message, orchestratorId: orch })));
    await prisma.message.update({ where: { id: messages[1]!.id }, data: { content: 'edited' } });
    await prisma.message.update({ where: { id: messages[2]!.id }, data: { isDeleted: true, content: '[Message deleted]' } });
    await prisma.message.update({ where: { id: messages[3]!.id }, data: { deletedAt: new Date() } });
    store.messages.delete(messages[4]!.id);
    store.calls.length = 0;
    await router.registerSession(orch, session(daemon));
    const queries = store.calls.filter((c) => c.method === 'findMany').map((c) => (c.args as { where: { id: { in: string[] } } }).where.id.in);
    expect(queries.map((ids) => ids.length)).toEqual([200, 50]);
    expect(queries.flat()).toEqual(messages.map((m) => m.id));
    expect(store.calls.filter((c) => c.method !== 'findMany')).toEqual([]);
    const events = (await plainClient().lrange(`daemon:events:${daemon}`, 0, -1)).reverse().map((e) => JSON.parse(e));
    expect(events.map((e) => e.payload.messageId)).toEqual(messages.filter((_, i) => i < 2 || i > 4).map((m) => m.id));
    expect(events[1]!.payload.content).toBe('edited');
    expect(dropped.map((e) => e.reason)).toEqual(['deleted', 'deleted', 'deleted']);
  });

  it('keeps the messages queued, and says so, when the query fails', async () => {
    const router = coreRouter();
    const orch = uid('orch');
    await router.queueMessageForOffline(await sent('x'), orch);
    store.failure = new Error('Timed out fetching a new connection from the connection pool');
    await router.registerSession(orch, session(uid('daemon')));
    expect(await router.processQueuedMessages(orch)).toEqual({
      processed: 0, failed: 0, remaining: 1,
      deferred: { reason: 'lookup_failed', error: 'prisma.message.findMany failed: Timed out fetching a new connection from the connection pool' },
    });
  });

  it('gives way to a message service, and takes over again when it is removed', async () => {
    const router = coreRouter();
    const orch = uid('orch');
    const daemon = uid('daemon');
    const message = await sent('original');
    router.setMessageService({ getMessage: async (id: string) => ({ id, content: 'from the service' }) });
    await router.queueMessageForOffline(message, orch);
    await router.registerSession(orch, session(daemon));
    expect(store.calls.filter((c) => c.method === 'findMany')).toEqual([]);
    router.setMessageService(null);
    await router.queueMessageForOffline({ ...message, id: (await sent('second')).id }, orch);
    await router.processQueuedMessages(orch);
    expect(store.calls.filter((c) => c.method === 'findMany')).toHaveLength(1);
    expect((await received(daemon)).map((e) => e.payload.content)).toEqual(['from the service', 'second']);
  });
});

describe("core's presence service", () => {
  it('keeps a queue whose orchestrator presence calls OFFLINE, drains included, and delivers it once ONLINE', async () => {
    const router = coreRouter();
    const presence = corePresence();
    router.setPresenceService(presence);
    const completed = recorded(router, 'queue.processing_completed');
    const orch = uid('orch');
    const daemon = uid('daemon');
    await presence.setVPStatus(orch, 'OFFLINE');
    const messages = [await sent('one'), await sent('two')];
    for (const m of messages) expect((await router.routeMessage(m, orch)).status).toBe('offline');
    // The daemon registers while presence still says OFFLINE: the call resolves, the queue stays.
    await router.registerSession(orch, session(daemon));
    expect(completed).toEqual([expect.objectContaining({ processed: 0, failed: 0, deferred: { reason: 'offline' } })]);
    expect(await router.processQueuedMessages(orch)).toEqual({ processed: 0, failed: 0, remaining: 2, deferred: { reason: 'offline' } });
    // Two later looks of the background drain find it still offline and deliver nothing.
    await waitFor(() => completed.length >= 4, 'two background looks');
    expect(await received(daemon)).toEqual([]);
    expect(await router.getQueueDepth(orch)).toBe(2);
    await presence.setVPStatus(orch, 'ONLINE');
    await waitFor(async () => (await received(daemon)).length === 2, 'the queue to drain once presence says ONLINE');
    expect((await received(daemon)).map((e) => e.payload.messageId)).toEqual(messages.map((m) => m.id));
  });

  it('asks presence once per drain, not once per message', async () => {
    // No background look during the test: the one drain is registerSession's.
    const router = coreRouter({ offlineQueue: { maxQueueSize: 500 }, drainIntervalMs: 60_000 });
    const asked: string[] = [];
    router.setPresenceService({ getVPPresence: async (id: string) => (asked.push(id), { status: 'ONLINE' }) });
    const orch = uid('orch');
    for (let i = 0; i < 300; i++) await router.queueMessageForOffline(await sent(`m${i}`), orch);
    await router.registerSession(orch, session(uid('daemon')));
    expect(asked).toEqual([orch]);
    expect(await router.getQueueDepth(orch)).toBe(0);
  });
});

describe("core's DaemonEvent", () => {
  it('is what readDaemonEvents returns: timestamps are Dates', async () => {
    const router = coreRouter();
    const orch = uid('orch');
    const daemon = uid('daemon');
    await router.registerSession(orch, session(daemon));
    await router.routeMessage(await sent('hi'), orch);
    const [event] = await router.readDaemonEvents(daemon);
    expect(event!.timestamp).toBeInstanceOf(Date);
    expect(Number.isNaN(event!.timestamp.getTime())).toBe(false);
    expect(typeof event!.payload.timestamp).toBe('string');
  });
});

describe("core's daemon API, acknowledging with LRANGE, DEL, RPUSH", () => {
  const size = 600;
  const inFlight = 16;

  /**
   * Routes `size` messages, 16 at a time, while a daemon consumes as core's daemon API lets it:
   * reads the newest 100 events, acknowledges their messages to the router (the receipt), then
   * removes the events with `removeEvents`. Resolves the message ids acknowledged.
   */
  async function routeWhileConsuming(router: OrchestratorRouter, removeEvents: (daemonId: string, eventIds: string[]) => Promise<unknown>) {
    const orch = uid('orch');
    const daemon = uid('daemon');
    const api = new DaemonApiService(plainClient());
    const token = { daemonId: daemon, orchestratorId: orch };
    await router.registerSession(orch, session(daemon));
    const ids = Array.from({ length: size }, (_, i) => `${orch}_m${i}`);
    let next = 0;
    const routing = Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < ids.length) {
          const id = ids[next++]!;
          await router.routeMessage({ id, channelId: 'chan', authorId: 'user', content: id }, orch);
        }
      }),
    );
    const acknowledged = new Set<string>();
    const deadline = Date.now() + 60_000;
    while (acknowledged.size < size) {
      if (Date.now() > deadline) throw new Error(`only ${acknowledged.size} of ${size} acknowledged within 60 s`);
      const events = await api.getPendingEvents(token);
      if (events.length === 0) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        continue;
      }
      const messageIds = events.map((e) => e.payload.messageId!);
      await router.acknowledge(orch, messageIds);
      for (const id of messageIds) acknowledged.add(id);
      await removeEvents(daemon, events.map((e) => e.id));
    }
    await routing;
    return acknowledged;
  }

  it('loses events between its LRANGE and DEL, and with delivery receipts every message is still acknowledged: the destroyed ones are redelivered', async () => {
    const router = coreRouter({ deliveryReceipts: { enabled: true }, deliveryTimeoutMs: 300, retry: { maxAttempts: 20, initialDelayMs: 10, maxDelayMs: 50 }, drainIntervalMs: 20 });
    const api = new DaemonApiService(plainClient());
    const acknowledged = await routeWhileConsuming(router, (daemonId, eventIds) => api.acknowledgeEvents({ daemonId, orchestratorId: '' }, eventIds));
    expect(acknowledged.size).toBe(size);
    const { redeliveries, deadLettered } = router.getMetrics();
    // Events were destroyed (else this test proves nothing), and none of their messages was lost.
    expect(redeliveries).toBeGreaterThan(0);
    expect(deadLettered).toBe(0);
  });

  it('loses nothing when the daemon side removes events with acknowledgeDaemonEvents instead', async () => {
    const router = coreRouter({ deliveryReceipts: { enabled: true }, deliveryTimeoutMs: 10_000, drainIntervalMs: 20 });
    const acknowledged = await routeWhileConsuming(router, (daemonId, eventIds) => router.acknowledgeDaemonEvents(daemonId, eventIds));
    expect(acknowledged.size).toBe(size);
    expect(router.getMetrics().redeliveries).toBe(0);
  });
});
