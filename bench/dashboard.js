'use strict';
// What the dashboard costs with a fleet: N orchestrators (10,000 unless BENCH_ORCHESTRATORS says)
// written by a router as it would write them (70 % online with a session and two messages
// delivered, whose markers the read must not fetch; the others offline with 1 to 5 queued
// messages), then: one read of every orchestrator (what the dashboard does
// every --interval) in time, bytes and Redis commands; and what one poll of the page costs the
// server (a page of 50 rows, and a search), over HTTP. `npm run bench:dashboard`.

const { createOrchestratorRouter } = require('..');
const { Observer } = require('../lib/native').loadBinding();
const { createDashboard } = require('../lib/dashboard/server');
const { median, percentile, nowUs, concurrent } = require('./measure');
const { startPrivateRedis } = require('../scripts/redis-server');
const Redis = require('ioredis');

const N = Number(process.env.BENCH_ORCHESTRATORS || 10_000);
const READS = 7;
const POLLS = 200;

/** Redis's command counts and the CPU time they took (µs), by command name. */
async function commandCalls(client) {
  const calls = {};
  for (const line of (await client.info('commandstats')).split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (match) calls[match[1]] = { calls: Number(match[2]), usec: Number(match[3]) };
  }
  return calls;
}

async function main() {
  const server = await startPrivateRedis();
  const client = new Redis(server.url);
  const prefix = 'bench:d:';
  const router = createOrchestratorRouter({ redis: server.url, keyPrefix: prefix });
  const started = nowUs();
  const ids = Array.from({ length: N }, (_, i) => `orch_${String(i).padStart(5, '0')}`);
  let queued = 0;
  let next = 0;
  await concurrent(N, 128, async () => {
    const i = next++;
    const id = ids[i];
    if (i % 10 < 7) {
      await router.registerSession(id, { id: `s_${i}`, daemonId: `d_${i}`, status: 'active' });
      for (let m = 0; m < 2; m++) await router.routeMessage({ id: `m_${i}_${m}`, channelId: 'c', content: 'x'.repeat(100) }, id);
    } else {
      const n = 1 + (i % 5);
      for (let m = 0; m < n; m++) {
        await router.queueMessageForOffline({ id: `m_${i}_${m}`, channelId: 'c', content: 'x'.repeat(100), priority: ['high', 'normal', 'low'][m % 3] }, id);
      }
      queued += n;
    }
  });
  await router.close();
  const keys = await client.dbsize();
  console.log(`bench:dashboard: ${N.toLocaleString('en-US')} orchestrators (${queued.toLocaleString('en-US')} queued messages, ${keys.toLocaleString('en-US')} keys with the delivered markers and daemon lists) written in ${((nowUs() - started) / 1e6).toFixed(1)} s`);

  // One read of every orchestrator, as the dashboard makes every --interval.
  const observer = new Observer(JSON.stringify({ url: server.url }), prefix, 10_000);
  const times = [];
  let bytes = 0;
  const before = await commandCalls(client);
  for (let r = 0; r < READS; r++) {
    const t = nowUs();
    const json = await observer.overview();
    times.push((nowUs() - t) / 1000);
    bytes = json.length;
    const rows = JSON.parse(json).orchestrators.length;
    if (rows !== N) throw new Error(`the overview listed ${rows} orchestrators, not ${N}`);
  }
  const after = await commandCalls(client);
  const perRead = (name, field = 'calls') => ((after[name]?.[field] ?? 0) - (before[name]?.[field] ?? 0)) / READS;
  console.log(`\none read of every orchestrator (${READS} reads)`);
  console.log(`  time     median ${median(times).toFixed(0)} ms, max ${Math.max(...times).toFixed(0)} ms`);
  console.log(`  size     ${(bytes / 1e6).toFixed(2)} MB of JSON from the binding (stays in the server)`);
  console.log(`  Redis    ${Math.round(perRead('evalsha')).toLocaleString('en-US')} EVALSHA (one read-only script per orchestrator) and ${Math.round(perRead('scan'))} SCAN per read,
           taking ${((perRead('evalsha', 'usec') + perRead('scan', 'usec')) / 1000).toFixed(0)} ms of Redis's CPU (INFO commandstats)`);

  // What one poll of the page costs the server, over HTTP.
  const { app, sampler } = createDashboard({ observer, source: server.url, prefix, intervalMs: 60_000, token: null, queueTtlMs: 86_400_000, hosts: ['127.0.0.1'], log: () => {} });
  await sampler.refresh();
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${app.server.address().port}`;
  for (const [name, query] of [['a page of 50, deepest first', '/api/overview'], ['a search (orch_012, 100 matches)', '/api/overview?search=orch_012'], ['a page sorted by id', '/api/overview?sort=id&page=7']]) {
    const polls = [];
    let size = 0;
    for (let i = 0; i < POLLS; i++) {
      const t = nowUs();
      const body = await (await fetch(base + query)).text();
      polls.push((nowUs() - t) / 1000);
      size = body.length;
    }
    polls.sort((a, b) => a - b);
    console.log(`\none poll: ${name}`);
    console.log(`  time     p50 ${percentile(polls, 50).toFixed(2)} ms, p99 ${percentile(polls, 99).toFixed(2)} ms   size ${(size / 1000).toFixed(1)} kB`);
  }
  await sampler.stop();
  await app.close();
  observer.close();
  client.disconnect();
  await server.stop();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
