// What Redis Sentinel adds to the contract (which contract.test.ts runs through Sentinel too):
// where the router connects when it is given Sentinels, or a client configured with them; what it
// refuses rather than guess; and how it follows a failover without the caller doing anything.
import Redis, { RedisOptions } from 'ioredis';
import { readFileSync } from 'node:fs';
import { createSentinel } from 'redis';
import { InvalidArgumentError, OrchestratorRouterConfig } from '..';
import { closeAll, keyOf, message, newRouter, redisSentinel, uid, waitFor } from './support/helpers';
import { createAclUser, DURABILITY_COMMANDS, routerAclRules, SENTINEL_COMMANDS } from './support/acl';
import { RedisSentinelProcess, startRedisSentinel } from './support/redis-sentinel';

jest.setTimeout(60_000);
afterEach(closeAll);

/** A plain client on one data node, closed after the test. */
const nodes: Redis[] = [];
function node(port: number, password?: string): Redis {
  const client = new Redis({ port, host: '127.0.0.1', password, maxRetriesPerRequest: 1, lazyConnect: false });
  client.on('error', () => undefined);
  nodes.push(client);
  return client;
}
// (A client whose node was killed has ended already: disconnecting it again leaves a timer behind.)
afterEach(() => nodes.splice(0).forEach((c) => c.status !== 'end' && c.disconnect()));

