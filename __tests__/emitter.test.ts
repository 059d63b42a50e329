// The router is an EventEmitter as Node's: removeAllListeners() with no argument removes every
// listener, and a listener that throws keeps the event from no other listener.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { EVENT_NAMES, OrchestratorRouterEventName } from '..';
import { closeAll, message, newRouter, record, uid } from './support/helpers';

afterEach(closeAll);

const ROOT = path.join(__dirname, '..');

/** Runs `script` in a child Node process from the package root; resolves what it printed as JSON. */
function runScript(script: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', script], { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`the child failed: ${error.message}\n${stdout}\n${stderr}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

describe('removeAllListeners', () => {
  it('with no argument removes the listeners of every event, router events and others alike', async () => {
    const router = newRouter();
    const seen: string[] = [];
    router.on('message.queued', () => seen.push('queued'));
    router.once('message.routed', () => seen.push('routed'));
    router.on('custom', () => seen.push('custom'));
    router.removeAllListeners();
    expect(router.eventNames()).toEqual(expect.not.arrayContaining(['message.queued', 'message.routed', 'custom']));
    for (const name of ['message.queued', 'message.routed', 'custom']) expect(router.listenerCount(name)).toBe(0);
    const orch = uid('orch');
    await router.routeMessage(message('m1'), orch);
    router.emit('custom');
    expect(seen).toEqual([]);
    // Listening again works: the router still hands out the events that have listeners.
    const queued = record(router, 'message.queued');
    await router.routeMessage(message('m2'), orch);
    expect(queued.map((e) => e.messageId)).toEqual(['m2']);
  });

  it('with an event name removes only that event\'s listeners', async () => {
    const router = newRouter();
    const queued = record(router, 'message.queued');
    router.on('message.routed', () => undefined);
    router.removeAllListeners('message.routed');
    expect(router.listenerCount('message.routed')).toBe(0);
    await router.routeMessage(message('m1'), uid('orch'));
    expect(queued).toHaveLength(1);
  });
});

describe('a listener that throws', () => {
  it('keeps the event from no other listener, and each exception surfaces as uncaughtException', async () => {
    // In a child process: the exceptions are uncaught on purpose, which a jest test must not see.
    const out = await runScript(`
      const { createOrchestratorRouter } = require('./index.js');
      const uncaught = [];
      process.on('uncaughtException', (error) => uncaught.push(error.message));
      (async () => {
        const router = createOrchestratorRouter({ redis: 'memory://throwing-listener', offlineQueue: { maxQueueSize: 2000 } });
        const calls = { first: 0, thrower: 0, after: 0, once: 0 };
        router.on('message.queued', () => { calls.first += 1; });
        router.on('message.queued', (event) => {
          calls.thrower += 1;
          if (calls.thrower % 10 === 0) throw new Error('listener failed on ' + event.messageId);
        });
        router.on('message.queued', () => { calls.after += 1; });
        router.once('message.queued', () => { calls.once += 1; });
        const items = Array.from({ length: 2000 }, (_, i) => ({ message: { id: 'm' + i, channelId: 'c', content: 'x' }, orchestratorId: 'orch' }));
        await router.routeMessages(items.slice(0, 1000));
        for (const item of items.slice(1000)) await router.routeMessage(item.message, item.orchestratorId);
        await router.close();
        // Let the exceptions queued for the next tick surface.
        await new Promise((resolve) => setImmediate(resolve));
        console.log(JSON.stringify({ calls, uncaught: uncaught.length, firstError: uncaught[0] }));
      })();`);
    expect(out).toEqual({ calls: { first: 2000, thrower: 2000, after: 2000, once: 1 }, uncaught: 200, firstError: 'listener failed on m9' });
  });
});

describe('event names', () => {
  it('are the ones index.d.ts types, as the binding names them', () => {
    // Every name of the declared union, each once (the compiler refuses a missing or extra one).
    const declared: Record<OrchestratorRouterEventName, true> = {
      'message.routed': true,
      'message.routing_failed': true,
      'message.routing_error': true,
      'message.queued': true,
      'message.dropped': true,
      'session.registered': true,
      'session.unregistered': true,
      'queue.processing_started': true,
      'queue.processing_completed': true,
      'message.acknowledged': true,
      'message.redelivered': true,
      'message.dead_lettered': true,
      'queue.processing_failed': true,
    };
    expect([...EVENT_NAMES].sort()).toEqual(Object.keys(declared).sort());
  });
});
