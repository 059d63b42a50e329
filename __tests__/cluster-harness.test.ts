// The Redis Cluster test harness itself: a private cluster comes up with every slot served, and
// moveSlot migrates a slot's keys to another master while a cluster client keeps writing to them.
// (No router here: it checks the ground the cluster tests of the router stand on.)
import Redis, { Cluster } from 'ioredis';
import { RedisClusterProcess, startRedisCluster } from './support/redis-cluster';

let cluster: RedisClusterProcess;
let client: Cluster;

beforeAll(async () => {
  cluster = await startRedisCluster(3);
  client = new Cluster(cluster.ports.map((port) => ({ host: '127.0.0.1', port })), { redisOptions: { maxRetriesPerRequest: 1 } });
  client.on('error', () => undefined);
}, 90_000);

afterAll(async () => {
  await client?.quit().catch(() => client.disconnect());
  await cluster?.stop();
});

it('serves every slot from one of its masters, each with its own id', async () => {
  expect(cluster.ports).toHaveLength(3);
  expect(cluster.urls).toEqual(cluster.ports.map((p) => `redis://127.0.0.1:${p}`));
  const ids = await cluster.nodeIds();
  expect(new Set(ids).size).toBe(3);
  for (const id of ids) expect(id).toMatch(/^[0-9a-f]{40}$/);
  // Every node's view: all 16384 slots assigned and served, by the three masters.
  for (const port of cluster.ports) {
    const node = new Redis(port, '127.0.0.1');
    try {
      const info = (await node.cluster('INFO')) as string;
      expect(info).toMatch(/^cluster_state:ok\r?$/m);
      expect(info).toMatch(/^cluster_slots_assigned:16384\r?$/m);
      expect(info).toMatch(/^cluster_slots_ok:16384\r?$/m);
      expect(info).toMatch(/^cluster_known_nodes:3\r?$/m);
      expect(info).toMatch(/^cluster_size:3\r?$/m);
    } finally {
      node.disconnect();
    }
  }
  // ownerOf agrees, slot by slot, with the slot ranges CLUSTER NODES lists for each master, and
  // each master serves some.
  const listed = new Array<number>(16384).fill(-1);
  const first = new Redis(cluster.ports[0], '127.0.0.1');
  try {
    for (const line of ((await first.cluster('NODES')) as string).trim().split('\n')) {
      const [, address, , , , , , , ...ranges] = line.split(' ');
      const owner = cluster.ports.indexOf(Number(address.split('@')[0].split(':')[1]));
      for (const range of ranges.filter((r) => !r.startsWith('['))) {
        const [from, to = from] = range.split('-').map(Number);
        for (let slot = from; slot <= to; slot++) listed[slot] = owner;
      }
    }
  } finally {
    first.disconnect();
  }
  const owners = await Promise.all(Array.from({ length: 16384 }, (_, slot) => cluster.ownerOf(slot)));
  expect(owners).toEqual(listed);
  expect(new Set(owners)).toEqual(new Set([0, 1, 2]));
  expect(await cluster.slotOf('{orch_1}:x')).toBe(await cluster.slotOf('orch_1'));
});

it('moves a slot with its keys to another master while a client keeps incrementing one of them', async () => {
  const tag = `{harness_${process.pid}}`;
  const keys = Array.from({ length: 50 }, (_, i) => `${tag}:key_${i}`);
  const counter = keys[17];
  for (const [i, key] of keys.entries()) await client.set(key, key === counter ? '0' : `value_${i}`);

  const slot = await cluster.slotOf(keys[0]);
  const from = await cluster.ownerOf(slot);
  const to = (from + 1) % cluster.ports.length;
  await expect(cluster.moveSlot(slot, from)).rejects.toThrow(`slot ${slot} is already on master ${from}`);

  // INCRs run throughout the move; each one that resolved must be counted exactly once, whether
  // it reached the source, the target after an ASK, or the target after a MOVED.
  let succeeded = 0;
  const errors: unknown[] = [];
  let running = true;
  const writer = (async () => {
    while (running) {
      try {
        await client.incr(counter);
        succeeded += 1;
      } catch (error) {
        errors.push(error);
      }
    }
  })();
  let batches = 0;
  try {
    const moved = await cluster.moveSlot(slot, to, {
      batch: 10,
      // Let a few INCRs through between batches, so some run while the slot is half migrated.
      between: async () => {
        batches += 1;
        const target = succeeded + 3;
        const deadline = Date.now() + 20_000;
        while (succeeded < target && errors.length === 0) {
          if (Date.now() > deadline) throw new Error(`only ${3 - (target - succeeded)} of 3 INCRs within 20 s after batch ${batches}`);
          await new Promise((r) => setTimeout(r, 2));
        }
      },
    });
    expect(moved).toBe(50);
  } finally {
    running = false;
    await writer;
  }

  expect(errors).toEqual([]);
  expect(batches).toBe(5);
  expect(succeeded).toBeGreaterThanOrEqual(15);
  expect(await cluster.ownerOf(slot)).toBe(to);
  const values = await Promise.all(keys.map((key) => client.get(key)));
  expect(values).toEqual(keys.map((key, i) => (key === counter ? String(succeeded) : `value_${i}`)));
  // Every key now lives on the new owner: the old one holds none of the slot.
  const [source, target] = [from, to].map((i) => new Redis(cluster.ports[i], '127.0.0.1'));
  try {
    expect(await source.cluster('COUNTKEYSINSLOT', slot)).toBe(0);
    expect(await target.cluster('COUNTKEYSINSLOT', slot)).toBe(50);
  } finally {
    source.disconnect();
    target.disconnect();
  }
});

it('the shared cluster of the global setup serves every slot', async () => {
  // Read from the environment: helpers.ts (redisClusterUrls) loads the binding, which this file avoids.
  const urls = (process.env.REDIS_CLUSTER_URLS ?? '').split(',').filter(Boolean);
  expect(urls.length).toBeGreaterThanOrEqual(3);
  const shared = new Cluster(urls.map((url) => ({ host: new URL(url).hostname, port: Number(new URL(url).port) })), { redisOptions: { maxRetriesPerRequest: 1 } });
  shared.on('error', () => undefined);
  try {
    const key = `{harness_shared_${process.pid}}:probe`;
    await shared.set(key, 'ok', 'EX', 60);
    expect(await shared.get(key)).toBe('ok');
    for (const node of shared.nodes('master')) {
      const info = (await node.cluster('INFO')) as string;
      expect(info).toMatch(/^cluster_state:ok\r?$/m);
      expect(info).toMatch(/^cluster_slots_ok:16384\r?$/m);
    }
    expect(shared.nodes('master')).toHaveLength(urls.length);
  } finally {
    shared.disconnect();
  }
});
