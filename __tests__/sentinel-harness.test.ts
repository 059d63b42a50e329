// The Redis Sentinel test harness itself: a private deployment comes up with its Sentinels agreeing
// on the primary, the replica and each other; killing the primary makes them promote the replica;
// a restarted node rejoins as a replica and can be promoted in turn; a password holds throughout.
// (No router here: it checks the ground the Sentinel tests of the router stand on.) Each test that
// kills or restarts nodes has a deployment of its own, never the shared one.
import Redis, { RedisOptions } from 'ioredis';
import { readFileSync } from 'node:fs';
import { RedisSentinelProcess, startRedisSentinel } from './support/redis-sentinel';

let deployment: RedisSentinelProcess | undefined;
const clients: Redis[] = [];

afterEach(async () => {
  // A client that already ended (its node was killed) has nothing to close, and disconnect() would
  // then leave a 2 s timer behind, waiting for a close event that came before.
  for (const client of clients.splice(0)) if (client.status !== 'end') client.disconnect();
  await deployment?.stop();
  deployment = undefined;
});

/** A private deployment, stopped after the test. */
async function startDeployment(...options: Parameters<typeof startRedisSentinel>): Promise<RedisSentinelProcess> {
  deployment = await startRedisSentinel(...options);
  return deployment;
}

/**
 * A client of the one node on `port` (data node or Sentinel), disconnected after the test. It
 * neither retries nor runs a ready check: nodes die on purpose, and some refuse it without a password.
 */
function nodeClient(port: number, password?: string, options: RedisOptions = {}): Redis {
  const client = new Redis(port, '127.0.0.1', { password, retryStrategy: () => null, maxRetriesPerRequest: 0, enableReadyCheck: false, ...options });
  client.on('error', () => undefined);
  clients.push(client);
  return client;
}

/** A client that asks the Sentinels at `urls` where the primary (or a replica) of `name` is, disconnected after the test. */
function sentinelClient(urls: string[], name: string, options: RedisOptions = {}): Redis {
  const sentinels = urls.map((url) => ({ host: new URL(url).hostname, port: Number(new URL(url).port) }));
  const client = new Redis({ sentinels, name, maxRetriesPerRequest: 3, ...options });
  client.on('error', () => undefined);
  clients.push(client);
  return client;
}

/** A Sentinel reply of alternating names and values as an object. */
function fields(flat: unknown): Record<string, string> {
  const list = flat as string[];
  return Object.fromEntries(Array.from({ length: list.length / 2 }, (_, i) => [list[2 * i], list[2 * i + 1]]));
}

