'use strict';
// npm run bench:cluster: the same workloads on one redis-server and on a local Redis Cluster of
// three masters (all on this machine), to show what the cluster's extra steps cost: each delivery
// there is the step in the orchestrator's slot, a read of the daemon list's length before it and
// the move into the daemon's list after it.

const { createOrchestratorRouter } = require('..');
const { startPrivateRedis, startPrivateCluster } = require('../scripts/redis-server');

const ROUNDS = 2;
const ORCHESTRATORS = 64;
const CONTENT = 'x'.repeat(100);
let sequence = 0;
const message = () => ({ id: `m${sequence++}`, channelId: 'chan', authorId: 'user', content: CONTENT, createdAt: new Date() });
const micros = (since) => Number(process.hrtime.bigint() - since) / 1000;
const rate = (count, since) => Math.round(count / (micros(since) / 1e6));

/** One round of every workload on a fresh key prefix; the figures as a row. */
async function round(redis, label) {
  const router = createOrchestratorRouter({ redis, keyPrefix: `bench${sequence}:`, daemonQueue: { maxEvents: 1e9 }, offlineQueue: { maxQueueSize: 1e6 } });
  const orchestrators = Array.from({ length: ORCHESTRATORS }, (_, i) => `orch_${i}`);
  for (const [i, orch] of orchestrators.entries()) await router.registerSession(orch, { id: `s${i}`, daemonId: `daemon_${i}` });

  const samples = [];
  for (let i = 0; i < 5_000; i++) {
    const t = process.hrtime.bigint();
    await router.routeMessage(message(), orchestrators[i % ORCHESTRATORS]);
    samples.push(micros(t));
  }
  samples.sort((a, b) => a - b);
  const p = (q) => samples[Math.floor(samples.length * q)];

  // To an offline orchestrator: queued.
  const queued = [];
  for (let i = 0; i < 2_000; i++) {
    const t = process.hrtime.bigint();
    await router.routeMessage(message(), `offline_${i % 16}`);
    queued.push(micros(t));
  }
  queued.sort((a, b) => a - b);

  let next = 0;
  const total = 50_000;
  let t = process.hrtime.bigint();
  await Promise.all(Array.from({ length: 256 }, async () => {
    while (next < total) {
      const i = next++;
      await router.routeMessage(message(), orchestrators[i % ORCHESTRATORS]);
    }
  }));
  const inFlight = rate(total, t);

  t = process.hrtime.bigint();
  for (let b = 0; b < 20; b++) {
    await router.routeMessages(Array.from({ length: 1000 }, (_, i) => ({ message: message(), orchestratorId: orchestrators[i % ORCHESTRATORS] })));
  }
  const batches = rate(20_000, t);

  const offline = 'orch_drained';
  for (let b = 0; b < 10; b++) {
    await router.routeMessages(Array.from({ length: 1000 }, () => ({ message: message(), orchestratorId: offline })));
  }
  t = process.hrtime.bigint();
  await router.registerSession(offline, { id: 'sd', daemonId: 'daemon_drained' });
  while ((await router.getQueueDepth(offline)) > 0) await new Promise((r) => setTimeout(r, 1));
  const drain = rate(10_000, t);
  await router.close();
  return { label, p50: p(0.5).toFixed(0), p99: p(0.99).toFixed(0), queuedP50: queued[queued.length >> 1].toFixed(0), inFlight, batches, drain };
}

async function main() {
  const server = await startPrivateRedis();
  const cluster = await startPrivateCluster(3);
  try {
    console.log(`bench:cluster: Node ${process.version}; one redis-server against a cluster of 3 masters, all local; ${ORCHESTRATORS} orchestrators online`);
    console.log(`${'store, round'.padEnd(24)}${'routeMessage p50 / p99 (µs)'.padEnd(30)}${'queued p50 (µs)'.padEnd(18)}${'256 in flight (/s)'.padEnd(21)}${'routeMessages ×1000 (/s)'.padEnd(27)}drain of 10,000 (/s)`);
    for (let r = 1; r <= ROUNDS; r++) {
      for (const [redis, label] of [[server.url, 'one server'], [{ cluster: cluster.urls }, 'cluster of 3']]) {
        const row = await round(redis, label);
        const n = (x) => x.toLocaleString('en');
        console.log(`${`${row.label}, ${r}`.padEnd(24)}${`${row.p50} / ${row.p99}`.padEnd(30)}${row.queuedP50.padEnd(18)}${n(row.inFlight).padEnd(21)}${n(row.batches).padEnd(27)}${n(row.drain)}`);
      }
    }
  } finally {
    await Promise.all([server.stop(), cluster.stop()]);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
