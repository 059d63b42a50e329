// Run by leaks.test.ts in a child process: creates, uses and closes routers in a tight loop and
// prints the process's memory as JSON. Arguments: a JSON spec
// { redis, cycles, warmup, keepClosed, calls } — `redis` 'memory' means a fresh in-process store
// per cycle; `keepClosed` keeps every closed router referenced (what close() itself frees);
// `calls: false` only creates and closes, so that the event loop never turns inside the loop.
'use strict';
const { createOrchestratorRouter } = require('../../index.js');

const spec = JSON.parse(process.argv[2]);

function usage() {
  const { rss, heapUsed } = process.memoryUsage();
  return { rssMb: rss / 1e6, heapUsedMb: heapUsed / 1e6 };
}

async function cycle(i, kept) {
  const redis = spec.redis === 'memory' ? `memory://churn-${i}` : spec.redis;
  const router = createOrchestratorRouter({ redis, keyPrefix: `${spec.keyPrefix}:` });
  if (spec.calls === false) {
    await router.close();
    return;
  }
  await router.registerSession(`orch-${i}`, { id: 's', daemonId: `daemon-${i}` });
  const result = await router.routeMessage({ id: `m${i}`, channelId: 'c', content: 'hello' }, `orch-${i}`);
  if (result.status !== 'delivered') throw new Error(`cycle ${i}: the route was ${JSON.stringify(result)}`);
  await router.close();
  if (kept) kept.push(router);
}

(async () => {
  for (let i = 0; i < spec.warmup; i++) await cycle(i);
  global.gc();
  const before = usage();
  const kept = spec.keepClosed ? [] : null;
  for (let i = spec.warmup; i < spec.warmup + spec.cycles; i++) await cycle(i, kept);
  const after = usage();
  global.gc();
  const afterGc = usage();
  console.log(JSON.stringify({ before, after, afterGc, kept: kept ? kept.length : 0 }));
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