/** Polls `check` until it resolves truthy (a rejection counts as not yet), or fails after `timeoutMs` saying `what`. */
async function eventually<T>(check: () => Promise<T>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** What each Sentinel of `d` says: the primary's port, the replicas' ports and flags, the other Sentinels' ports. */
async function sentinelViews(d: RedisSentinelProcess): Promise<Array<{ primary: number; replicas: string[]; sentinels: number[] }>> {
  return Promise.all(
    d.sentinelPorts.map(async (port) => {
      const sentinel = nodeClient(port);
      const address = (await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', d.name)) as string[];
      const replicas = ((await sentinel.call('SENTINEL', 'REPLICAS', d.name)) as unknown[]).map(fields);
      const peers = ((await sentinel.call('SENTINEL', 'SENTINELS', d.name)) as unknown[]).map(fields);
      return {
        primary: Number(address[1]),
        replicas: replicas.map((r) => `${r.port} ${r.flags} link ${r['master-link-status']}`).sort(),
        sentinels: peers.map((s) => Number(s.port)).sort((a, b) => a - b),
      };
    }),
  );
}

it('comes up with every Sentinel naming the primary, and a write there is read from the replica', async () => {
  const d = await startDeployment();
  expect(d.name).toBe('mymaster');
  expect(d.password).toBeUndefined();
  expect(d.sentinelPorts).toHaveLength(3);
  expect(d.dataPorts).toHaveLength(2);
  expect(new Set([...d.sentinelPorts, ...d.dataPorts]).size).toBe(5);
  expect(d.sentinelUrls).toEqual(d.sentinelPorts.map((p) => `redis://127.0.0.1:${p}`));
  const [primaryPort, replicaPort] = d.dataPorts;
  expect(await d.primaryPort()).toBe(primaryPort);

  // Each Sentinel names the primary and knows the replica (healthy) and the other two Sentinels.
  const views = await sentinelViews(d);
  views.forEach((view, i) => {
    expect(view).toEqual({
      primary: primaryPort,
      replicas: [`${replicaPort} slave link ok`],
      sentinels: d.sentinelPorts.filter((_, j) => j !== i).sort((a, b) => a - b),
    });
  });

  const primary = nodeClient(primaryPort);
  const replica = nodeClient(replicaPort);
  expect(await primary.call('ROLE')).toEqual(['master', expect.any(Number), [['127.0.0.1', String(replicaPort), expect.any(String)]]]);
  expect(await replica.call('ROLE')).toEqual(['slave', '127.0.0.1', primaryPort, 'connected', expect.any(Number)]);
  await primary.set('harness:direct', 'written on the primary');
  expect(await primary.wait(1, 5000)).toBe(1);
  expect(await replica.get('harness:direct')).toBe('written on the primary');
  await expect(replica.set('harness:direct', 'refused')).rejects.toThrow(/READONLY/);

  // Clients that ask the Sentinels find the same nodes.
  const viaSentinels = sentinelClient(d.sentinelUrls, d.name);
  await viaSentinels.set('harness:via-sentinels', 'found through the Sentinels');
  expect(await viaSentinels.wait(1, 5000)).toBe(1);
  expect(await sentinelClient(d.sentinelUrls, d.name, { role: 'slave' }).get('harness:via-sentinels')).toBe('found through the Sentinels');

  // Nothing was killed: waitForFailover says so, and what it saw.
  await expect(d.waitForFailover(primaryPort, 500)).rejects.toThrow(
    new RegExp(`timed out after 500 ms waiting for the Sentinels to fail over from port ${primaryPort} to a new primary \\(sentinel \\d+: names ${primaryPort}`),
  );
});

it('promotes the replica when the primary is killed, and the new primary takes writes', async () => {
  const d = await startDeployment();
  const [first, second] = d.dataPorts;
  const viaSentinels = sentinelClient(d.sentinelUrls, d.name);
  await viaSentinels.set('harness:key', 'before the failover');
  expect(await viaSentinels.wait(1, 5000)).toBe(1);

  expect(await d.killPrimary()).toBe(first);
  await expect(nodeClient(first).ping()).rejects.toThrow();
  // The Sentinels have not noticed yet (that takes 2 s): there is no primary to kill.
  await expect(d.killPrimary()).rejects.toThrow(`the Sentinels name port ${first} as primary, but it is not running`);

  expect(await d.waitForFailover(first, 30_000)).toBe(second);
  expect(await d.primaryPort()).toBe(second);
  for (const view of await sentinelViews(d)) expect(view.primary).toBe(second);
  const promoted = nodeClient(second);
  expect(await promoted.call('ROLE')).toEqual(['master', expect.any(Number), []]);
  expect(await promoted.get('harness:key')).toBe('before the failover');
  await promoted.set('harness:key', 'on the new primary');

  // A client that asks the Sentinels follows the failover to the new primary.
  expect(await eventually(() => viaSentinels.get('harness:key'), 'the Sentinel client to read from the new primary')).toBe('on the new primary');
  await viaSentinels.set('harness:key', 'through the Sentinels');
  expect(await promoted.get('harness:key')).toBe('through the Sentinels');
}, 60_000);

it('restarts a killed node as a replica of the new primary, which can then be promoted in turn', async () => {
  const d = await startDeployment();
  const [first, second] = d.dataPorts;
  await expect(d.restartNode(first)).rejects.toThrow(`the data node on port ${first} is still running`);
  await expect(d.restartNode(d.sentinelPorts[0])).rejects.toThrow(`port ${d.sentinelPorts[0]} is not a data node of this deployment`);

  expect(await d.killPrimary()).toBe(first);
  await expect(d.restartNode(first)).rejects.toThrow(`the Sentinels still name port ${first} as primary`);
  expect(await d.waitForFailover(first)).toBe(second);
  await d.restartNode(first);

  // Back as a replica of the new primary, synced, and every Sentinel counts on it.
  expect(await nodeClient(first).call('ROLE')).toEqual(['slave', '127.0.0.1', second, 'connected', expect.any(Number)]);
  for (const view of await sentinelViews(d)) expect(view).toMatchObject({ primary: second, replicas: [`${first} slave link ok`] });
  await nodeClient(second).set('harness:key', 'written after the first failover');
  expect(await nodeClient(second).wait(1, 5000)).toBe(1);
  expect(await nodeClient(first).get('harness:key')).toBe('written after the first failover');

  // A second failover, back to the first node; then the second node rejoins in turn.
  expect(await d.killPrimary()).toBe(second);
  expect(await d.waitForFailover(second)).toBe(first);
  const promoted = nodeClient(first);
  expect(await promoted.get('harness:key')).toBe('written after the first failover');
  await promoted.set('harness:key', 'written after the second failover');
  await d.restartNode(second);
  expect(await nodeClient(second).call('ROLE')).toEqual(['slave', '127.0.0.1', first, 'connected', expect.any(Number)]);
  expect(await promoted.wait(1, 5000)).toBe(1);
  expect(await nodeClient(second).get('harness:key')).toBe('written after the second failover');
}, 90_000);

it('with a password, the data nodes refuse clients without it, and the Sentinels still fail over', async () => {
  const password = 'harness-secret';
  const d = await startDeployment({ password, name: 'harness-primary' });
  expect(d.name).toBe('harness-primary');
  expect(d.password).toBe(password);
  for (const port of d.dataPorts) {
    await expect(nodeClient(port).ping()).rejects.toThrow(/NOAUTH/);
    await expect(nodeClient(port).call('AUTH', 'not-the-password')).rejects.toThrow(/WRONGPASS/);
    expect(await nodeClient(port, password).ping()).toBe('PONG');
  }
  // The Sentinels themselves take no password.
  expect(await nodeClient(d.sentinelPorts[0]).ping()).toBe('PONG');
  // Through the Sentinels: refused without the password, served with it.
  await expect(sentinelClient(d.sentinelUrls, d.name, { enableReadyCheck: false }).set('harness:key', 'refused')).rejects.toThrow(/NOAUTH/);
  const viaSentinels = sentinelClient(d.sentinelUrls, d.name, { password });
  await viaSentinels.set('harness:key', 'before the failover');
  expect(await viaSentinels.wait(1, 5000)).toBe(1);

  const killed = await d.killPrimary();
  const promoted = await d.waitForFailover(killed);
  expect(promoted).toBe(d.dataPorts[1]);
  await expect(nodeClient(promoted).set('harness:key', 'refused')).rejects.toThrow(/NOAUTH/);
  expect(await nodeClient(promoted, password).get('harness:key')).toBe('before the failover');
  expect(await eventually(() => viaSentinels.set('harness:key', 'after the failover'), 'the Sentinel client to write to the new primary')).toBe('OK');
  // The restarted node syncs with the new primary (masterauth) and refuses clients without the password too.
  await d.restartNode(killed);
  expect(await nodeClient(killed, password).call('ROLE')).toEqual(['slave', '127.0.0.1', promoted, 'connected', expect.any(Number)]);
  await expect(nodeClient(killed).get('harness:key')).rejects.toThrow(/NOAUTH/);
}, 60_000);

it('with tls, every node and Sentinel speaks TLS only, and the Sentinels fail over over TLS', async () => {
  const d = await startDeployment({ tls: true });
  expect(d.sentinelUrls).toEqual(d.sentinelPorts.map((p) => `rediss://127.0.0.1:${p}`));
  const tls = { ca: readFileSync(d.caPath!, 'utf8') };
  const sentinelTLS = { ca: readFileSync(d.sentinelCaPath!, 'utf8') };
  const [first, second] = d.dataPorts;
  // Over TLS, each shows a certificate of its own CA (the data nodes' or the Sentinels'): the
  // other CA, or one that signed nothing, is refused.
  for (const [ports, own, other] of [[d.dataPorts, tls, sentinelTLS], [d.sentinelPorts, sentinelTLS, tls]] as const) {
    for (const port of ports) {
      for (const wrong of [other, { ca: readFileSync(d.otherCaPath!, 'utf8') }]) {
        await expect(nodeClient(port, undefined, { tls: wrong }).ping()).rejects.toThrow();
      }
      expect(await nodeClient(port, undefined, { tls: own }).ping()).toBe('PONG');
    }
  }
  // No plain port on the data nodes (a Sentinel has no CONFIG command).
  for (const port of d.dataPorts) expect(await nodeClient(port, undefined, { tls }).config('GET', 'port')).toEqual(['port', '0']);
  // The replica synced over TLS, and the Sentinels reach both data nodes over TLS.
  expect(await nodeClient(second, undefined, { tls }).call('ROLE')).toEqual(['slave', '127.0.0.1', first, 'connected', expect.any(Number)]);
  const viaSentinels = sentinelClient(d.sentinelUrls, d.name, { sentinelTLS, tls, enableTLSForSentinelMode: true });
  await viaSentinels.set('harness:key', 'over TLS');
  expect(await viaSentinels.wait(1, 5000)).toBe(1);

  expect(await d.killPrimary()).toBe(first);
  expect(await d.waitForFailover(first)).toBe(second);
  expect(await nodeClient(second, undefined, { tls }).get('harness:key')).toBe('over TLS');
  await d.restartNode(first);
  expect(await nodeClient(first, undefined, { tls }).call('ROLE')).toEqual(['slave', '127.0.0.1', second, 'connected', expect.any(Number)]);
}, 60_000);

it('the shared deployment of the global setup serves writes through its Sentinels', async () => {
  // Read from the environment: helpers.ts (redisSentinel) loads the binding, which this file avoids.
  const urls = (process.env.REDIS_SENTINEL_URLS ?? '').split(',').filter(Boolean);
  const name = process.env.REDIS_SENTINEL_NAME ?? '';
  expect(urls.length).toBeGreaterThanOrEqual(3);
  expect(name).not.toBe('');
  // Every Sentinel names the same primary.
  const named = await Promise.all(
    urls.map(async (url) => ((await nodeClient(Number(new URL(url).port)).call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as string[])[1]),
  );
  expect(new Set(named).size).toBe(1);
  const key = `harness:shared:${process.pid}`;
  const primary = sentinelClient(urls, name);
  await primary.set(key, 'ok', 'EX', 60);
  expect(await primary.wait(1, 5000)).toBe(1);
  expect(await sentinelClient(urls, name, { role: 'slave' }).get(key)).toBe('ok');
});
