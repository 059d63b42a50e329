'use strict';
// npm run bench:durability: what `durability: { replicas: 1 }` costs. A private primary with one
// replica on this machine (so the replica's confirmation is a loopback round trip); the same
// calls without and with durability, alternating round by round (and which goes first) so that
// machine drift hits both alike. Prints a table of medians over the rounds.

const Redis = require('ioredis');
const { createOrchestratorRouter } = require('..');
const { startPrivateRedis } = require('../scripts/redis-server');
const { percentile, median, sequential, concurrent } = require('./measure');

const ROUNDS = Number(process.env.BENCH_ROUNDS || 5);
const SCALE = Number(process.env.BENCH_SCALE || 1);
let sequence = 0;
const message = () => ({ id: `m${sequence++}`, channelId: 'chan', authorId: 'user', content: 'x'.repeat(100), createdAt: new Date() });

async function main() {
  const primary = await startPrivateRedis();
  // Loaded from the socket, not through a dump.rdb written to the working directory.
  const replica = await startPrivateRedis(['--replicaof', '127.0.0.1', String(primary.port), '--repl-diskless-load', 'on-empty-db']);
  const admin = new Redis(primary.url);
  const replicaAdmin = new Redis(replica.url);
  while (!/master_link_status:up/.test(await replicaAdmin.info('replication'))) await new Promise((r) => setTimeout(r, 50));
  const limits = { daemonQueue: { maxEvents: 1e9 }, offlineQueue: { maxQueueSize: 1e6 } };
  const routers = {
    plain: createOrchestratorRouter({ redis: primary.url, keyPrefix: 'bench:p:', ...limits }),
    durable: createOrchestratorRouter({ redis: primary.url, keyPrefix: 'bench:d:', durability: { replicas: 1 }, ...limits }),
  };
  for (const router of Object.values(routers)) {
    await router.registerSession('orch_on', { id: 'sess', daemonId: 'daemon_on', status: 'active' });
  }
  console.log(`bench:durability: primary and 1 replica on loopback, ${ROUNDS} rounds, contenders alternating`);

  const figures = { plain: { single: [], singleP99: [], inFlight: [], batch: [], register: [] }, durable: { single: [], singleP99: [], inFlight: [], batch: [], register: [] } };
  for (let round = 0; round < ROUNDS; round++) {
    process.stderr.write(`  round ${round + 1} of ${ROUNDS}\n`);
    // Each contender goes first in every other round.
    const order = round % 2 === 0 ? Object.entries(routers) : Object.entries(routers).reverse();
    for (const [name, router] of order) {
      const f = figures[name];
      const single = (await sequential(2000 * SCALE, () => router.routeMessage(message(), 'orch_on'))).sort((a, b) => a - b);
      f.single.push(percentile(single, 50));
      f.singleP99.push(percentile(single, 99));
      f.inFlight.push((await concurrent(20_000 * SCALE, 256, () => router.routeMessage(message(), 'orch_on'))).rate);
      const batches = 10 * SCALE;
      const started = process.hrtime.bigint();
      for (let b = 0; b < batches; b++) await router.routeMessages(Array.from({ length: 1000 }, () => ({ message: message(), orchestratorId: 'orch_on' })));
      f.batch.push((batches * 1000 * 1e9) / Number(process.hrtime.bigint() - started));
      const register = (await sequential(1000 * SCALE, (i) => router.registerSession(`orch_r${i % 50}`, { id: `s${i}`, daemonId: `d${i % 50}`, status: 'active' }))).sort((a, b) => a - b);
      f.register.push(percentile(register, 50));
      await admin.del(`bench:${name[0]}:daemon:events:daemon_on`);
    }
  }

  const rows = [
    ['routeMessage, one in flight, p50 (µs)', 'single'],
    ['routeMessage, one in flight, p99 (µs)', 'singleP99'],
    ['routeMessage, 256 in flight (messages/s)', 'inFlight'],
    ['routeMessages, 1,000 per call (messages/s)', 'batch'],
    ['registerSession, p50 (µs)', 'register'],
  ];
  const rounded = (value) => Math.round(value).toLocaleString('en-US');
  console.log('| | without | with `durability: { replicas: 1 }` | ratio |\n|---|---|---|---|');
  for (const [title, key] of rows) {
    const [without, withIt] = [median(figures.plain[key]), median(figures.durable[key])];
    console.log(`| ${title} | ${rounded(without)} | ${rounded(withIt)} | ${(withIt / without).toFixed(2)} |`);
  }

  for (const router of Object.values(routers)) await router.close();
  admin.disconnect();
  replicaAdmin.disconnect();
  await replica.stop();
  await primary.stop();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
