// What a Redis Cluster adds to the contract (which contract.test.ts runs on a cluster too): the
// key layout, a delivery cut in half between the orchestrator's slot and the daemon's, a slot moved
// while messages are routed, and the options. These run on a private cluster of three masters,
// since they pause and reshard its nodes.
import { Cluster, Redis } from 'ioredis';
import { readFileSync } from 'node:fs';
import net from 'node:net';
// ioredis's own slot function (CRC16 of the hash tag), for picking keys by master without a round trip each.
const keySlot: (key: string) => number = require('cluster-key-slot');
import path from 'node:path';
import { OrchestratorRouter, OrchestratorRouterConfig } from '..';
import { closeAll, message, newRouter, record, redisClusterUrls, uid, waitFor } from './support/helpers';
import { startRouterProcess } from './support/processes';
import { RedisClusterProcess, startRedisCluster } from './support/redis-cluster';
import { freePort } from './support/redis-server';

let cluster: RedisClusterProcess;
let admin: Cluster;
const nodes: Redis[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster(3);
  admin = new Cluster(cluster.ports.map((port) => ({ host: '127.0.0.1', port })));
  for (const port of cluster.ports) nodes.push(new Redis(port, '127.0.0.1'));
}, 90_000);

afterAll(async () => {
  admin?.disconnect();
  nodes.forEach((node) => node.disconnect());
  await cluster?.stop();
});

afterEach(closeAll);

function router(config: OrchestratorRouterConfig = {}): { r: OrchestratorRouter; prefix: string } {
  const prefix = `${uid('c')}:`;
  return { r: newRouter({ redis: { cluster: cluster.urls }, keyPrefix: prefix, drainIntervalMs: 25, ...config }), prefix };
}

/** An orchestrator id and a daemon id whose keys live on different masters (the delivery crosses). */
async function apart(prefix: string): Promise<{ orch: string; daemon: string; daemonNode: Redis }> {
  const orch = uid('orch');
  const orchOwner = await cluster.ownerOf(await cluster.slotOf(`{${orch}}`));
  for (let i = 0; ; i++) {
    const daemon = `daemon_${i}`;
    const owner = await cluster.ownerOf(await cluster.slotOf(`${prefix}daemon:events:${daemon}`));
    if (owner !== orchOwner) return { orch, daemon, daemonNode: nodes[owner] };
  }
}

const ids = (events: Array<{ payload: { messageId: string } }>): string[] => events.map((e) => e.payload.messageId);

