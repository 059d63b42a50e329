// What only the in-process store has: no server at all, and stores chosen by name and prefix.
// (What it shares with Redis is in contract.test.ts.)
import { execFile } from 'node:child_process';
import path from 'node:path';
import { closeAll, message, newRouter, uid } from './support/helpers';

afterEach(closeAll);

describe("the in-process store (redis: 'memory://')", () => {
  it('runs with no Redis anywhere, and lets the process exit when the work is done', async () => {
    const script = `
      const { createOrchestratorRouter } = require(${JSON.stringify(path.join(__dirname, '..'))});
      (async () => {
        const router = createOrchestratorRouter({ redis: 'memory://', drainIntervalMs: 10 });
        await router.routeMessage({ id: 'm1', channelId: 'c', content: 'queued' }, 'orch');
        await router.registerSession('orch', { id: 's', daemonId: 'd' });
        await router.routeMessage({ id: 'm2', channelId: 'c', content: 'live' }, 'orch');
        const events = await router.readDaemonEvents('d');
        console.log(JSON.stringify(events.map((e) => e.payload.messageId)));
      })();`;
    // REDIS_URL points nowhere: nothing may try to reach a server.
    const env = { ...process.env, REDIS_URL: 'redis://127.0.0.1:1' };
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['-e', script], { env, timeout: 15_000 }, (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out)));
    });
    expect(JSON.parse(stdout)).toEqual(['m1', 'm2']);
  });

  it('runs the demo (npm run demo) with no server when REDIS_URL is unset, and on Redis when it is set', async () => {
    const demo = path.join(__dirname, '..', 'demo', 'demo.js');
    const run = (env: NodeJS.ProcessEnv) =>
      new Promise<string>((resolve, reject) => {
        execFile(process.execPath, [demo], { env, timeout: 30_000 }, (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out)));
      });
    const { REDIS_URL: url, ...withoutRedis } = process.env;
    const inProcess = await run(withoutRedis);
    expect(inProcess).toContain('Store: in-process (REDIS_URL is not set, so no server is used)');
    expect(inProcess).toMatch(/msg_6 {2}priority 3 {2}"Production is down!"\n.*msg_3 {2}priority 2/);
    expect(inProcess).toContain('6 messages delivered, in order; nothing lost.');
    const onRedis = await run({ ...withoutRedis, REDIS_URL: url });
    expect(onRedis).toContain(`Redis: ${url} (from REDIS_URL)`);
    expect(onRedis).toContain('6 messages delivered, in order; nothing lost.');
  });

  it('shares a store between routers of one name and prefix, and keeps other names and prefixes apart', async () => {
    const name = `memory://${uid('shared')}`;
    const a = newRouter({ redis: name, keyPrefix: 'p:' });
    const b = newRouter({ redis: name, keyPrefix: 'p:' });
    const otherPrefix = newRouter({ redis: name, keyPrefix: 'q:' });
    const otherName = newRouter({ redis: `memory://${uid('other')}`, keyPrefix: 'p:' });
    await a.queueMessageForOffline(message('m1'), 'orch');
    expect(await b.getQueueDepth('orch')).toBe(1);
    expect(await otherPrefix.getQueueDepth('orch')).toBe(0);
    expect(await otherName.getQueueDepth('orch')).toBe(0);
  });

  it('refuses calls once its router is closed, naming the problem', async () => {
    const router = newRouter({ redis: `memory://${uid('closing')}` });
    await router.queueMessageForOffline(message('m1'), 'orch');
    await router.close();
    await expect(router.getQueueDepth('orch')).rejects.toThrow(/closed/);
  });
});
