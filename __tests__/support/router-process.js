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

const { createOrchestratorRouter } = require('../..');

const spec = JSON.parse(process.argv[2]);
const print = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);

async function load() {
  const router = createOrchestratorRouter({
    redis: spec.redis,
    keyPrefix: spec.keyPrefix,
    offlineQueue: { maxQueueSize: 1_000_000 },
    daemonQueue: { maxEvents: 1_000_000 },
    retry: { maxAttempts: 5, initialDelayMs: 20, maxDelayMs: 200 },
    drainIntervalMs: 20,
  });
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
  const router = createOrchestratorRouter({
    redis: spec.redis,
    keyPrefix: spec.keyPrefix,
    daemonQueue: { maxEvents: 1_000_000 },
    offlineQueue: { maxQueueSize: 1_000_000 },
    drainIntervalMs: spec.drainIntervalMs ?? 20,
  });
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

(spec.role === 'load' ? load() : drain()).catch((error) => {
  print({ error: String(error && error.stack) });
  process.exit(1);
});
