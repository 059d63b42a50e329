'use strict';
// What the scripts' least-privilege check (`refused` in src/store/lua/lib/acl.lua) costs Redis:
// the route script with it and with it cut out, alternating, each round 100,000 delivering calls
// pipelined 100 deep by redis-benchmark, timed by Redis itself (INFO commandstats usec_per_call).
// The check runs once per script call: a single route pays it, a batch of any size pays it once.
// Uses REDIS_URL, or starts a private redis-server. Run: node bench/acl-check.js [rounds]

const { execFileSync } = require('node:child_process');
const Redis = require('ioredis');
const { startPrivateRedis } = require('../scripts/redis-server');

const ROUNDS = Number(process.argv[2] || 5);
const CALLS = 100_000;

// The route script exactly as the addon loads it (the binding hands out its source).
const WITH_CHECK = require('../lib/native').loadBinding().routeScriptSource();
const CHECK = "local denied = refused('route', ROUTE_COMMANDS, channels)\nif denied then return denied end\n";
const WITHOUT_CHECK = WITH_CHECK.replace(CHECK, '');
if (WITHOUT_CHECK === WITH_CHECK) throw new Error('the route script no longer holds the check this benchmark cuts out');

/** Redis's µs per call of the script `source` over CALLS delivering routes, and how many it delivered. */
async function measure(admin, port, source) {
  await admin.flushall();
  const sha = await admin.script('LOAD', source);
  const now = Date.now();
  const iso = new Date(now).toISOString();
  await admin.set('b:routing:session:o', JSON.stringify({ sessionId: 'sess', daemonId: 'daemon', status: 'active', lastActiveAt: iso, createdAt: iso }));
  const event = JSON.stringify({ id: 'evt_1_00000000', type: 'message.received', daemonId: 'daemon', orchestratorId: 'o', payload: { messageId: 'm', channelId: 'chan', content: 'hello', authorId: 'user', timestamp: iso }, timestamp: iso, requiresAck: true, priority: 2 });
  const item = JSON.stringify({ messageId: 'm', channelId: 'chan', authorId: 'user', content: 'hello', createdAt: iso, queuedAt: iso });
  const marker = JSON.stringify({ sessionId: 'sess', deliveredAt: iso });
  await admin.config('RESETSTAT');
  // KEYS and ARGV as route.lua documents them; each call a new message id (its marker key).
  execFileSync('redis-benchmark', ['-p', String(port), '-c', '1', '-P', '100', '-n', String(CALLS), '-r', '100000000', '-q',
    'EVALSHA', sha, '9', 'b:routing:session:o', 'b:routing:queue:o', 'b:routing:delivered:__rand_int__',
    'b:daemon:events:daemon', 'b:routing:pending', 'b:routing:inflight:o', 'b:routing:receipts:o',
    'b:routing:queue-high:o', 'b:routing:queue-low:o',
    'o', 'sess', 'daemon', event, marker, 'daemon:daemon:events', item, '1000000000', '1000000', '1', '3600', '86400',
    String(now + 86_400_000), String(now), '0', String(now + 90_000_000), '0', '', '0', 'm__rand_int__', '0', '2'], { stdio: 'ignore' });
  const stats = await admin.info('commandstats');
  const usec = Number(/cmdstat_evalsha:calls=\d+,usec=\d+,usec_per_call=([\d.]+)/.exec(stats)[1]);
  return { usec, delivered: await admin.llen('b:daemon:events:daemon') };
}

async function main() {
  const server = process.env.REDIS_URL ? null : await startPrivateRedis();
  const url = process.env.REDIS_URL || server.url;
  const admin = new Redis(url);
  const port = Number(new URL(url).port || 6379);
  const runs = { with: [], without: [] };
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [name, source] of [['with', WITH_CHECK], ['without', WITHOUT_CHECK]]) {
        const { usec, delivered } = await measure(admin, port, source);
        if (delivered < CALLS * 0.99) throw new Error(`only ${delivered} of ${CALLS} calls delivered`);
        runs[name].push(usec);
        console.log(`round ${round}/${ROUNDS}, ${name} the check: ${usec.toFixed(2)} µs of Redis time per route call`);
      }
    }
  } finally {
    admin.disconnect();
    await server?.stop();
  }
  const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const [w, wo] = [median(runs.with), median(runs.without)];
  console.log(`median: ${w.toFixed(2)} µs with the check, ${wo.toFixed(2)} µs without: +${(w - wo).toFixed(2)} µs (+${((100 * (w - wo)) / wo).toFixed(0)} %) per call`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
