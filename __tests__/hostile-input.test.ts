// Hostile identifiers and odd input: each is either routed and read back by a plain Redis client
// byte for byte in the deployed JSON shapes, or refused with INVALID_ARGUMENT with nothing written.
import { createOrchestratorRouter } from '..';
import { closeAll, keyOf, newRouter, plainClient, uid } from './support/helpers';

afterEach(closeAll);

const MAX = 256;
const at = '2026-11-27T10:00:00.000Z';
const base = () => ({ id: uid('m'), channelId: 'chan', authorId: 'user', content: 'hello', createdAt: new Date(at) });

type Case = [string, Record<string, unknown> | null | undefined, unknown];
const hostileIds = [':', 'a:b:c', '{orch}', '}{', '*', 'with space', 'line\nbreak', 'tab\there', 'ünïcødé 🚀 中文', 'x'.repeat(10 * 1024), '\u0000nul', '"quoted"', '\\back\\slash'];

const accepted: Case[] = [
  ...hostileIds.map((id): Case => [`message id ${JSON.stringify(id.slice(0, 20))}`, { ...base(), id }, 'orch']),
  ...hostileIds.map((id): Case => [`orchestrator id ${JSON.stringify(id.slice(0, 20))}`, base(), id]),
  ...hostileIds.map((id): Case => [`channel id ${JSON.stringify(id.slice(0, 20))}`, { ...base(), channelId: id }, 'orch']),
  ['content with NUL bytes', { ...base(), content: 'a\u0000b\u0000' }, 'orch'],
  ['content with every control character', { ...base(), content: Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join('') + '\u007f' }, 'orch'],
  ['empty content', { ...base(), content: '' }, 'orch'],
  ['content of exactly maxMessageBytes', { ...base(), content: 'é'.repeat(MAX / 2) }, 'orch'],
  ['content with astral characters', { ...base(), content: '😀'.repeat(10) }, 'orch'],
  ['createdAt as an ISO string', { ...base(), createdAt: at }, 'orch'],
  ['createdAt as a number', { ...base(), createdAt: Date.parse(at) }, 'orch'],
  ['createdAt absent', { ...base(), createdAt: undefined }, 'orch'],
  ['createdAt null', { ...base(), createdAt: null }, 'orch'],
  ['authorId null', { ...base(), authorId: null }, 'orch'],
  ['authorId absent', { ...base(), authorId: undefined }, 'orch'],
  ['a __proto__ key', { ...JSON.parse('{"__proto__": {"id": "evil"}}'), ...base() }, 'orch'],
  ['a constructor key', { ...base(), constructor: 'x' }, 'orch'],
  ['extra fields of every type', { ...base(), n: 1, b: true, o: { deep: [1, { x: null }] }, a: [1, 'two'], f: () => 1, s: Symbol('s'), big: BigInt(7), u: undefined, d: new Date(), nan: NaN }, 'orch'],
];

const refused: Array<[string, unknown, unknown, string]> = [
  ['an empty message id', { ...base(), id: '' }, 'orch', 'message.id'],
  ['an empty orchestrator id', base(), '', 'orchestratorId'],
  ['an empty channel id', { ...base(), channelId: '' }, 'orch', 'message.channelId'],
  ['a message id with an unpaired surrogate', { ...base(), id: 'a\ud800' }, 'orch', 'message.id'],
  ['an orchestrator id with an unpaired surrogate', base(), 'o\udc00', 'orchestratorId'],
  ['content with an unpaired surrogate', { ...base(), content: 'x\ud83d' }, 'orch', 'message.content'],
  ['content one byte over maxMessageBytes', { ...base(), content: 'é'.repeat(MAX / 2) + 'x' }, 'orch', 'message.content'],
  ['an invalid createdAt', { ...base(), createdAt: 'not a date' }, 'orch', 'message.createdAt'],
  ['a createdAt out of Date range', { ...base(), createdAt: 8.65e15 }, 'orch', 'message.createdAt'],
  ['a BigInt createdAt', { ...base(), createdAt: BigInt(1) }, 'orch', 'message.createdAt'],
  ['a null message', null, 'orch', 'message'],
  ['an undefined message', undefined, 'orch', 'message'],
  ['a null id', { ...base(), id: null }, 'orch', 'message.id'],
  ['a null channel id', { ...base(), channelId: null }, 'orch', 'message.channelId'],
  ['null content', { ...base(), content: null }, 'orch', 'message.content'],
  ['a null orchestrator id', base(), null, 'orchestratorId'],
  ['an undefined orchestrator id', base(), undefined, 'orchestratorId'],
  ['an object as id', { ...base(), id: { toString: () => 'x' } }, 'orch', 'message.id'],
  ['a number as content', { ...base(), content: 42 }, 'orch', 'message.content'],
];

