'use strict';
// npm run soak -- --seconds N: routes continuously over 1,000 orchestrators with session churn
// while a daemon consumer drains their event lists; prints messages/s, Node RSS and Redis memory
// every few seconds, and at the end the slope of both after warm-up. Exits non-zero on an
// unhandled rejection. Uses REDIS_URL, or starts a private redis-server.

const Redis = require('ioredis');
const { createOrchestratorRouter } = require('..');
const { startPrivateRedis, deleteKeys } = require('./redis-server');

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const SECONDS = option('seconds', 60);
const ORCHESTRATORS = option('orchestrators', 1000);
const LANES = option('lanes', 64);
const REPORT_EVERY_MS = option('report-every', Math.max(1, Math.min(5, SECONDS / 6))) * 1000;
const WARM_UP = 0.25;

let unhandled = 0;
process.on('unhandledRejection', (reason) => {
  unhandled += 1;
  console.error('unhandled rejection:', reason);
});

/** Least-squares slope of y over x. */
function slope(points) {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p[0], 0) / n;
  const my = points.reduce((s, p) => s + p[1], 0) / n;
  const num = points.reduce((s, p) => s + (p[0] - mx) * (p[1] - my), 0);
  const den = points.reduce((s, p) => s + (p[0] - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

async function main() {
  const server = process.env.REDIS_URL ? null : await startPrivateRedis();
  const url = process.env.REDIS_URL || server.url;
  const keyPrefix = `soak:${process.pid}:`;
  // Markers live 10 s instead of an hour so that Redis memory reaches its steady state within a soak.
  const router = createOrchestratorRouter({ redis: url, keyPrefix, deliveredMarkerTtlSeconds: 10 });
  const admin = new Redis(url);
  const counts = { delivered: 0, offline: 0, pending: 0, failed: 0, dropped: 0 };
  router.on('message.dropped', () => { counts.dropped += 1; });

  const orchestrators = Array.from({ length: ORCHESTRATORS }, (_, i) => `orch_${String(i).padStart(4, '0')}`);
  const online = new Set();
  for (const [i, orch] of orchestrators.entries()) {
    if (i % 2 === 0) {
      await router.registerSession(orch, { id: `s_${orch}_0`, daemonId: `daemon_${orch}` });
      online.add(orch);
    }
  }
  console.log(`soak: ${SECONDS} s over ${ORCHESTRATORS} orchestrators, ${LANES} in flight, Redis ${url}`);

  const started = Date.now();
  const end = started + SECONDS * 1000;
  let routed = 0;
  let sequence = 0;
  const content = 'x'.repeat(100);
  const lanes = Array.from({ length: LANES }, async () => {
    while (Date.now() < end) {
      const orch = orchestrators[Math.floor(Math.random() * ORCHESTRATORS)];
      const id = `m_${sequence++}`;
      const result = await router.routeMessage({ id, channelId: 'chan', authorId: 'soak', content, createdAt: new Date() }, orch);
      counts[result.status] += 1;
      routed += 1;
    }
  });
  const churn = (async () => {
    let n = 1;
    while (Date.now() < end) {
      const orch = orchestrators[Math.floor(Math.random() * ORCHESTRATORS)];
      if (online.has(orch)) {
        await router.unregisterSession(orch);
        online.delete(orch);
      } else {
        await router.registerSession(orch, { id: `s_${orch}_${n++}`, daemonId: `daemon_${orch}` });
        online.add(orch);
      }
      const beat = [...online][Math.floor(Math.random() * online.size)];
      if (beat) await router.updateSessionActivity(beat);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const consumer = (async () => {
    const daemonLists = orchestrators.map((o) => `${keyPrefix}daemon:events:daemon_${o}`);
    while (Date.now() < end) {
      const pipeline = admin.pipeline();
      for (const key of daemonLists) pipeline.rpop(key, 500);
      await pipeline.exec();
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  const samples = [];
  let lastRouted = 0;
  let lastAt = started;
  const reporter = setInterval(async () => {
    const now = Date.now();
    const info = await admin.info('memory');
    const redisMb = Number(/used_memory:(\d+)/.exec(info)[1]) / 1048576;
    const rssMb = process.memoryUsage().rss / 1048576;
    const rate = ((routed - lastRouted) * 1000) / (now - lastAt);
    lastRouted = routed;
    lastAt = now;
    const t = (now - started) / 1000;
    samples.push({ t, rssMb, redisMb, rate });
    console.log(`${t.toFixed(1).padStart(6)} s  ${Math.round(rate).toString().padStart(7)} msg/s  RSS ${rssMb.toFixed(1)} MB  Redis ${redisMb.toFixed(1)} MB`);
  }, REPORT_EVERY_MS);

  await Promise.all([...lanes, churn, consumer]);
  clearInterval(reporter);
  await router.close();

  const steady = samples.filter((s) => s.t >= SECONDS * WARM_UP);
  const rssSlope = slope(steady.map((s) => [s.t / 60, s.rssMb]));
  const redisSlope = slope(steady.map((s) => [s.t / 60, s.redisMb]));
  const elapsed = (Date.now() - started) / 1000;
  console.log('');
  console.log(`routed ${routed} messages in ${elapsed.toFixed(1)} s (${Math.round(routed / elapsed)} msg/s):`
    + ` ${counts.delivered} delivered, ${counts.offline} queued offline, ${counts.pending} queued pending, ${counts.failed} failed, ${counts.dropped} dropped (reported)`);
  console.log(`after ${Math.round(WARM_UP * 100)} % warm-up (${steady.length} samples): RSS slope ${rssSlope.toFixed(2)} MB/min, Redis memory slope ${redisSlope.toFixed(2)} MB/min`);
  console.log(`unhandled rejections: ${unhandled}`);

  await deleteKeys(admin, `${keyPrefix}*`);
  admin.disconnect();
  if (server) await server.stop();
  process.exitCode = unhandled > 0 || counts.failed > 0 ? 1 : 0;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
