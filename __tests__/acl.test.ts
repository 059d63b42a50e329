// Least privilege: the README's ACL line is exactly what a router needs, a user missing any of it
// gets an error naming what is missing, and no step is ever refused half way through (Redis keeps
// what a script wrote before a refused command). The contract suite runs under the line itself.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { OrchestratorRouterConfig } from '..';
import { ACL_PREFIX_PATTERN, createAclUser, OPERATOR_COMMANDS, operatorAclRules, ROUTER_COMMANDS, routerAclRules, SPEED_COMMANDS } from './support/acl';
import { closeAll, message, newRouter, plainClient, uid, waitFor } from './support/helpers';
import { RedisProcess, startRedis } from './support/redis-server';

afterEach(closeAll);

// A private server: a user's first call must find no script loaded (SCRIPT FLUSH), which the
// other tests' servers must not see.
let server: RedisProcess;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server.kill();
});

/** What Redis answers when a script calls a command the user may not run: the step ran half way. */
const REFUSED_MIDWAY = /can't run this command/;

/** A user on the private server with `rules` (the router's, by default) minus `without` (e.g. '+lpush'). */
async function userWithout(without: string[] = [], rules = routerAclRules(ACL_PREFIX_PATTERN)): Promise<string> {
  const kept = rules.split(' ').filter((rule) => !without.includes(rule));
  return createAclUser(server.url, uid('user'), 'secret', kept.join(' '));
}

