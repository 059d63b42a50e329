// Redis that refuses: out of memory, a password not given. Every failure is visible, reads keep
// working, and nothing goes out before the handshake is answered. Each on a private server.
import { execFile } from 'node:child_process';
import path from 'node:path';
import Redis, { RedisOptions } from 'ioredis';
import { createOrchestratorRouter, OrchestratorRouter } from '..';
import { message, record, uid, waitFor } from './support/helpers';
import { startRedis, RedisProcess } from './support/redis-server';

const BIN = path.join(__dirname, '..', 'bin', 'orchestrator-router.js');

const servers: RedisProcess[] = [];
const routers: OrchestratorRouter[] = [];
const clients: Redis[] = [];
afterEach(async () => {
  await Promise.all(routers.splice(0).map((r) => r.close()));
  await Promise.all(clients.splice(0).map((c) => c.quit().catch(() => c.disconnect())));
  await Promise.all(servers.splice(0).map((s) => s.kill()));
});

async function server(args: string[] = []): Promise<RedisProcess> {
  const redis = await startRedis(args);
  servers.push(redis);
  return redis;
}

function router(config: Parameters<typeof createOrchestratorRouter>[0]): OrchestratorRouter {
  const r = createOrchestratorRouter({ retry: { initialDelayMs: 10, maxDelayMs: 50 }, deliveryTimeoutMs: 2000, ...config });
  routers.push(r);
  return r;
}

function client(url: string, options: RedisOptions = {}): Redis {
  const c = new Redis(url, { maxRetriesPerRequest: 1, ...options });
  c.on('error', () => undefined);
  clients.push(c);
  return c;
}

function runTool(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('a Redis out of memory (maxmemory reached, noeviction)', () => {
  it('still answers every read: queue depth, sessions, daemon events, dead letters, the operator tool', async () => {
    const redis = await server(['--maxmemory-policy', 'noeviction']);
    const r = router({ redis: redis.url, sessions: { multiple: true } });
    const orch = uid('orch');
    await r.registerSession(orch, { id: 's1', daemonId: 'd1' });
    await r.routeMessage(message('m1'), orch);
    const offline = uid('offline');
    await r.queueMessageForOffline(message('q1'), offline);
    await r.queueMessageForOffline(message('q2', { priority: 'high' }), offline);
    // From here on every command that may add memory is refused with OOM.
    const admin = client(redis.url);
    await admin.config('SET', 'maxmemory', '1');
    await expect(admin.set('probe', 'x')).rejects.toThrow(/OOM/);

    expect(await r.getQueueDepth(offline)).toBe(2);
    expect(await r.getOrchestratorSession(orch)).toMatchObject({ sessionId: 's1', daemonId: 'd1' });
    expect((await r.getOrchestratorSessions(orch)).map((s) => s.sessionId)).toEqual(['s1']);
    expect(await r.isOrchestratorOnline(orch)).toBe(true);
    expect((await r.readDaemonEvents('d1')).map((e) => e.payload.messageId)).toEqual(['m1']);
    expect(await r.getDeadLetters(orch)).toEqual([]);
    const inspect = await runTool(['inspect', offline, '--redis', redis.url, '--json']);
    expect(inspect.stderr).toBe('');
    expect(JSON.parse(inspect.stdout)).toMatchObject({ queue: { high: 1, normal: 1, low: 0 } });
    const stats = await runTool(['stats', '--redis', redis.url, '--json']);
    expect(stats.stderr).toBe('');
    expect(stats.code).toBe(0);
  });
});

describe('a Redis that requires a password, given none', () => {
  it('says NOAUTH plainly, naming the option to set, for routes and every other call', async () => {
    const redis = await server(['--requirepass', 'sekret']);
    const r = router({ redis: redis.url, retry: { maxAttempts: 1 } });
    const orch = uid('orch');
    const failed = await r.routeMessage(message('m1'), orch);
    expect(failed).toMatchObject({ success: false });
    expect(failed.error).toMatch(/NOAUTH/);
    expect(failed.error).toMatch(/password/);
    await expect(r.registerSession(orch, { id: 's', daemonId: 'd' })).rejects.toThrow(/NOAUTH.*password/s);
    await expect(r.getQueueDepth(orch)).rejects.toThrow(/NOAUTH.*password/s);
    // Nothing was written.
    const admin = client(redis.url, { password: 'sekret' });
    expect(await admin.dbsize()).toBe(0);
  });

  it('routes once the password is given, in the URL or as an option', async () => {
    const redis = await server(['--requirepass', 'sekret']);
    for (const config of [{ redis: `redis://:sekret@127.0.0.1:${redis.port}` }, { redis: { host: '127.0.0.1', port: redis.port, password: 'sekret' } }]) {
      const r = router(config);
      const orch = uid('orch');
      await r.registerSession(orch, { id: 's', daemonId: uid('d') });
      expect(await r.routeMessage(message('m1'), orch)).toMatchObject({ status: 'delivered' });
    }
  });
});

describe('a drain that Redis refuses', () => {
  it('is reported with Redis’s error, counted, and retried with backoff until it succeeds', async () => {
    const redis = await server(['--maxmemory-policy', 'noeviction']);
    const admin = client(redis.url);
    const r = router({ redis: redis.url, daemonQueue: { maxEvents: 1 }, retry: { initialDelayMs: 20, backoffMultiplier: 2, maxDelayMs: 80 } });
    const failed = record(r, 'queue.processing_failed');
    const routed = record(r, 'message.routed');
    const orch = uid('orch');
    const daemon = uid('daemon');
    await r.registerSession(orch, { id: 's', daemonId: daemon });
    // The daemon's list holds one event: the next two wait in the queue behind it.
    expect((await Promise.all(['m0', 'm1', 'm2'].map((id) => r.routeMessage(message(id), orch)))).map((x) => x.status)).toEqual(['delivered', 'pending', 'pending']);
    await waitFor(async () => (await r.getQueueDepth(orch)) === 2, 'the two pending messages queued');
    // Redis runs out of memory while the daemon takes its event: the drain's first write is refused.
    await admin.config('SET', 'maxmemory', '1');
    await admin.del(`daemon:events:${daemon}`);
    await expect(r.processQueuedMessages(orch)).rejects.toThrow(/OOM/);
    await waitFor(() => failed.length >= 3, 'three failed drains in a row');
    expect(failed[0]).toMatchObject({ orchestratorId: orch, attempts: 1, retryInMs: 20 });
    expect(failed[0].error).toMatch(/OOM/);
    expect(failed.slice(0, 3).map((e) => [e.attempts, e.retryInMs])).toEqual([[1, 20], [2, 40], [3, 80]]);
    expect(r.getMetrics().drainFailures).toBeGreaterThanOrEqual(3);
    expect(await r.getQueueDepth(orch)).toBe(2);
    // With memory again, a retry delivers what waited, with no call from anyone.
    routed.length = 0;
    await admin.config('SET', 'maxmemory', '0');
    await waitFor(() => routed.length === 1, 'the next message delivered by a retry');
    expect(routed.map((e) => e.messageId)).toEqual(['m1']);
  });
});
