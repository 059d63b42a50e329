import {
  createOrchestratorRouter,
  InvalidArgumentError,
  NoActiveSessionError,
  OrchestratorOfflineError,
  OrchestratorRoutingError,
  RoutableMessage,
} from '..';
import { closeAll, keyOf, message, newRouter, plainClient, redisUrl, uid } from './support/helpers';

afterEach(closeAll);

/** Every key the router wrote under its prefix. */
async function keysOf(prefixKey: string): Promise<string[]> {
  return plainClient().keys(`${prefixKey}*`);
}

describe('bad input', () => {
  const bad: Array<[string, unknown, unknown, string]> = [
    ['an empty orchestrator id', message('m'), '', 'orchestratorId'],
    ['a numeric orchestrator id', message('m'), 42, 'orchestratorId'],
    ['a missing orchestrator id', message('m'), undefined, 'orchestratorId'],
    ['a null message', null, 'o', 'message'],
    ['a message without id', { ...message('m'), id: undefined }, 'o', 'message.id'],
    ['a message with an empty id', { ...message('m'), id: '' }, 'o', 'message.id'],
    ['a message without channelId', { ...message('m'), channelId: undefined }, 'o', 'message.channelId'],
    ['non-string content', { ...message('m'), content: 42 }, 'o', 'message.content'],
    ['missing content', { ...message('m'), content: undefined }, 'o', 'message.content'],
    ['a non-string authorId', { ...message('m'), authorId: 7 }, 'o', 'message.authorId'],
    ['an invalid createdAt Date', { ...message('m'), createdAt: new Date('nope') }, 'o', 'message.createdAt'],
    ['an unparsable createdAt string', { ...message('m'), createdAt: 'yesterday' }, 'o', 'message.createdAt'],
    ['a createdAt object', { ...message('m'), createdAt: {} }, 'o', 'message.createdAt'],
    ['content over maxMessageBytes', { ...message('m'), content: 'é'.repeat(513) }, 'o', 'message.content'],
  ];

  it.each(bad)('refuses %s with INVALID_ARGUMENT naming the field, writing nothing', async (_what, msg, orch, field) => {
    const router = newRouter({ maxMessageBytes: 1024 });
    for (const call of [
      () => router.routeMessage(msg as RoutableMessage, orch as string),
      () => router.queueMessageForOffline(msg as RoutableMessage, orch as string),
    ]) {
      const error = await call().then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error).toMatchObject({ name: 'InvalidArgumentError', code: 'INVALID_ARGUMENT', statusCode: 400, metadata: { field } });
      expect((error as Error).message).toContain(field);
    }
    expect(await keysOf(keyOf(router, ''))).toEqual([]);
  });

  it('accepts content of exactly maxMessageBytes UTF-8 bytes and createdAt as a Date, an ISO string or a number', async () => {
    const router = newRouter({ maxMessageBytes: 1024 });
    const orch = uid('orch');
    const at = '2026-11-27T10:00:00.000Z';
    for (const createdAt of [new Date(at), at, Date.parse(at)]) {
      const result = await router.routeMessage({ ...message(uid('m')), content: 'é'.repeat(512), createdAt }, orch);
      expect(result.status).toBe('offline');
    }
    const items = (await plainClient().lrange(keyOf(router, `routing:queue:${orch}`), 0, -1)).map((i) => JSON.parse(i));
    expect(items.map((i) => i.createdAt)).toEqual([at, at, at]);
  });

  const badSessions: Array<[string, unknown, string]> = [
    ['a null session', null, 'session'],
    ['a session without id', { daemonId: 'd', status: 'active' }, 'session.id'],
    ['a session without daemonId', { id: 's', status: 'active' }, 'session.daemonId'],
    ['an unknown status', { id: 's', daemonId: 'd', status: 'sleeping' }, 'session.status'],
    ['an invalid createdAt', { id: 's', daemonId: 'd', status: 'active', createdAt: 'never' }, 'session.createdAt'],
  ];

  it.each(badSessions)('refuses to register %s, writing nothing', async (_what, session, field) => {
    const router = newRouter();
    await expect(router.registerSession('o', session as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', metadata: { field } });
    expect(await keysOf(keyOf(router, ''))).toEqual([]);
  });

  it('refuses a bad orchestrator id on every method', async () => {
    const router = newRouter();
    const calls: Array<() => Promise<unknown>> = [
      () => router.getOrchestratorSession(''),
      () => router.isOrchestratorOnline(''),
      () => router.unregisterSession(''),
      () => router.updateSessionActivity(''),
      () => router.processQueuedMessages(''),
      () => router.registerSession('', { id: 's', daemonId: 'd' }),
    ];
    for (const call of calls) await expect(call()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', metadata: { field: 'orchestratorId' } });
  });
});

describe('configuration', () => {
  const invalid: Array<[string, unknown, string]> = [
    ['a negative queue size', { offlineQueue: { maxQueueSize: -1 } }, 'offlineQueue.maxQueueSize'],
    ['maxAttempts below 1', { retry: { maxAttempts: 0 } }, 'retry.maxAttempts'],
    ['a non-numeric delay', { retry: { initialDelayMs: '100' } }, 'retry.initialDelayMs'],
    ['a NaN timeout', { deliveryTimeoutMs: NaN }, 'deliveryTimeoutMs'],
    ['an unparsable URL', { redis: 'http://not redis' }, 'redis'],
    ['a redis port that is not a number', { redis: { port: '6379' } }, 'redis.port'],
    ['a non-object config', 42, 'config'],
  ];

  it.each(invalid)('throws at construction for %s, naming the field', (_what, config, field) => {
    expect(() => createOrchestratorRouter(config as never)).toThrow(InvalidArgumentError);
    try {
      createOrchestratorRouter(config as never);
    } catch (error) {
      expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', metadata: { field } });
      expect((error as Error).message).toContain(field);
    }
  });

  it('refuses a prisma that has no message.findMany, naming it', () => {
    for (const prisma of [{}, { message: { findUnique: async () => null } }, 'postgres://db']) {
      expect(() => createOrchestratorRouter({ redis: 'memory://validation', prisma: prisma as never })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', metadata: { field: 'prisma' }, message: expect.stringContaining('prisma.message.findMany') }),
      );
    }
  });
});

describe('error classes', () => {
  it('carry the deployed names, codes, status codes, metadata and messages', () => {
    const routing = new OrchestratorRoutingError('went wrong', { a: 1 });
    expect(routing).toBeInstanceOf(Error);
    expect(routing).toMatchObject({ name: 'OrchestratorRoutingError', code: 'ORCHESTRATOR_ROUTING_ERROR', statusCode: 500, metadata: { a: 1 }, message: 'went wrong' });
    expect(new OrchestratorOfflineError('orch_1')).toMatchObject({
      name: 'OrchestratorOfflineError', code: 'ORCHESTRATOR_OFFLINE', statusCode: 503, metadata: { orchestratorId: 'orch_1' }, message: 'Orchestrator is offline: orch_1',
    });
    expect(new NoActiveSessionError('orch_1')).toMatchObject({
      name: 'NoActiveSessionError', code: 'NO_ACTIVE_SESSION', statusCode: 404, metadata: { orchestratorId: 'orch_1' }, message: 'No active session found for orchestrator: orch_1',
    });
    expect(redisUrl()).toMatch(/^redis:\/\//);
  });

  it('maps every code the binding raises to one of the package\'s classes', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { errorCodes } = require('../lib/native').loadBinding();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { CLASS_OF_CODE } = require('../lib/errors');
    const codes: string[] = errorCodes();
    expect(codes).toContain('INVALID_ARGUMENT');
    expect(Object.keys(CLASS_OF_CODE).sort()).toEqual([...codes].sort());
  });
});
