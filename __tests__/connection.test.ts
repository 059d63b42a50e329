import Redis from 'ioredis';
import { createClient } from 'redis';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createOrchestratorRouter, OrchestratorRouter } from '..';
import { closeAll, message, plainClient, redisUrl, uid } from './support/helpers';
import { startRedis } from './support/redis-server';

const opened: OrchestratorRouter[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((r) => r.close()));
  await closeAll();
});

function router(config: Parameters<typeof createOrchestratorRouter>[0]): OrchestratorRouter {
  const r = createOrchestratorRouter(config);
  opened.push(r);
  return r;
}

const port = () => Number(new URL(redisUrl()).port);

describe('connecting to Redis', () => {
  it('connects with a URL, selecting the database it names', async () => {
    const orch = uid('orch');
    await router({ redis: `${redisUrl()}/3`, keyPrefix: 'url:' }).routeMessage(message('m'), orch);
    expect(await plainClient(`${redisUrl()}/3`).exists(`url:routing:queue:${orch}`)).toBe(1);
  });

  it('connects with an options object', async () => {
    const orch = uid('orch');
    await router({ redis: { host: '127.0.0.1', port: port(), db: 4 }, keyPrefix: 'opts:' }).routeMessage(message('m'), orch);
    expect(await plainClient(`${redisUrl()}/4`).exists(`opts:routing:queue:${orch}`)).toBe(1);
  });

  it('reads an ioredis client, its database and keyPrefix, and opens its own connection', async () => {
    const client = new Redis({ host: '127.0.0.1', port: port(), db: 5, keyPrefix: 'io:', lazyConnect: true });
    const orch = uid('orch');
    await router({ redis: client }).routeMessage(message('m'), orch);
    expect(client.status).toBe('wait');
    expect(await plainClient(`${redisUrl()}/5`).exists(`io:routing:queue:${orch}`)).toBe(1);
  });

  it('reads a node-redis client', async () => {
    const client = createClient({ socket: { host: '127.0.0.1', port: port() }, database: 6 });
    const orch = uid('orch');
    await router({ redis: client as never, keyPrefix: 'nr:' }).routeMessage(message('m'), orch);
    expect(client.isOpen).toBe(false);
    expect(await plainClient(`${redisUrl()}/6`).exists(`nr:routing:queue:${orch}`)).toBe(1);
  });

  it('defaults to REDIS_URL', async () => {
    const orch = uid('orch');
    await router({ keyPrefix: 'env:' }).routeMessage(message('m'), orch);
    expect(await plainClient().exists(`env:routing:queue:${orch}`)).toBe(1);
  });
});

describe('process lifecycle', () => {
  const run = (script: string, env: Record<string, string> = {}) =>
    spawnSync(process.execPath, ['-e', script], {
      cwd: path.join(__dirname, '..'),
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 20_000,
    });

  it('lets the Node process exit by itself right after close()', () => {
    const result = run(`
      const { createOrchestratorRouter } = require('.');
      (async () => {
        const router = createOrchestratorRouter({ keyPrefix: 'exit:', drainIntervalMs: 10 });
        router.on('message.queued', () => {});
        router.setMessageService({ getMessage: async (id) => ({ id, content: 'x' }) });
        await router.routeMessage({ id: 'm', channelId: 'c', content: 'x' }, 'o');
        await router.registerSession('o', { id: 's', daemonId: 'd' });
        await router.close();
        console.log('closed');
      })();
    `);
    expect(result.error).toBeUndefined();
    expect(result.stdout.trim()).toBe('closed');
    expect(result.status).toBe(0);
  });

  it('opens no connection on import or on reading the default instance', async () => {
    const result = run(`
      const net = require('node:net');
      let connections = 0;
      const server = net.createServer((socket) => { connections += 1; socket.destroy(); });
      server.listen(0, '127.0.0.1', () => {
        process.env.REDIS_URL = 'redis://127.0.0.1:' + server.address().port;
        const mod = require('.');
        const router = mod.orchestratorRouter;
        if (!(router instanceof mod.OrchestratorRouter)) throw new Error('no default instance');
        setTimeout(() => { console.log(connections); router.close(); server.close(); }, 300);
      });
    `);
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe('0');
  });

  it('rejects calls after close() with OrchestratorRoutingError', async () => {
    const r = router({ keyPrefix: 'closed:' });
    await r.close();
    await expect(r.routeMessage(message('m'), 'o')).rejects.toMatchObject({ code: 'ORCHESTRATOR_ROUTING_ERROR', message: 'OrchestratorRouter is closed' });
  });
});

