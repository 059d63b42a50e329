'use strict';
// A router in a process of its own, for the reliability scenarios: started with one JSON
// argument, it prints one JSON line per result so that the test can account for every message.
//
//   { "role": "load", "redis", "keyPrefix", "name", "orchestrators": [...], "count", "churnEvery" }
//       routes `count` messages round-robin over the orchestrators (awaiting each), and every
//       `churnEvery` messages unregisters or re-registers one orchestrator's session.
//   { "role": "drain", "redis", "keyPrefix", "orchestrator", "daemon", "batchDelayMs",
//     "drainIntervalMs" (default 20), "hangAfter" (default: never) }
//       registers the orchestrator's session (which drains its queue), re-reading each batch
//       through a message service that takes `batchDelayMs` (and, past `hangAfter` look-ups,
//       never answers: the drain stays stuck mid-backlog), then idles until killed. Each look-up
//       prints { lookup } when it begins and { batch } when it answers.
//   { "role": "stream", "redis" (a URL or { sentinels, name }), "keyPrefix", "name",
//     "orchestrators": [...], "loops" (default 4), "durability" (optional, as the router takes it),
//     "deliveryTimeoutMs" (default 1000), "retry" (default 60 attempts 100 ms apart: enough to
//     outlast a failover) }
//       routes continuously until SIGTERM on `loops` concurrent loops, each awaiting its own
//       routes, round-robin over the orchestrators; ids are `<name>:<loop>:<orch>:<seq>` with seq
//       counting that loop's messages (so that each loop's messages to one orchestrator have
//       increasing seqs). Prints { ready: true } once the router is built, then one line per result:
//       { id, orchestrator, success, status, durable, attempts, error, started, at } (started and at:
//       Date.now() when the call was made and when it resolved), and { routingError, error, at } for
//       each failed attempt (message.routing_error). On SIGTERM each loop finishes the call it has
//       in flight, the router closes, and it prints { done: true }.

const { createOrchestratorRouter } = require('../..');

const spec = JSON.parse(process.argv[2]);
const print = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);

/** A router on the spec's Redis and prefix whose queues and daemon lists never cap what a scenario counts. */
function makeRouter(config) {
  return createOrchestratorRouter({
    redis: spec.redis,
    keyPrefix: spec.keyPrefix,
    offlineQueue: { maxQueueSize: 1_000_000 },
    daemonQueue: { maxEvents: 1_000_000 },
    ...config,
  });
}

async function load() {
  const router = makeRouter({ retry: { maxAttempts: 5, initialDelayMs: 20, maxDelayMs: 200 }, drainIntervalMs: 20 });
  router.on('message.dropped', (e) => print({ dropped: e.messageId, reason: e.reason }));
  const online = new Set();
  for (let i = 0; i < spec.count; i++) {
    const orchestrator = spec.orchestrators[i % spec.orchestrators.length];
    if (spec.churnEvery && i % spec.churnEvery === 0) {
      const target = spec.orchestrators[(i / spec.churnEvery) % spec.orchestrators.length];
      if (online.has(target)) {
        await router.unregisterSession(target);
        online.delete(target);
      } else {
        await router.registerSession(target, { id: `${spec.name}_${i}`, daemonId: `daemon_${target}`, status: 'active' });
        online.add(target);
      }
    }
    const id = `${spec.name}:${orchestrator}:${String(i).padStart(6, '0')}`;
    const message = { id, channelId: 'chan', authorId: spec.name, content: `message ${i}`, createdAt: new Date() };
    const result = await router.routeMessage(message, orchestrator);
    print({ id, orchestrator, status: result.status, success: result.success });
  }
  await router.close();
  print({ done: true });
}

async function drain() {
  const router = makeRouter({ drainIntervalMs: spec.drainIntervalMs ?? 20 });
  let lookups = 0;
  router.setMessageService({
    getMessagesByIds: async (ids) => {
      lookups += 1;
      print({ lookup: lookups });
      if (spec.hangAfter !== undefined && lookups > spec.hangAfter) await new Promise(() => undefined);
      await new Promise((r) => setTimeout(r, spec.batchDelayMs));
      print({ batch: ids.length });
      return ids.map((id) => ({ id, content: `content of ${id}` }));
    },
  });
  await router.registerSession(spec.orchestrator, { id: 'sess_dying', daemonId: spec.daemon, status: 'active' });
  print({ registered: true });
}

async function stream() {
  const router = makeRouter({
    deliveryTimeoutMs: spec.deliveryTimeoutMs ?? 1000,
    retry: spec.retry ?? { maxAttempts: 60, initialDelayMs: 100, backoffMultiplier: 1 },
    ...(spec.durability ? { durability: spec.durability } : {}),
  });
  router.on('message.dropped', (e) => print({ dropped: e.messageId, reason: e.reason }));
  router.on('message.routing_error', (e) => print({ routingError: e.messageId, error: e.error, at: Date.now() }));
  let stopping = false;
  process.on('SIGTERM', () => {
    stopping = true;
  });
  print({ ready: true });
  const loop = async (lane) => {
    for (let seq = 0; !stopping; seq++) {
      const orchestrator = spec.orchestrators[(seq + lane) % spec.orchestrators.length];
      const id = `${spec.name}:${lane}:${orchestrator}:${seq}`;
      const message = { id, channelId: 'chan', authorId: spec.name, content: `message ${seq} of loop ${lane}`, createdAt: new Date() };
      const started = Date.now();
      const result = await router.routeMessage(message, orchestrator);
      const { success, status, durable, attempts, error } = result;
      print({ id, orchestrator, success, status, durable, attempts, error, started, at: Date.now() });
    }
  };
  await Promise.all(Array.from({ length: spec.loops ?? 4 }, (_, lane) => loop(lane)));
  await router.close();
  print({ done: true });
}

const roles = { load, drain, stream };
roles[spec.role]().catch((error) => {
  print({ error: String(error && error.stack) });
  process.exit(1);
});
