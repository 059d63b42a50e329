// The operator's command-line tool, run as a real process against the test server.
import { execFile } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { closeAll, keyOf, message, newRouter, plainClient, redisClusterUrls, redisSentinel, redisTls, redisUrl, uid } from './support/helpers';
import { startRedisSentinel } from './support/redis-sentinel';
import { freePort } from './support/redis-server';

afterEach(closeAll);

const BIN = path.join(__dirname, '..', 'bin', 'orchestrator-router.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the binary with `args` (REDIS_URL unset unless given), resolving its exit code and output. */
function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    if (!('REDIS_URL' in env)) delete childEnv.REDIS_URL;
    execFile(process.execPath, [BIN, ...args], { env: childEnv, timeout: 20_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('orchestrator-router (the command-line tool)', () => {
  it('inspect shows sessions, online state, queue depth by priority, the oldest message, receipts, dead letters and daemon lists', async () => {
    const router = newRouter({ sessions: { multiple: true }, deliveryReceipts: { enabled: true }, deliveryTimeoutMs: 60_000 });
    const prefix = keyOf(router, '');
    const orch = uid('orch');
    await router.registerSession(orch, { id: 's1', daemonId: 'd1', status: 'active' });
    await router.registerSession(orch, { id: 's2', daemonId: 'd2', status: 'active' });
    await router.routeMessage(message('delivered'), orch);
    await router.unregisterSession(orch);
    await router.queueMessageForOffline(message('h1', { priority: 'high' }), orch);
    for (const id of ['n1', 'n2']) await router.queueMessageForOffline(message(id), orch);
    await router.queueMessageForOffline(message('l1', { priority: 'low' }), orch);
    await router.registerSession(orch, { id: 's3', daemonId: 'd3', status: 'idle' });
    await plainClient().rpush(keyOf(router, `routing:dead:${orch}`), '{"item":"{}","attempts":3,"lastError":"x","deadLetteredAt":"2026-11-27T10:00:00.000Z"}');

    const json = await run(['inspect', orch, '--redis', redisUrl(), '--prefix', prefix, '--json']);
    expect(json).toMatchObject({ code: 0, stderr: '' });
    const inspection = JSON.parse(json.stdout);
    expect(inspection).toMatchObject({
      orchestratorId: orch,
      online: false,
      sessions: [{ sessionId: 's3', daemonId: 'd3', status: 'idle', primary: true, daemonEvents: 0 }],
      queue: { high: 1, normal: 2, low: 1, total: 4 },
      pendingReceipts: 1,
      deadLetters: 1,
    });
    expect(Date.parse(inspection.oldestQueuedAt)).toBeLessThanOrEqual(Date.now());
    expect(inspection.oldestAgeMs).toBeGreaterThanOrEqual(0);

    // An active session drains the queue to its daemon, d2, which already held one event.
    await router.registerSession(orch, { id: 's4', daemonId: 'd2', status: 'active' });
    const text = await run(['inspect', orch, '--prefix', prefix], { REDIS_URL: redisUrl() });
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`orchestrator  ${orch}\nonline        yes (session s4, daemon d2)\nsessions      2\n`);
    expect(text.stdout).toMatch(/\* +s4 +d2 +active +\S+ +5\n/);
    expect(text.stdout).toMatch(/ {4}s3 +d3 +idle +\S+ +0\n/);
    expect(text.stdout).toContain('queue         0 (high 0, normal 0, low 0)\noldest        -\nreceipts      5 pending\ndead letters  1\n');
  });

  it('stats lists every orchestrator with a queue, deepest first, as a table (and JSON)', async () => {
    const router = newRouter({ offlineQueue: { maxQueueSize: 1000 } });
    const prefix = keyOf(router, '');
    const [a, b, c] = [uid('a'), uid('b'), uid('c')];
    for (let i = 0; i < 3; i++) await router.queueMessageForOffline(message(`a${i}`), a);
    for (let i = 0; i < 7; i++) await router.queueMessageForOffline(message(`b${i}`, { priority: i < 2 ? 'high' : 'low' }), b);
    await router.registerSession(c, { id: 's', daemonId: 'dc', status: 'active' }); // online, no queue: not listed
    // A queue written by the deployed service is found as well.
    await plainClient().rpush(keyOf(router, 'routing:queue:deployed'), JSON.stringify({ messageId: 'x', channelId: 'c', content: 'x', queuedAt: new Date().toISOString() }));

    const json = await run(['stats', '--redis', redisUrl(), '--prefix', prefix, '--json']);
    expect(json.code).toBe(0);
    const { orchestrators: rows, unreadable } = JSON.parse(json.stdout);
    expect(unreadable).toEqual([]);
    expect(rows.map((r: { orchestratorId: string; queue: { total: number } }) => [r.orchestratorId, r.queue.total])).toEqual([[b, 7], [a, 3], ['deployed', 1]]);
    expect(rows[0]).toMatchObject({ online: false, queue: { high: 2, normal: 0, low: 5, total: 7 } });

    const text = await run(['stats', '--redis', redisUrl(), '--prefix', prefix]);
    expect(text.code).toBe(0);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ORCHESTRATOR +QUEUED +HIGH +NORMAL +LOW +OLDEST +ONLINE$/);
    expect(lines[1]).toMatch(new RegExp(`^${b} +7 +2 +0 +5 +\\d+ s +no$`));
    expect(lines[2]).toMatch(new RegExp(`^${a} +3 +0 +3 +0 +\\d+ s +no$`));
    expect(lines.at(-1)).toBe('3 orchestrators with a queue, 11 messages in all');
  });

  it('reads a Redis Cluster with --cluster: stats over every master, inspect with the daemon lists in their own slots', async () => {
    const router = newRouter({ redis: { cluster: redisClusterUrls() } });
    const prefix = keyOf(router, '');
    // Twelve orchestrators, whose queues spread over the masters (stats must scan each).
    const queued = Array.from({ length: 12 }, (_, i) => `${uid('o')}_${i}`);
    for (const [i, orch] of queued.entries()) {
      for (let j = 0; j <= i % 3; j++) await router.queueMessageForOffline(message(`m${j}`), orch);
    }
    const online = uid('orch');
    await router.registerSession(online, { id: 's1', daemonId: 'd1', status: 'active' });
    await router.routeMessage(message('m1'), online);

    const nodes = redisClusterUrls().slice(1).join(',');
    const stats = await run(['stats', '--cluster', nodes, '--prefix', prefix, '--json']);
    expect(stats.code).toBe(0);
    const rows: Array<{ orchestratorId: string; queue: { total: number } }> = JSON.parse(stats.stdout).orchestrators;
    expect(rows.map((r) => r.orchestratorId).sort()).toEqual([...queued].sort());
    expect(rows.reduce((sum, r) => sum + r.queue.total, 0)).toBe(24);

    const inspect = await run(['inspect', online, '--cluster', nodes, '--prefix', prefix]);
    expect(inspect.code).toBe(0);
    expect(inspect.stdout).toContain(`online        yes (session s1, daemon d1)`);
    expect(inspect.stdout).toMatch(/\* +s1 +d1 +active +\S+ +1\n/);

    const both = await run(['stats', '--cluster', nodes, '--redis', redisUrl()]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give one of --redis, --cluster and --sentinel, not --redis and --cluster');
  });

  it('reads the primary Redis Sentinel names with --sentinel and --sentinel-name', async () => {
    const { sentinels, name } = redisSentinel();
    const router = newRouter({ redis: { sentinels, name } });
    const prefix = keyOf(router, '');
    const orch = uid('orch');
    for (const id of ['m1', 'm2']) await router.queueMessageForOffline(message(id), orch);

    const stats = await run(['stats', '--sentinel', sentinels.join(','), '--sentinel-name', name, '--prefix', prefix, '--json']);
    expect(stats.code).toBe(0);
    expect(JSON.parse(stats.stdout).orchestrators).toEqual([expect.objectContaining({ orchestratorId: orch, queue: expect.objectContaining({ total: 2 }) })]);
    const inspect = await run(['inspect', orch, '--sentinel', sentinels[0], '--sentinel-name', name, '--prefix', prefix]);
    expect(inspect.code).toBe(0);
    expect(inspect.stdout).toContain('online        no');

    const unknown = await run(['stats', '--sentinel', sentinels[0], '--sentinel-name', 'nobody', '--timeout', '2000']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/cannot read Redis at the primary "nobody" of the Sentinels redis:\/\/127\.0\.0\.1:\d+: no Sentinel named a reachable primary for "nobody"/);
    const both = await run(['stats', '--sentinel', sentinels[0], '--cluster', redisClusterUrls()[0]]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give one of --redis, --cluster and --sentinel, not --cluster and --sentinel');
    const mixed = await run(['stats', '--sentinel', `rediss://127.0.0.1:26379,${sentinels[0]}`]);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain('--sentinel [1] must be rediss:// like sentinels[0]');
  });

  it('reads over TLS with --tls-ca: a rediss:// --redis, and rediss:// Sentinels with the primary over --tls', async () => {
    const caFile = process.env.REDIS_TLS_CA!;
    const single = newRouter({ redis: { url: redisTls().url, tls: { ca: redisTls().ca } } });
    const prefix = keyOf(single, '');
    const orch = uid('orch');
    await single.queueMessageForOffline(message('m1'), orch);
    const stats = await run(['stats', '--redis', redisTls().url, '--tls-ca', caFile, '--prefix', prefix, '--json']);
    expect(stats.code).toBe(0);
    expect(JSON.parse(stats.stdout).orchestrators).toEqual([expect.objectContaining({ orchestratorId: orch })]);
    const untrusted = await run(['stats', '--redis', redisTls().url, '--prefix', prefix]);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toContain('TLS certificate verification failed');

    const deployment = await startRedisSentinel({ tls: true });
    try {
      const sentinels = deployment.sentinelUrls.join(',');
      const [ca, sentinelCa] = [deployment.caPath!, deployment.sentinelCaPath!].map((file) => readFileSync(file, 'utf8'));
      const router = newRouter({ redis: { sentinels: deployment.sentinelUrls, name: deployment.name, sentinelTls: { ca: sentinelCa }, tls: { ca } } });
      await router.queueMessageForOffline(message('m1'), orch);
      await router.queueMessageForOffline(message('m2'), orch);
      // One file with both CAs: --tls-ca is trusted for the Sentinels and the primary alike.
      const viaSentinels = await run(['inspect', orch, '--sentinel', sentinels, '--tls', '--tls-ca', deployment.caBundlePath!, '--prefix', keyOf(router, ''), '--json']);
      expect(viaSentinels.code).toBe(0);
      expect(JSON.parse(viaSentinels.stdout).queue).toMatchObject({ total: 2 });
      // Without --tls the primary is reached in plain TCP, which a TLS-only node does not answer.
      const plainPrimary = await run(['stats', '--sentinel', sentinels, '--tls-ca', deployment.caBundlePath!, '--timeout', '1500']);
      expect(plainPrimary.code).toBe(1);
      expect(plainPrimary.stderr).toContain('no Sentinel named a reachable primary for "mymaster"');
    } finally {
      await closeAll();
      await deployment.stop();
    }

    for (const [args, problem] of [
      [['--tls', '--redis', redisUrl()], '--tls is read with --sentinel'],
      [['--tls-ca', caFile, '--redis', redisUrl()], '--tls-ca is read with a rediss:// URL'],
      [['--tls-ca', caFile, '--sentinel', redisSentinel().sentinels[0]], '--tls-ca is read with rediss:// Sentinel URLs or --tls'],
      [['--tls-ca', caFile, '--cluster', redisClusterUrls()[0]], '--tls-ca is not read with --cluster'],
      [['--tls-ca', path.join(__dirname, 'cli.test.ts'), '--redis', redisTls().url], 'holding at least one certificate'],
    ]) {
      const refused = await run(['stats', ...args]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(problem);
    }
  }, 60_000);

  it('reads around a key another writer gave the wrong type, naming it', async () => {
    const router = newRouter();
    const prefix = keyOf(router, '');
    await router.queueMessageForOffline(message('m1'), 'good');
    await plainClient().set(`${prefix}routing:queue-high:broken`, 'not a list');
    const stats = await run(['stats', '--redis', redisUrl(), '--prefix', prefix]);
    expect(stats.code).toBe(0);
    expect(stats.stdout).toMatch(/^good +1 +0 +1 +0 /m);
    expect(stats.stdout).toContain(`could not read orchestrator broken: ${prefix}routing:queue-high:broken holds a string, not a list\n`);
    const inspect = await run(['inspect', 'broken', '--redis', redisUrl(), '--prefix', prefix]);
    expect(inspect.code).toBe(1);
    expect(inspect.stderr).toContain(`${prefix}routing:queue-high:broken holds a string, not a list`);
  });

  it('says so, and exits 1, when Redis is not reachable or does not answer in time', async () => {
    const port = await freePort();
    const refused = await run(['stats', '--redis', `redis://:secret@127.0.0.1:${port}`]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`^orchestrator-router: cannot read Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port}: .*refused`, 'i'));
    expect(refused.stdout).toBe('');

    // A server that accepts connections and never answers.
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => { sockets.push(socket); });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port: silentPort } = silent.address() as net.AddressInfo;
      const timedOut = await run(['inspect', 'orch_1', '--redis', `redis://127.0.0.1:${silentPort}`, '--timeout', '300']);
      expect(timedOut.code).toBe(1);
      expect(timedOut.stderr).toMatch(/^orchestrator-router: cannot read Redis at redis:\/\/127\.0\.0\.1:\d+: .*(timed out|timeout)/i);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('refuses a wrong command line with the usage and exit code 2, masking a password in a bad URL', async () => {
    const bad = await run(['stats', '--redis', 'redis://user:s3cret@127.0.0.1:6379/notadb']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--redis is not a valid Redis URL ("redis://user:***@127.0.0.1:6379/notadb")');
    expect(bad.stderr).not.toContain('s3cret');
    for (const args of [[], ['frobnicate'], ['inspect'], ['inspect', 'a', 'b'], ['stats', 'x'], ['stats', '--timeout', 'soon'], ['stats', '--timeout', '4294967796'], ['stats', '--bogus']]) {
      const result = await run(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('Usage:\n  orchestrator-router inspect <orchestratorId>');
    }
    const help = await run(['--help']);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toContain('orchestrator-router stats [options]');
  });
});