/** What the deployed service's JSON.stringify would have written for this message. */
function expectedItem(m: Record<string, unknown>, queuedAt: string, storedCreatedAt: string): string {
  // Without createdAt the router uses the time it was routed (checked separately).
  const createdAt = m.createdAt === undefined || m.createdAt === null ? storedCreatedAt : new Date(m.createdAt as string).toISOString();
  return JSON.stringify({ messageId: m.id, channelId: m.channelId, authorId: m.authorId ?? undefined, content: m.content, createdAt, queuedAt });
}

describe('hostile identifiers and odd input', () => {
  it.each(accepted)('routes %s and reads back the deployed JSON byte for byte', async (_what, msg, orch) => {
    const router = newRouter({ maxMessageBytes: MAX });
    const redis = plainClient();
    const orchestratorId = orch as string;
    const m = msg as Record<string, unknown>;

    // Offline: the queue item.
    const routing = Date.now();
    expect((await router.routeMessage(m as never, orchestratorId)).status).toBe('offline');
    const routed = Date.now();
    const [item] = await redis.lrangeBuffer(keyOf(router, `routing:queue:${orchestratorId}`), 0, -1);
    const { queuedAt, createdAt } = JSON.parse(item.toString('utf8'));
    expect(item.toString('utf8')).toBe(expectedItem(m, queuedAt, createdAt));
    if (m.createdAt === undefined || m.createdAt === null) {
      // No createdAt: the router uses the time it routed the message.
      expect(Date.parse(createdAt)).toBeGreaterThanOrEqual(routing);
      expect(Date.parse(createdAt)).toBeLessThanOrEqual(routed);
    }

    // Online: the drained daemon event.
    const daemon = `daemon ${orchestratorId.slice(0, 50)}`;
    await router.registerSession(orchestratorId, { id: `s ${orchestratorId.slice(0, 50)}`, daemonId: daemon, status: 'active' });
    const [raw] = await redis.lrangeBuffer(keyOf(router, `daemon:events:${daemon}`), 0, -1);
    const event = JSON.parse(raw.toString('utf8'));
    const queued = JSON.parse(item.toString('utf8'));
    expect(raw.toString('utf8')).toBe(
      JSON.stringify({
        id: event.id,
        type: 'message.received',
        daemonId: daemon,
        orchestratorId,
        payload: { messageId: m.id, channelId: m.channelId, content: m.content, authorId: m.authorId ?? undefined, timestamp: queued.createdAt },
        timestamp: event.timestamp,
        requiresAck: true,
        priority: 2,
      }),
    );
    const session = await redis.get(keyOf(router, `routing:session:${orchestratorId}`));
    expect(JSON.parse(session!).daemonId).toBe(daemon);
  });

  it.each(refused)('refuses %s with INVALID_ARGUMENT and writes nothing', async (_what, msg, orch, field) => {
    const router = newRouter({ maxMessageBytes: MAX });
    await expect(router.routeMessage(msg as never, orch as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', metadata: { field } });
    await expect(router.queueMessageForOffline(msg as never, orch as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', metadata: { field } });
    expect(await plainClient().keys(`${keyOf(router, '')}*`)).toEqual([]);
  });

  it('refuses hostile sessions and configuration without writing, and survives them all', async () => {
    const router = newRouter();
    for (const session of [null, undefined, {}, { id: 'a\ud800', daemonId: 'd' }, { id: 's', daemonId: '' }, { id: 's', daemonId: 'd', status: null }, { id: 's', daemonId: 'd', createdAt: 'x' }]) {
      await expect(router.registerSession('orch', session as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    await expect(router.acknowledge('orch', [null] as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(router.acknowledge('orch', 'm1' as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await plainClient().keys(`${keyOf(router, '')}*`)).toEqual([]);
    const refusedConfigs: Array<[unknown, string]> = [[null, 'config'], ['x', 'config'], [{ keyPrefix: 5 }, 'keyPrefix'], [{ redis: 42 }, 'redis']];
    for (const [config, field] of refusedConfigs) {
      expect(() => createOrchestratorRouter(config as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', metadata: expect.objectContaining({ field }) }));
    }
    // Null sections are absent sections: the defaults apply.
    await expect(createOrchestratorRouter({ retry: null, offlineQueue: null } as never).close()).resolves.toBeUndefined();
  });
});