/** Runs the operator tool with `args`, resolving its exit code and output. */
function operatorTool(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const bin = path.join(__dirname, '..', 'bin', 'orchestrator-router.js');
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

interface Exercise {
  /** Every error met: rejections, failed results and failure events. */
  errors: string[];
  /** The operations that succeeded. */
  done: string[];
  /** The receipt events seen (redelivered, dead-lettered). */
  receipts: string[];
}

/**
 * Runs every operation of a router (routes, batches, broadcasts, drains, sessions, receipts,
 * redeliveries, dead letters, daemon event reads) as the user of `url`, each on state a router
 * with every permission prepared (so that each step has its work to do whatever the user could
 * not do before it), and says what failed.
 */
async function exercise(url: string): Promise<Exercise> {
  const result: Exercise = { errors: [], done: [], receipts: [] };
  const keyPrefix = uid('acl') + ':';
  const retry = { maxAttempts: 1, initialDelayMs: 10, maxDelayMs: 20 };
  const config: OrchestratorRouterConfig = { keyPrefix, retry, drainIntervalMs: 60_000 };
  const multiple: OrchestratorRouterConfig = { ...config, sessions: { multiple: true, routing: 'broadcast' } };
  const receipts: OrchestratorRouterConfig = { ...config, deliveryReceipts: { enabled: true }, deliveryTimeoutMs: 50 };
  const session = (id: string, daemonId: string) => ({ id, daemonId, status: 'active' as const, createdAt: new Date() });
  const attempt = async (name: string, op: () => Promise<unknown>): Promise<void> => {
    try {
      const value = await op();
      const failed = value && typeof value === 'object' && 'success' in value && !(value as { success: boolean }).success;
      if (failed) result.errors.push(String((value as { error?: string }).error));
      else result.done.push(name);
    } catch (error) {
      result.errors.push((error as Error).message);
    }
  };
  /** A router as the user, and one as the server's default user, on the same keys. */
  const pair = (options: OrchestratorRouterConfig) => {
    const user = newRouter({ ...options, redis: url });
    user.on('queue.processing_failed', (e) => result.errors.push(e.error));
    user.on('message.routing_error', (e) => result.errors.push(e.error));
    user.on('message.redelivered', (e) => result.receipts.push(`redelivered ${e.messageId}`));
    user.on('message.dead_lettered', (e) => result.receipts.push(`dead-lettered ${e.messageId}`));
    return [user, newRouter({ ...options, redis: server.url })] as const;
  };

  // One session per orchestrator; a queue of one message, so that queueing another drops the first.
  const [r, admin] = pair({ ...config, offlineQueue: { maxQueueSize: 1 } });
  await admin.registerSession('o1', session('s1', 'd1'));
  // The user's router loads every script and function it calls.
  await plainClient(server.url).script('FLUSH');
  await plainClient(server.url).call('FUNCTION', 'FLUSH');
  await attempt('route', () => r.routeMessage(message('m1'), 'o1'));
  await attempt('batch', async () => {
    const results = await r.routeMessages([{ message: message('m2'), orchestratorId: 'o1' }, { message: message('m3'), orchestratorId: 'o1' }]);
    return results.find((x) => !x.success) ?? results[0];
  });
  await admin.routeMessage(message('q0'), 'o2');
  await attempt('queue, dropping the oldest', () => r.routeMessage(message('q1'), 'o2'));
  await attempt('register', () => r.registerSession('o3', session('s3', 'd3')));
  // A backlog for an orchestrator with a session: queued as queueMessageForOffline does, whatever the session.
  await admin.registerSession('o4', session('s4', 'd4'));
  await admin.queueMessageForOffline(message('q2'), 'o4');
  await attempt('drain', async () => {
    const summary = await r.processQueuedMessages('o4');
    if (summary.processed !== 1) throw new Error(`the drain of o4 left ${JSON.stringify(summary)}`);
  });
  await attempt('heartbeat', () => r.updateSessionActivity('o1'));
  await attempt('sessions', () => r.getOrchestratorSessions('o1'));
  await admin.queueMessageForOffline(message('q3'), 'o5');
  await attempt('depth', () => r.getQueueDepth('o5'));
  await attempt('daemon events', async () => {
    const events = await r.readDaemonEvents('d4');
    await r.acknowledgeDaemonEvents('d4', events.map((e) => e.id));
  });
  await attempt('unregister', () => r.unregisterSession('o1'));

  // Several sessions, broadcast.
  const [b, multiAdmin] = pair(multiple);
  await multiAdmin.registerSession('o6', session('s6a', 'd6a'));
  await multiAdmin.registerSession('o6', session('s6b', 'd6b'));
  await attempt('register another', () => b.registerSession('o6', session('s6c', 'd6c')));
  await attempt('broadcast', () => b.routeMessage(message('b1'), 'o6'));
  await multiAdmin.queueMessageForOffline(message('b2'), 'o6');
  await attempt('broadcast drain', () => b.processQueuedMessages('o6'));
  await attempt('named heartbeat', () => b.updateSessionActivity('o6', 's6a'));
  await attempt('unregister one', () => b.unregisterSession('o6', 's6b'));

  // Receipts: acknowledged; overdue, redelivered, then dead-lettered; dead letters requeued.
  const [c, receiptsAdmin] = pair({ ...receipts, retry: { ...retry, maxAttempts: 2 } });
  // A route that keeps a receipt writes more than one that does not.
  await receiptsAdmin.registerSession('o9', session('s9', 'd9'));
  await attempt('route with a receipt', () => c.routeMessage(message('r0'), 'o9'));
  await receiptsAdmin.registerSession('o7', session('s7', 'd7'));
  await receiptsAdmin.routeMessage(message('r1'), 'o7');
  await attempt('acknowledge', () => c.acknowledge('o7', ['r1']));
  await receiptsAdmin.routeMessage(message('r2'), 'o7');
  /** Waits until `messageId`'s receipt of `orch` is overdue (its deadline has passed). */
  const overdue = (orch: string, messageId: string) =>
    waitFor(async () => {
      const deadline = await plainClient(server.url).zscore(`${keyPrefix}routing:receipts:${orch}`, messageId);
      return deadline !== null && Number(deadline) < Date.now();
    }, `${messageId} to be overdue`);
  await attempt('redeliver and dead-letter', async () => {
    // Overdue once: redelivered; overdue again: dead-lettered (maxAttempts 2). A drain settles
    // what is overdue before anything else.
    await overdue('o7', 'r2');
    await c.processQueuedMessages('o7');
    await overdue('o7', 'r2');
    await c.processQueuedMessages('o7');
  });
  const [, deadAdmin] = pair({ ...receipts, retry: { ...retry, maxAttempts: 1 } });
  await deadAdmin.registerSession('o8', session('s8', 'd8'));
  await deadAdmin.routeMessage(message('r3'), 'o8');
  await waitFor(async () => {
    await deadAdmin.processQueuedMessages('o8');
    return (await deadAdmin.getDeadLetters('o8')).length === 1;
  }, 'r3 to be dead-lettered');
  await attempt('dead letters', () => c.getDeadLetters('o8'));
  await attempt('requeue dead letters', async () => {
    if ((await c.requeueDeadLetters('o8')) !== 1) throw new Error('r3 was not requeued');
  });
  return result;
}

describe('least privilege', () => {
  it('the README gives the exact ACL line the contract suite runs under', () => {
    const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
    expect(readme).toContain(`ACL SETUSER router on >password ${routerAclRules()}`);
    expect(readme).toContain(`\`${operatorAclRules()}\``);
  });

  it('with exactly the line, every operation succeeds', async () => {
    const { errors, done, receipts } = await exercise(await userWithout());
    expect(errors).toEqual([]);
    expect(done).toEqual([
      'route', 'batch', 'queue, dropping the oldest', 'register', 'drain', 'heartbeat', 'sessions', 'depth', 'daemon events', 'unregister',
      'register another', 'broadcast', 'broadcast drain', 'named heartbeat', 'unregister one',
      'route with a receipt', 'acknowledge', 'redeliver and dead-letter', 'dead letters', 'requeue dead letters',
    ]);
    expect(receipts).toEqual(['redelivered r2', 'dead-lettered r2']);
  });

  it.each(SPEED_COMMANDS)('without %s, every operation still succeeds: routes call their scripts by EVALSHA', async (command) => {
    const { errors, done } = await exercise(await userWithout([`+${command}`]));
    expect(errors).toEqual([]);
    expect(done).toHaveLength(20);
    // With the whole line, the user's router loaded the route functions it called.
    await exercise(await userWithout());
    const libraries = ((await plainClient(server.url).call('FUNCTION', 'LIST')) as unknown[][]).map((library) => String(library[1]).replace(/_[0-9a-f]{12}$/, ''));
    expect(libraries.sort()).toEqual(['orchestrator_router_route', 'orchestrator_router_route_batch', 'orchestrator_router_route_broadcast']);
  });

  it.each(ROUTER_COMMANDS.filter((command) => !SPEED_COMMANDS.includes(command)))('without %s, a step that needs it is refused whole, naming it', async (command) => {
    const { errors } = await exercise(await userWithout([`+${command}`]));
    // Nothing was refused half way (every step asks before its first write) ...
    expect(errors.filter((e) => REFUSED_MIDWAY.test(e))).toEqual([]);
    // ... and the command is needed: something was refused, naming it and what grants it.
    const named = errors.filter((e) => e.includes(`'${command}'`));
    expect(named).not.toEqual([]);
    expect(named.filter((e) => !e.includes("README's least-privilege ACL"))).toEqual([]);
  });

  it.each(['+lpush', '+expire', '+publish', '&daemon:*'])(
    'without %s, a route to an online orchestrator writes nothing, and succeeds once granted',
    async (rule) => {
      const orch = uid('orch');
      const daemon = uid('daemon');
      const keyPrefix = uid('acl') + ':';
      const admin = newRouter({ redis: server.url, keyPrefix });
      await admin.registerSession(orch, { id: 'sess', daemonId: daemon, status: 'active', createdAt: new Date() });
      const redis = plainClient(server.url);
      const before = (await redis.keys(`${keyPrefix}*`)).sort();

      const limited = newRouter({ redis: await userWithout([rule]), keyPrefix, retry: { maxAttempts: 2, initialDelayMs: 10, maxDelayMs: 20 } });
      const result = await limited.routeMessage(message('m1'), orch);
      expect(result).toMatchObject({ success: false, status: 'failed' });
      const named = rule === '+expire' || rule === '+lpush' ? `run '${rule.slice(1)}'` : `run 'publish' on channel 'daemon:${daemon}:events'`;
      expect(result.error).toContain(`may not ${named}, which the route step needs: refused before writing anything`);
      // No marker, no event, no list left without its TTL: nothing at all was written.
      expect((await redis.keys(`${keyPrefix}*`)).sort()).toEqual(before);

      expect(await admin.routeMessage(message('m1'), orch)).toMatchObject({ success: true, status: 'delivered' });
      expect((await admin.readDaemonEvents(daemon)).map((e) => e.payload.messageId)).toEqual(['m1']);
    },
  );

  describe('the operator tool', () => {
    /** A queue and a session for the tool to read, on the default key prefix of a fresh server state. */
    async function seed(): Promise<void> {
      await plainClient(server.url).flushall();
      const router = newRouter({ redis: server.url, keyPrefix: '' });
      await router.registerSession('o1', { id: 's1', daemonId: 'd1', status: 'active' });
      await router.queueMessageForOffline(message('m1'), 'o2');
    }

    it('reads with exactly its line', async () => {
      await seed();
      await plainClient(server.url).script('FLUSH');
      const url = await userWithout([], operatorAclRules());
      const inspect = await operatorTool(['inspect', 'o1', '--redis', url, '--json']);
      expect(inspect).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse(inspect.stdout)).toMatchObject({ online: true });
      const stats = await operatorTool(['stats', '--redis', url, '--json']);
      expect(stats).toMatchObject({ code: 0, stderr: '' });
      expect(stats.stdout).toContain('"o2"');
    });

    it.each(OPERATOR_COMMANDS)('without %s, fails naming it', async (command) => {
      await seed();
      await plainClient(server.url).script('FLUSH');
      const url = await userWithout([`+${command}`], operatorAclRules());
      const runs = [await operatorTool(['inspect', 'o1', '--redis', url]), await operatorTool(['stats', '--redis', url])];
      const failed = runs.filter((run) => run.code !== 0);
      expect(failed.map((run) => run.code)).toContain(1);
      expect(failed.map((run) => run.stderr).join('\n')).toContain(`'${command}'`);
    });
  });
});