describe('the router on a Redis Cluster', () => {
  it('keeps every key of an orchestrator in its slot (hash tag) and the daemon list under its deployed name', async () => {
    const { r, prefix } = router();
    const [online, offline] = [uid('orch'), uid('orch')];
    await r.registerSession(online, { id: 's1', daemonId: 'd1', status: 'active' });
    expect((await r.routeMessage(message('m1'), online)).status).toBe('delivered');
    expect((await r.routeMessage(message('q1'), offline)).status).toBe('offline');
    expect(await admin.exists(`${prefix}routing:session:{${online}}`, `${prefix}routing:delivered:{${online}}:m1`)).toBe(2);
    expect(await admin.llen(`${prefix}routing:queue:{${offline}}`)).toBe(1);
    expect(JSON.parse((await admin.lrange(`${prefix}daemon:events:d1`, 0, -1))[0]).payload.messageId).toBe('m1');
    // The delivery went through the outbox, which the router emptied right away.
    expect(await admin.exists(`${prefix}routing:outbox:{${online}}:d1`)).toBe(0);
    // The offline queue is in the index routers claim from.
    expect(await admin.zscore(`${prefix}routing:pending`, offline)).not.toBeNull();
    expect(await admin.zscore(`${prefix}routing:pending`, online)).toBeNull();
  });

  it('refuses ids with braces, which would change the hash tag, on every call that names one', async () => {
    const { r } = router();
    const refused = /^Invalid (orchestratorId|session\.daemonId|daemonId): .*cannot be used on a Redis Cluster/;
    await expect(r.registerSession('orch_{x}', { id: 's', daemonId: 'd', status: 'active' })).rejects.toThrow(refused);
    await expect(r.registerSession(uid('orch'), { id: 's', daemonId: 'd}', status: 'active' })).rejects.toThrow(refused);
    await expect(r.routeMessage(message('m1'), 'orch_{x}')).rejects.toThrow(refused);
    await expect(r.getQueueDepth('orch_{x}')).rejects.toThrow(refused);
    await expect(r.updateSessionActivity('orch}')).rejects.toThrow(refused);
    await expect(r.readDaemonEvents('d{1}')).rejects.toThrow(refused);
    await expect(r.acknowledgeDaemonEvents('d{1}', ['evt_1'])).rejects.toThrow(refused);
  });

  it('refuses a key prefix with a brace', () => {
    expect(() => newRouter({ redis: { cluster: cluster.urls }, keyPrefix: 'app{1}:' })).toThrow(/keyPrefix/);
  });

  it('cut after the step, before the event reached the daemon list: the sweep moves it, once', async () => {
    // The router waits a quarter of deliveryTimeoutMs for the move; the whole route must fit in
    // the timeout on a loaded machine too (300 ms failed one full run in seven).
    const { r, prefix } = router({ deliveryTimeoutMs: 1000, retry: { maxAttempts: 1 } });
    const { orch, daemon, daemonNode } = await apart(prefix);
    await r.registerSession(orch, { id: 's1', daemonId: daemon, status: 'active' });
    expect((await r.routeMessage(message('m0'), orch)).status).toBe('delivered');
    // Writes to the daemon's master wait: the step commits on the orchestrator's master, and the
    // move into the daemon list does not get through.
    await daemonNode.call('CLIENT', 'PAUSE', '10000', 'WRITE');
    try {
      expect((await r.routeMessage(message('m1'), orch)).status).toBe('delivered');
      expect((await admin.lrange(`${prefix}routing:outbox:{${orch}}:${daemon}`, 0, -1)).map((e) => JSON.parse(e.slice(e.indexOf(' ') + 1)).payload.messageId)).toEqual(['m1']);
      // The router's connection dies with the move it sent: the move never runs.
      await daemonNode.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
      expect(await daemonNode.llen(`${prefix}daemon:events:${daemon}`)).toBe(1);
    } finally {
      await daemonNode.call('CLIENT', 'UNPAUSE');
    }
    await waitFor(async () => (await admin.exists(`${prefix}routing:outbox:{${orch}}:${daemon}`)) === 0, 'the sweep to move the outbox', 10_000);
    expect(ids(await r.readDaemonEvents(daemon))).toEqual(['m0', 'm1']);
  });

  it('cut after the event reached the daemon list, before it left the outbox: moving it again pushes nothing', async () => {
    const { r, prefix } = router({ deliveryTimeoutMs: 1000, retry: { maxAttempts: 1 } });
    const { orch, daemon, daemonNode } = await apart(prefix);
    await r.registerSession(orch, { id: 's1', daemonId: daemon, status: 'active' });
    await daemonNode.call('CLIENT', 'PAUSE', '10000', 'WRITE');
    try {
      expect((await r.routeMessage(message('m1'), orch)).status).toBe('delivered');
    } finally {
      // The move the router gave up on is still queued at the server: it runs now, after the
      // router stopped waiting, so the router never removes the entry from the outbox.
      await daemonNode.call('CLIENT', 'UNPAUSE');
    }
    await waitFor(async () => (await daemonNode.llen(`${prefix}daemon:events:${daemon}`)) === 1, 'the late move to land');
    await waitFor(async () => (await admin.exists(`${prefix}routing:outbox:{${orch}}:${daemon}`)) === 0, 'the sweep to clear the outbox', 10_000);
    expect((await r.routeMessage(message('m2'), orch)).status).toBe('delivered');
    expect(ids(await r.readDaemonEvents(daemon))).toEqual(['m1', 'm2']);
  });

  it('a router killed while it delivers: everything it committed reaches the daemons once, in order (the sweep finishes its moves)', async () => {
    /** Outbox keys with entries under `prefix`, on every master. */
    async function leftOutboxes(prefix: string): Promise<string[]> {
      const found: string[] = [];
      for (const node of nodes) {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}routing:outbox:*`, 'COUNT', 1000);
          cursor = next;
          found.push(...keys);
        } while (cursor !== '0');
      }
      return found;
    }
    let cutBetween = 0;
    for (let attempt = 0; attempt < 12 && cutBetween === 0; attempt++) {
      const { r, prefix } = router();
      const orchestrators = [uid('o'), uid('o'), uid('o'), uid('o')];
      for (const orch of orchestrators) await r.registerSession(orch, { id: `s_${orch}`, daemonId: `daemon_${orch}`, status: 'active' });
      const dying = startRouterProcess({ role: 'load', redis: { cluster: cluster.urls }, keyPrefix: prefix, name: 'dying', orchestrators, count: 1_000_000 });
      await dying.waitForLine(() => dying.lines.length >= 100 + 37 * attempt);
      dying.kill('SIGKILL');
      await dying.exited;
      // Killed between a step and the move that follows it, the delivery waits in an outbox.
      if ((await leftOutboxes(prefix)).length > 0) cutBetween += 1;
      await waitFor(async () => (await leftOutboxes(prefix)).length === 0, 'the sweep to move what the dead router left', 10_000);
      const reported = dying.lines.filter((line) => typeof line.id === 'string') as Array<{ id: string; orchestrator: string; status: string }>;
      expect(reported.every((line) => line.status === 'delivered')).toBe(true);
      for (const orch of orchestrators) {
        const got = ids(await r.readDaemonEvents(`daemon_${orch}`, { max: 1_000_000 }));
        const sent = reported.filter((line) => line.orchestrator === orch).map((line) => line.id);
        // Each once, in order; beyond what was reported, at most the one message in flight.
        expect(got.slice(0, sent.length)).toEqual(sent);
        expect(got.length - sent.length).toBeLessThanOrEqual(1);
        expect(new Set(got).size).toBe(got.length);
      }
      await closeAll();
    }
    // The kill landed between a step and its move at least once (about one kill in two does).
    expect(cutBetween).toBeGreaterThan(0);
  }, 90_000);

  it('moves a busy orchestrator\'s slot to another master while messages are routed and drained: nothing lost, nothing doubled, in order', async () => {
    // A queue big enough for the whole run: a daemon that falls behind on a slow machine must
    // make messages wait, not drop the oldest at the default cap (100), which this test is not about.
    const { r } = router({ daemonQueue: { maxEvents: 40 }, offlineQueue: { maxQueueSize: 100_000 }, deliveryTimeoutMs: 2000 });
    const dropped = record(r, 'message.dropped');
    const orch = uid('orch');
    const daemon = uid('daemon');
    await r.registerSession(orch, { id: 's1', daemonId: daemon, status: 'active' });
    const slot = await cluster.slotOf(`{${orch}}`);
    const from = await cluster.ownerOf(slot);

    const sent: string[] = [];
    const statuses = new Map<string, number>();
    let routing = true;
    const producer = (async () => {
      for (let i = 0; routing || i < 200; i++) {
        const batch = Array.from({ length: 5 }, (_, j) => `m${String(i * 5 + j).padStart(5, '0')}`);
        sent.push(...batch);
        const results = await r.routeMessages(batch.map((id) => ({ message: message(id), orchestratorId: orch })));
        for (const result of results) statuses.set(result.status, (statuses.get(result.status) ?? 0) + 1);
      }
    })();
    // The daemon: takes what its list holds, as it arrives.
    const received: string[] = [];
    let consuming = true;
    let consumerFailure: unknown;
    const consumer = (async () => {
      try {
        while (consuming) {
          const events = await r.readDaemonEvents(daemon, { max: 25 });
          received.push(...ids(events));
          if (events.length > 0) await r.acknowledgeDaemonEvents(daemon, events.map((e) => e.id));
          else await new Promise((resolve) => setTimeout(resolve, 5));
        }
      } catch (error) {
        consumerFailure = error;
      }
    })();

    try {
      await waitFor(() => sent.length >= 300, 'traffic before the move');
      // Every route and drain step of the orchestrator touches a key that is not there yet (a
      // delivered marker, say), so the cluster answers TRYAGAIN until the slot has moved: they wait
      // out the move, however long it takes.
      const moved = await cluster.moveSlot(slot, (from + 1) % 3, { batch: 3 });
      routing = false;
      await producer;
      expect(await cluster.ownerOf(slot)).toBe((from + 1) % 3);
      expect(moved).toBeGreaterThan(0);
      await waitFor(
        () => received.length >= sent.length || dropped.length > 0 || consumerFailure !== undefined,
        () => `all ${sent.length} messages to reach the daemon (${received.length} arrived; ${JSON.stringify([...statuses])}; ${r.getMetrics().drained} drained)`,
        30_000,
      );
    } finally {
      routing = false;
      consuming = false;
      await Promise.allSettled([producer, consumer]);
    }

    expect(consumerFailure).toBeUndefined();
    expect(dropped).toEqual([]);
    expect(statuses.get('failed')).toBeUndefined();
    expect(received).toEqual(sent);
    expect(await r.getQueueDepth(orch)).toBe(0);
  }, 90_000);

  it('sweeps in parts: files every orchestrator whose index copy was lost, leaves a claimed one alone, goes past a master that takes no writes, and never holds up the drains', async () => {
    const { r, prefix } = router({ daemonQueue: { maxEvents: 1 } });
    const pending = `${prefix}routing:pending`;
    const ranges = await admin.cluster('SLOTS');
    const owner = (key: string) => cluster.ports.indexOf(ranges.find(([from, to]) => keySlot(key) >= from && keySlot(key) <= to)![2][1]);
    // An outbox whose daemon list lives on a master that will take no writes for a while: not the
    // one with the index (and the sweep lock, in its slot), which the sweep writes to.
    const busy = [owner(pending)];
    let daemon = '';
    for (let i = 0; !daemon; i++) if (!busy.includes(owner(`${prefix}daemon:events:stuck_${i}`))) daemon = `stuck_${i}`;
    const paused = owner(`${prefix}daemon:events:${daemon}`);
    const daemonNode = nodes[paused];
    const away = (label: string, count: number) => {
      const names: string[] = [];
      for (let i = 0; names.length < count; i++) if (owner(`{${label}_${i}}`) !== paused) names.push(`${label}_${i}`);
      return names;
    };
    // 3,000 orchestrators due a look that the index lacks (as if each copy had been cut off), and
    // one that a router has claimed (the index holds its lease; its own due time has passed), all
    // on the masters that take writes.
    const lost = away('lost', 3000);
    await Promise.all(lost.map((orch) => admin.zadd(`${prefix}routing:due:{${orch}}`, Date.now() + 3_600_000, orch)));
    const [claimed] = away('claimed', 1);
    const lease = Date.now() + 60_000;
    await admin.zadd(`${prefix}routing:due:{${claimed}}`, Date.now() - 1000, claimed);
    await admin.zadd(pending, lease, claimed);
    const [stuck] = away('stuck', 1);
    await admin.lpush(`${prefix}routing:outbox:{${stuck}}:${daemon}`, '1 {"id":"evt_1","payload":{"messageId":"stuck"}}');
    const [orch] = away('orch', 1);
    const [listener] = away(`${prefix}daemon:events:d`, 1).map((key) => key.slice(`${prefix}daemon:events:`.length));
    // The master takes no writes until the test has seen the drain and the sweep get past it
    // (the pause outlasts both waits; it is lifted explicitly).
    await daemonNode.call('CLIENT', 'PAUSE', '90000', 'WRITE');
    try {
      await r.registerSession(orch, { id: 's1', daemonId: listener, status: 'active' });
      expect((await r.routeMessage(message('m1'), orch)).status).toBe('delivered');
      expect((await r.routeMessage(message('m2'), orch)).status).toBe('pending');
      // The daemon takes m1: the drain ticker delivers m2 while the sweep works.
      const [first] = await r.readDaemonEvents(listener);
      await r.acknowledgeDaemonEvents(listener, [first.id]);
      await waitFor(async () => ids(await r.readDaemonEvents(listener)).includes('m2'), 'the drain to deliver m2 while a master takes no writes', 20_000);
      const filed = async () => (await admin.zmscore(pending, ...lost)).filter((score) => score !== null).length;
      await waitFor(async () => (await filed()) === lost.length, async () => `the sweep to file every lost orchestrator while a master takes no writes (${await filed()} of ${lost.length} filed)`, 30_000);
      // The outbox whose daemon list is on the paused master is still there: the sweep went past it.
      expect(await admin.exists(`${prefix}routing:outbox:{${stuck}}:${daemon}`)).toBe(1);
    } finally {
      await daemonNode.call('CLIENT', 'UNPAUSE');
    }
    // Once that master takes writes again, the outbox goes too; the claim was never undone.
    await waitFor(async () => (await admin.exists(`${prefix}routing:outbox:{${stuck}}:${daemon}`)) === 0, 'the stuck outbox to be moved', 15_000);
    expect(Number(await admin.zscore(pending, claimed))).toBe(lease);
  }, 90_000);

  it('hands the sweep to another router when the one holding its lock is gone', async () => {
    const { r: first, prefix } = router({ deliveryTimeoutMs: 200 });
    const lock = `${prefix}routing:pending-sweep:{${prefix}routing:pending}`;
    // The first router, alone, takes the lock on its first tick.
    await first.getQueueDepth(uid('orch'));
    const holder = await waitFor(() => admin.get(lock), 'the first router to take the sweep lock');
    const second = newRouter({ redis: { cluster: cluster.urls }, keyPrefix: prefix, drainIntervalMs: 25, deliveryTimeoutMs: 200 });
    await second.getQueueDepth(uid('orch'));
    await first.close();
    // An orchestrator whose index copy was lost: only a sweep files it, and only the second router
    // is left, once the first one's lock has expired (3 intervals + 2 × deliveryTimeoutMs, 3.4 s).
    await admin.zadd(`${prefix}routing:due:{lost}`, Date.now() + 3_600_000, 'lost');
    await waitFor(async () => (await admin.zscore(`${prefix}routing:pending`, 'lost')) !== null, 'the second router to sweep', 10_000);
    const taker = await admin.get(lock);
    expect(taker).not.toBeNull();
    expect(taker).not.toBe(holder);
  }, 20_000);

  it('a route whose reply was lost after it ran, and which the cluster client therefore sent again, is queued once', async () => {
    // A proxy in front of the first master, which announces it, drops the connection instead of
    // passing on a reply that says 'queued' (once): the script ran, its reply is lost.
    let armed = false;
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      const server = net.connect(cluster.ports[0], '127.0.0.1');
      sockets.add(client).add(server);
      client.on('data', (data) => server.write(data));
      server.on('data', (data) => {
        if (armed && data.includes('queued')) {
          armed = false;
          client.destroy();
          server.destroy();
          return;
        }
        client.write(data);
      });
      for (const [a, b] of [[client, server], [server, client]]) {
        a.on('error', () => b.destroy());
        a.on('close', () => b.destroy());
      }
    });
    const proxyPort = await freePort();
    await new Promise<void>((resolve) => proxy.listen(proxyPort, '127.0.0.1', resolve));
    /** Whether every master's slot map names `port`. */
    const announced = async (port: number) => {
      const maps = await Promise.all(nodes.map((node) => node.cluster('SLOTS')));
      return maps.every((slots) => slots.some((range) => range[2][1] === port));
    };
    // An orchestrator whose slot the proxied master serves (found before it announces the proxy).
    const tag = uid('o');
    let orch = '';
    for (let i = 0; !orch; i++) if ((await cluster.ownerOf(await cluster.slotOf(`{${tag}_${i}}`))) === 0) orch = `${tag}_${i}`;
    await nodes[0].config('SET', 'cluster-announce-port', String(proxyPort));
    try {
      await waitFor(() => announced(proxyPort), 'the proxy port to be announced');
      const { r } = router({ offlineQueue: { maxQueueSize: 2 }, retry: { maxAttempts: 1 }, deliveryTimeoutMs: 2000 });
      const dropped = record(r, 'message.dropped');
      expect((await r.routeMessage(message('x'), orch)).status).toBe('offline');
      armed = true;
      expect((await r.routeMessage(message('m1'), orch)).status).toBe('offline');
      expect(armed).toBe(false);
      expect(await r.getQueueDepth(orch)).toBe(2);
      expect(dropped).toEqual([]);
    } finally {
      await nodes[0].config('SET', 'cluster-announce-port', '0');
      await waitFor(async () => announced(cluster.ports[0]), 'the master to announce its own port again');
      // The routers' connections through the proxy would keep it open.
      sockets.forEach((socket) => socket.destroy());
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it('copies due times into the index by version: a copy that arrives after a newer one is ignored, a removal included', async () => {
    // file_due.lua as the router runs it, in the index's slot (copies from two routers, and the
    // sweep's, can arrive in any order; the steps that made them were ordered in the orchestrator's
    // slot).
    const lua = (file: string) => readFileSync(path.join(__dirname, '..', 'src', 'store', 'lua', file), 'utf8');
    const source = [lua('lib/acl.lua'), lua('file_due.lua')].join('\n');
    const pending = `${uid('p')}:routing:pending`;
    const versions = `${pending}-versions:{${pending}}`;
    const base = Date.now() * 1000;
    const file = (due: string, version: number, sweep = '', orch = 'o1') => admin.eval(source, 2, pending, versions, orch, due, String(base + version), sweep);
    expect(await file('1000', 5)).toBe(1);
    expect(await file('', 4)).toBe(0); // an older removal, late
    expect(await admin.zscore(pending, 'o1')).toBe('1000');
    expect(await file('3000', 3)).toBe(0); // an older, later due time, late
    expect(await admin.zscore(pending, 'o1')).toBe('1000');
    expect(await file('2000', 6, 'sweep')).toBe(0); // the sweep leaves a filed one (maybe a claim) alone
    expect(await admin.zscore(pending, 'o1')).toBe('1000');
    expect(await file('', 7)).toBe(1);
    expect(await admin.zscore(pending, 'o1')).toBeNull();
    expect(await file('1500', 6, 'sweep')).toBe(0); // older than the removal: not put back
    expect(await file('1500', 5)).toBe(0);
    expect(await admin.zscore(pending, 'o1')).toBeNull();
    expect(await file('2000', 8, 'sweep')).toBe(1); // missing, newer: the sweep adds it
    expect(await admin.zscore(pending, 'o1')).toBe('2000');
    // Versions more than ten minutes (in µs) older than a copy's are forgotten.
    expect(await file('', 9, '', 'o2')).toBe(1);
    expect(await file('2500', 10 + 600_000_000)).toBe(1);
    expect(await admin.zscore(versions, 'o2')).toBeNull();
    expect(await admin.zscore(versions, 'o1')).toBe(String(base + 10 + 600_000_000));
  });

  it('takes an ioredis Cluster as its redis option', async () => {
    const client = new Cluster(redisClusterUrls().map((url) => ({ host: new URL(url).hostname, port: Number(new URL(url).port) })), { lazyConnect: true });
    try {
      const r = newRouter({ redis: client as unknown as OrchestratorRouterConfig['redis'] });
      const orch = uid('orch');
      await r.registerSession(orch, { id: 's1', daemonId: 'd1', status: 'active' });
      expect((await r.routeMessage(message('m1'), orch)).status).toBe('delivered');
      expect(ids(await r.readDaemonEvents('d1'))).toEqual(['m1']);
    } finally {
      client.disconnect();
    }
  });
});