describe('the routes\' own connection (a Node socket the binding writes its commands to)', () => {
  it('authenticates with the URL\'s password and selects its database, and reports a wrong password', async () => {
    const server = await startRedis(['--requirepass', 's3cret']);
    try {
      const orch = uid('orch');
      const routed = router({ redis: `redis://:s3cret@127.0.0.1:${server.port}/2`, keyPrefix: 'auth:' });
      await routed.registerSession(orch, { id: 's', daemonId: 'd_auth', status: 'active' });
      expect(await routed.routeMessage(message('m1'), orch)).toMatchObject({ success: true, status: 'delivered' });
      const admin = plainClient(`redis://:s3cret@127.0.0.1:${server.port}/2`);
      expect(await admin.llen('auth:daemon:events:d_auth')).toBe(1);

      const refused = router({ redis: `redis://:wrong@127.0.0.1:${server.port}/2`, retry: { maxAttempts: 1 } });
      const result = await refused.routeMessage(message('m2'), orch);
      expect(result).toMatchObject({ success: false, status: 'failed' });
      expect(result.error).toContain('WRONGPASS');
    } finally {
      await closeAll();
      await server.kill();
    }
  });

  it('sends nothing but the opening commands until they succeed: a refused SELECT runs no route', async () => {
    const orch = uid('orch');
    const refused = router({ redis: `${redisUrl()}/99`, keyPrefix: 'baddb:', retry: { maxAttempts: 1 } });
    const result = await refused.routeMessage(message('m1'), orch);
    expect(result).toMatchObject({ success: false, status: 'failed' });
    expect(result.error).toContain('DB index is out of range');
    // Queued nowhere: not in database 0, where the route would have run had it gone out.
    expect(await plainClient(redisUrl()).exists(`baddb:routing:queue:${orch}`)).toBe(0);
  });

  it('takes a socket that stays silent while replies are awaited for dead, and opens a new one', async () => {
    const server = await startRedis();
    // A proxy that can be told to stop forwarding, as a peer that vanished without a reset.
    const links: Array<{ silent: boolean }> = [];
    const proxy = net.createServer((client) => {
      const upstream = net.connect(server.port, '127.0.0.1');
      const link = { silent: false };
      links.push(link);
      client.on('data', (d) => { if (!link.silent) upstream.write(d); });
      upstream.on('data', (d) => { if (!link.silent) client.write(d); });
      client.on('error', () => {});
      upstream.on('error', () => {});
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const port = (proxy.address() as net.AddressInfo).port;
      const orch = uid('orch');
      // Silence longer than max(2 × 200 ms, 5 s) closes the socket; six attempts 1 s apart outlast it.
      const routed = router({ redis: `redis://127.0.0.1:${port}`, deliveryTimeoutMs: 200, retry: { maxAttempts: 6, initialDelayMs: 1000, backoffMultiplier: 1 } });
      await routed.registerSession(orch, { id: 's', daemonId: 'd_silent', status: 'active' });
      expect((await routed.routeMessage(message('m1'), orch)).status).toBe('delivered');
      for (const link of links) link.silent = true;
      const result = await routed.routeMessage(message('m2'), orch);
      expect(result).toMatchObject({ success: true, status: 'delivered' });
      expect(result.attempts).toBeGreaterThan(1);
      expect(await plainClient(server.url).lrange('daemon:events:d_silent', 0, -1)).toHaveLength(2);
    } finally {
      await closeAll();
      proxy.close();
      await server.kill();
    }
  }, 20_000);

  it('connects through a unix socket', async () => {
    const socketPath = path.join(os.tmpdir(), `router-test-${process.pid}-${Date.now()}.sock`);
    const server = await startRedis(['--unixsocket', socketPath]);
    try {
      const orch = uid('orch');
      const routed = router({ redis: `unix://${socketPath}`, keyPrefix: 'unix:' });
      await routed.registerSession(orch, { id: 's', daemonId: 'd_unix', status: 'active' });
      expect(await routed.routeMessage(message('m1'), orch)).toMatchObject({ success: true, status: 'delivered' });
      expect(await plainClient(server.url).lrange('unix:daemon:events:d_unix', 0, -1)).toHaveLength(1);
      // The socket's path read from an options object and from clients, whose host and port
      // (localhost:6379 by default) say nothing then.
      const ioredis = new Redis({ path: socketPath, db: 2, lazyConnect: true });
      const nodeRedis = createClient({ socket: { path: socketPath, tls: false }, database: 2 });
      for (const [name, redis] of [['options', { path: socketPath, db: 2 }], ['ioredis', ioredis], ['node-redis', nodeRedis]] as const) {
        await router({ redis: redis as never, keyPrefix: `unix_${name}:` }).routeMessage(message('m1'), orch);
        expect(await plainClient(`${server.url}/2`).exists(`unix_${name}:routing:queue:${orch}`)).toBe(1);
      }
    } finally {
      await closeAll();
      await server.kill();
    }
  });
});