/** The primary's port as the shared deployment's Sentinels name it. */
async function sharedPrimaryPort(): Promise<number> {
  const { sentinels, name } = redisSentinel();
  const sentinel = node(Number(new URL(sentinels[0]).port));
  const [, port] = (await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as [string, string];
  return Number(port);
}

describe('Redis Sentinel: where the router connects', () => {
  it('routes to the primary the Sentinels name, given { sentinels, name }', async () => {
    const keyPrefix = uid('sent') + ':';
    const r = newRouter({ redis: redisSentinel(), keyPrefix });
    const orch = uid('orch');
    await r.registerSession(orch, { id: 's1', daemonId: `${orch}_d` });
    expect(await r.routeMessage(message('m1'), orch)).toEqual({ success: true, status: 'delivered', sessionId: 's1', attempts: 1 });
    const primary = node(await sharedPrimaryPort());
    const [event] = await primary.lrange(`${keyPrefix}daemon:events:${orch}_d`, 0, -1);
    expect(JSON.parse(event).payload.messageId).toBe('m1');
  });

  it('reads an ioredis client configured with sentinels as its Sentinels, not as its default localhost:6379', async () => {
    const { sentinels, name } = redisSentinel();
    const client = new Redis({
      sentinels: sentinels.map((url) => ({ host: new URL(url).hostname, port: Number(new URL(url).port) })),
      name,
      keyPrefix: uid('ior') + ':',
      lazyConnect: true,
    });
    try {
      const r = newRouter({ redis: client });
      const orch = uid('orch');
      expect(await r.routeMessage(message('m1'), orch)).toEqual({ success: true, status: 'offline', attempts: 1 });
      const primary = node(await sharedPrimaryPort());
      expect(await primary.llen(keyOf(r, `routing:queue:${orch}`))).toBe(1);
    } finally {
      client.disconnect();
    }
  });

  it('reads an ioredis client with tls but without enableTLSForSentinelMode as ioredis does: the primary in plain TCP', async () => {
    const { sentinels, name } = redisSentinel();
    // ioredis takes `tls` for the primary only with enableTLSForSentinelMode; without it, it connects
    // in plain TCP (the shared deployment has no TLS: a TLS handshake would fail).
    const client = new Redis({
      sentinels: sentinels.map((url) => ({ host: new URL(url).hostname, port: Number(new URL(url).port) })),
      name,
      tls: {},
      lazyConnect: true,
    });
    try {
      const keyPrefix = uid('iortls') + ':';
      const r = newRouter({ redis: client, keyPrefix, retry: { maxAttempts: 1 } });
      const orch = uid('orch');
      expect(await r.routeMessage(message('m1'), orch)).toEqual({ success: true, status: 'offline', attempts: 1 });
      expect(await node(await sharedPrimaryPort()).llen(`${keyPrefix}routing:queue:${orch}`)).toBe(1);
    } finally {
      client.disconnect();
    }
  });

  const sentinelClient = (options: object) => new Redis({ sentinels: [{ host: '127.0.0.1', port: 26379 }], name: 'mymaster', lazyConnect: true, ...options });
  it.each<[string, () => OrchestratorRouterConfig['redis'], string, RegExp]>([
    ['an ioredis client that reads from replicas', () => sentinelClient({ role: 'slave' }), 'redis.options.role', /must be 'master'/],
    ['an ioredis client with a NAT map', () => sentinelClient({ natMap: { '10.0.0.1:6379': { host: '127.0.0.1', port: 6379 } } }), 'redis.options.natMap', /not supported/],
    ['an ioredis client with an unusable sentinelTLS.ca', () => sentinelClient({ sentinelTLS: { ca: 'not a certificate' } }), 'redis.options.sentinelTLS.ca', /PEM/],
    ['a node-redis Sentinel client', () => createSentinel({ name: 'mymaster', sentinelRootNodes: [{ host: '127.0.0.1', port: 26379 }] }) as never, 'redis', /node-redis Sentinel client/],
    ['Sentinels without a name', () => ({ sentinels: ['redis://127.0.0.1:26379'] }) as never, 'redis.name', /must name the primary/],
    ['an empty list of Sentinels', () => ({ sentinels: [], name: 'mymaster' }), 'redis.sentinels', /at least one/],
    ['Sentinels reached some over TLS, some not', () => ({ sentinels: ['rediss://127.0.0.1:26379', 'redis://127.0.0.1:26380'], name: 'mymaster' }), 'redis.sentinels[1]', /must be rediss:\/\/ like redis.sentinels\[0\]/],
    ['sentinelTls with redis:// Sentinels', () => ({ sentinels: ['redis://127.0.0.1:26379'], name: 'mymaster', sentinelTls: true }), 'redis.sentinelTls', /read only with rediss:\/\/ Sentinel URLs/],
    ['Sentinels that log in with different credentials', () => ({ sentinels: ['redis://:a@127.0.0.1:26379', 'redis://:b@127.0.0.1:26380'], name: 'mymaster' }), 'redis', /sentinels\[1\] logs in with other credentials than sentinels\[0\]/],
    ['Sentinels with a url beside them', () => ({ sentinels: ['redis://127.0.0.1:26379'], name: 'mymaster', url: 'redis://127.0.0.1:6379' }) as never, 'redis.url', /Sentinels name the primary/],
    ['Sentinels with a tls.ca that is not PEM', () => ({ sentinels: ['redis://127.0.0.1:26379'], name: 'mymaster', tls: { ca: 'garbage' } }), 'redis.tls.ca', /PEM/],
    ['a Sentinel that is a number', () => ({ sentinels: [26379], name: 'mymaster' }) as never, 'redis.sentinels[0]', /must be a redis:\/\/ or rediss:\/\/ URL/],
  ])('refuses %s at construction, naming the field', (_what, redis, field, problem) => {
    const option = redis();
    let thrown: unknown;
    try {
      newRouter({ redis: option });
    } catch (error) {
      thrown = error;
    } finally {
      if (option instanceof Redis) option.disconnect();
    }
    expect(thrown).toBeInstanceOf(InvalidArgumentError);
    expect((thrown as InvalidArgumentError).message).toMatch(problem);
    expect((thrown as InvalidArgumentError).metadata).toEqual({ field });
  });

  it('fails a call with an error naming the primary when no Sentinel knows it', async () => {
    const r = newRouter({ redis: { ...redisSentinel(), name: 'nobody' }, retry: { maxAttempts: 1 } });
    const result = await r.routeMessage(message('m1'), uid('orch'));
    expect(result).toMatchObject({ success: false, status: 'failed', attempts: 1 });
    expect(result.error).toMatch(/no Sentinel named a reachable primary for "nobody"/);
    await expect(r.registerSession(uid('orch'), { id: 's', daemonId: 'd' })).rejects.toThrow(/no Sentinel named a reachable primary for "nobody"/);
  });

  it('runs as the least-privilege ACL user with +role (and +wait for durability), and names ROLE without it', async () => {
    // ACL users are not replicated: made on the shared primary, where this test (no failover) stays.
    const primaryUrl = `redis://127.0.0.1:${await sharedPrimaryPort()}`;
    const prefix = uid('aclsent');
    const user = uid('u');
    const login = async (extra: readonly string[]) => {
      const url = new URL(await createAclUser(primaryUrl, user, 'pw', [routerAclRules(`${prefix}:`), ...extra.map((c) => `+${c}`)].join(' ')));
      return { ...redisSentinel(), username: url.username, password: 'pw' };
    };
    const r = newRouter({ redis: await login([...SENTINEL_COMMANDS, ...DURABILITY_COMMANDS]), keyPrefix: `${prefix}:`, durability: { replicas: 1 } });
    const orch = uid('orch');
    await r.registerSession(orch, { id: 's1', daemonId: `${orch}_d` });
    expect(await r.routeMessage(message('m1'), orch)).toEqual({ success: true, status: 'delivered', sessionId: 's1', attempts: 1, durable: true });
    expect(await r.acknowledge(orch, ['m1'])).toBe(0);

    const noRole = newRouter({ redis: await login(DURABILITY_COMMANDS), keyPrefix: `${prefix}:`, retry: { maxAttempts: 1 } });
    await expect(noRole.registerSession(orch, { id: 's2', daemonId: 'd2' })).rejects.toThrow(
      /refused the router: .*no permissions to run the 'role' command \(the router's Redis user needs the README's least-privilege ACL\)$/,
    );
    const noWait = newRouter({ redis: await login(SENTINEL_COMMANDS), keyPrefix: `${prefix}:`, durability: { replicas: 1 }, retry: { maxAttempts: 1 } });
    await expect(noWait.registerSession(orch, { id: 's3', daemonId: 'd3' })).rejects.toThrow(/WAIT, which confirms each write for durability, was refused: .*no permissions to run the 'wait' command/);
  });

  describe('with a password on the data nodes', () => {
    let deployment: RedisSentinelProcess;
    beforeAll(async () => {
      deployment = await startRedisSentinel({ password: 'node-secret' });
    });
    afterAll(() => deployment.stop());

    it('logs in to the primary with redis.password, and names the missing password without it', async () => {
      const target = { sentinels: deployment.sentinelUrls, name: deployment.name };
      const r = newRouter({ redis: { ...target, password: 'node-secret' } });
      const orch = uid('orch');
      await r.registerSession(orch, { id: 's1', daemonId: 'd1' });
      expect(await r.routeMessage(message('m1'), orch)).toMatchObject({ success: true, status: 'delivered' });
      const anonymous = newRouter({ redis: target, retry: { maxAttempts: 1 } });
      await expect(anonymous.registerSession(orch, { id: 's1', daemonId: 'd1' })).rejects.toThrow(/password/);
    });
  });
});

describe('Redis Sentinel: failover', () => {
  let deployment: RedisSentinelProcess;
  beforeEach(async () => {
    deployment = await startRedisSentinel();
  });
  afterEach(async () => {
    await closeAll();
    await deployment.stop();
  });

  /** A router on the test's deployment whose retries outlast a failover (about 3 s here). */
  function router(config: OrchestratorRouterConfig = {}) {
    return newRouter({
      redis: { sentinels: deployment.sentinelUrls, name: deployment.name },
      deliveryTimeoutMs: 1000,
      retry: { maxAttempts: 60, initialDelayMs: 100, backoffMultiplier: 1 },
      ...config,
    });
  }

  /** Message ids in a daemon's event list on `port`, oldest first. */
  async function onNode(port: number, keyPrefix: string, daemon: string): Promise<string[]> {
    return (await node(port).lrange(`${keyPrefix}daemon:events:${daemon}`, 0, -1)).reverse().map((e) => JSON.parse(e).payload.messageId);
  }

  /** How many times the router asked the Sentinels for the primary and found it on `port` (each lookup checks the node with ROLE). */
  async function lookups(port: number): Promise<number> {
    return Number(/^cmdstat_role:calls=(\d+)/m.exec(await node(port).info('commandstats'))?.[1] ?? 0);
  }

  it('lets go of its connections to the Sentinels when it closes', async () => {
    const sentinels = deployment.sentinelPorts.map((port) => node(port));
    // The router's connections are the ones whose last command asked for the primaries.
    const connected = async () =>
      (await Promise.all(sentinels.map(async (s) => ((await s.client('LIST')) as string).split('\n').filter((l) => l.includes(' cmd=sentinel|masters ')).length))).reduce((a, b) => a + b);
    const r = router();
    await r.routeMessage(message('m1'), uid('orch'));
    expect(await connected()).toBeGreaterThan(0);
    await r.close();
    await waitFor(async () => (await connected()) === 0, async () => `the router's connections to the Sentinels to close (${await connected()} left)`);
  });

  it('follows the promoted replica when the primary is killed: routes and registrations carry on by themselves', async () => {
    const keyPrefix = uid('fo') + ':';
    const r = router({ keyPrefix });
    await r.registerSession('orch', { id: 's1', daemonId: 'd1' });
    for (const id of ['a1', 'a2']) expect(await r.routeMessage(message(id), 'orch')).toMatchObject({ success: true, status: 'delivered' });
    const killed = await deployment.killPrimary();
    // Routed while the primary is gone: each call waits through the failover in its retries.
    const during = r.routeMessage(message('b1'), 'orch');
    const promoted = await deployment.waitForFailover(killed, 30_000);
    expect(await during).toMatchObject({ success: true, status: 'delivered' });
    // Found once, the promoted primary is kept: later calls do not ask the Sentinels again. (A
    // connection the failover left untouched may look once on its first use, and a request that
    // times out on a loaded machine looks again, as it should: a few, never one per call.)
    const found = await lookups(promoted);
    expect(found).toBeGreaterThan(0);
    const after = Array.from({ length: 20 }, (_, i) => `c${i}`);
    for (const id of after) expect(await r.routeMessage(message(id), 'orch')).toMatchObject({ success: true, status: 'delivered', attempts: 1 });
    for (const n of [2, 3, 4, 5, 6]) await r.registerSession(`orch${n}`, { id: `s${n}`, daemonId: `d${n}` });
    expect(await lookups(promoted) - found).toBeLessThan(5);
    expect(await r.getOrchestratorSession('orch2')).toMatchObject({ sessionId: 's2' });
    // What resolved before the kill had replicated (the routes were a few ms apart); everything is on the promoted node.
    expect(await onNode(promoted, keyPrefix, 'd1')).toEqual(['a1', 'a2', 'b1', ...after]);
  });

  it('leaves a primary demoted by a manual failover (SENTINEL FAILOVER) for the one promoted', async () => {
    const keyPrefix = uid('mf') + ':';
    const r = router({ keyPrefix });
    await r.registerSession('orch', { id: 's1', daemonId: 'd1' });
    expect(await r.routeMessage(message('a1'), 'orch')).toMatchObject({ success: true, status: 'delivered' });
    const before = await deployment.primaryPort();
    const sentinel = node(deployment.sentinelPorts[0]);
    await waitFor(async () => (await sentinel.call('SENTINEL', 'FAILOVER', deployment.name).catch(() => null)) === 'OK', 'a Sentinel to accept SENTINEL FAILOVER', 20_000);
    const promoted = await deployment.waitForFailover(before, 30_000);
    // The old primary lives on as a replica: writes sent to it would be refused (READONLY).
    await waitFor(async () => ((await node(before).role()) as unknown[])[0] === 'slave', `port ${before} to become a replica`, 20_000);
    expect(await r.routeMessage(message('b1'), 'orch')).toMatchObject({ success: true, status: 'delivered' });
    // As above: kept once found (a few lookups at most, never one per call).
    const found = await lookups(promoted);
    const after = Array.from({ length: 20 }, (_, i) => `b${i + 2}`);
    for (const id of after) expect(await r.routeMessage(message(id), 'orch')).toMatchObject({ success: true, status: 'delivered', attempts: 1 });
    expect(await lookups(promoted) - found).toBeLessThan(5);
    await r.unregisterSession('orch');
    expect(await r.routeMessage(message('c1'), 'orch')).toMatchObject({ success: true, status: 'offline' });
    expect(await onNode(promoted, keyPrefix, 'd1')).toEqual(['a1', 'b1', ...after]);
    expect(await node(promoted).llen(`${keyPrefix}routing:queue:orch`)).toBe(1);
  });
});

describe('Redis Sentinel over TLS', () => {
  // One TLS-only deployment: Sentinels and data nodes take TLS connections only, signed by a CA
  // made for it. The failover test kills its primary, so it comes last.
  let deployment: RedisSentinelProcess;
  /** The CA of the data nodes' certificates, of the Sentinels', and one that signed nothing. */
  let ca: string;
  let sentinelCa: string;
  let otherCa: string;
  beforeAll(async () => {
    deployment = await startRedisSentinel({ tls: true });
    ca = readFileSync(deployment.caPath!, 'utf8');
    sentinelCa = readFileSync(deployment.sentinelCaPath!, 'utf8');
    otherCa = readFileSync(deployment.otherCaPath!, 'utf8');
  });
  afterAll(async () => {
    await closeAll();
    await deployment.stop();
  });

  /** A TLS client of one data node, closed after the test. */
  function tlsNode(port: number): Redis {
    const client = new Redis({ port, host: '127.0.0.1', tls: { ca }, maxRetriesPerRequest: 1 });
    client.on('error', () => undefined);
    nodes.push(client);
    return client;
  }
  const ioredis = (options: RedisOptions) =>
    new Redis({ sentinels: deployment.sentinelPorts.map((port) => ({ host: '127.0.0.1', port })), name: deployment.name, lazyConnect: true, ...options });

  it.each<[string, () => OrchestratorRouterConfig['redis']]>([
    ['rediss:// Sentinels with sentinelTls.ca, and tls.ca for the primary', () => ({ sentinels: deployment.sentinelUrls, name: deployment.name, sentinelTls: { ca: sentinelCa }, tls: { ca } })],
    ['{ host, port } Sentinels with sentinelTls.ca as a Buffer, and tls.ca as an array', () => ({
      sentinels: deployment.sentinelPorts.map((port) => ({ host: '127.0.0.1', port })),
      name: deployment.name,
      sentinelTls: { ca: Buffer.from(sentinelCa) },
      tls: { ca: [otherCa, ca] },
    })],
    ['an ioredis client with sentinelTLS, tls and enableTLSForSentinelMode', () => ioredis({ sentinelTLS: { ca: sentinelCa }, tls: { ca }, enableTLSForSentinelMode: true })],
  ])('routes over TLS, with durability, given %s', async (_what, redis) => {
    const option = redis();
    try {
      const keyPrefix = uid('tls') + ':';
      const r = newRouter({ redis: option, keyPrefix, durability: { replicas: 1 } });
      const orch = uid('orch');
      await r.registerSession(orch, { id: 's1', daemonId: `${orch}_d` });
      expect(await r.routeMessage(message('m1'), orch)).toEqual({ success: true, status: 'delivered', sessionId: 's1', attempts: 1, durable: true });
      const [event] = await tlsNode(await deployment.primaryPort()).lrange(`${keyPrefix}daemon:events:${orch}_d`, 0, -1);
      expect(JSON.parse(event).payload.messageId).toBe('m1');
    } finally {
      if (option instanceof Redis) option.disconnect();
    }
  });

  it.each<[string, () => OrchestratorRouterConfig['redis']]>([
    // Each with the other side's CA: a router that gave each CA to the wrong side would be refused.
    ['the Sentinels', () => ({ sentinels: deployment.sentinelUrls, name: deployment.name, sentinelTls: { ca }, tls: { ca } })],
    ['the primary', () => ({ sentinels: deployment.sentinelUrls, name: deployment.name, sentinelTls: { ca: sentinelCa }, tls: { ca: sentinelCa } })],
    ['the Sentinels (a CA that signed nothing)', () => ({ sentinels: deployment.sentinelUrls, name: deployment.name, sentinelTls: { ca: otherCa }, tls: { ca } })],
  ])('names a certificate of %s that the CA given does not sign', async (_what, redis) => {
    const r = newRouter({ redis: redis(), retry: { maxAttempts: 1 } });
    const result = await r.routeMessage(message('m1'), uid('orch'));
    expect(result).toMatchObject({ success: false, status: 'failed', attempts: 1 });
    expect(result.error).toMatch(/no Sentinel named a reachable primary for "mymaster": .*TLS certificate verification failed/);
  });

  it('follows a failover over TLS', async () => {
    const keyPrefix = uid('tlsfo') + ':';
    const r = newRouter({
      redis: { sentinels: deployment.sentinelUrls, name: deployment.name, sentinelTls: { ca: sentinelCa }, tls: { ca } },
      keyPrefix,
      deliveryTimeoutMs: 1000,
      retry: { maxAttempts: 60, initialDelayMs: 100, backoffMultiplier: 1 },
    });
    await r.registerSession('orch', { id: 's1', daemonId: 'd1' });
    expect(await r.routeMessage(message('a1'), 'orch')).toMatchObject({ success: true, status: 'delivered' });
    const killed = await deployment.killPrimary();
    const during = r.routeMessage(message('b1'), 'orch');
    const promoted = await deployment.waitForFailover(killed, 30_000);
    expect(await during).toMatchObject({ success: true, status: 'delivered' });
    expect(await r.routeMessage(message('b2'), 'orch')).toMatchObject({ success: true, status: 'delivered', attempts: 1 });
    const events = await tlsNode(promoted).lrange(`${keyPrefix}daemon:events:d1`, 0, -1);
    expect(events.reverse().map((e) => JSON.parse(e).payload.messageId)).toEqual(['a1', 'b1', 'b2']);
  });
});
