'use strict';
// npm run bench: the native router side by side with the deployed algorithm (bench/baseline/)
// and with what Redis itself allows, contenders alternating round by round so that machine drift
// hits all of them alike. Prints a table, writes bench/results.json and draws bench/results.svg.
// Uses REDIS_URL, or starts a private redis-server.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const Redis = require('ioredis');
const { createOrchestratorRouter } = require('..');
const { BaselineOrchestratorRouter } = require('./baseline/orchestrator-router');
const { startPrivateRedis, deleteKeys } = require('../scripts/redis-server');
const { drawChart } = require('./chart');

const ROUNDS = Number(process.env.BENCH_ROUNDS || 3);
const SCALE = Number(process.env.BENCH_SCALE || 1);
const CONTENT = 'x'.repeat(100);

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const nowUs = () => Number(process.hrtime.bigint() / 1000n);
let sequence = 0;
const message = () => ({ id: `m${sequence++}`, channelId: 'chan', authorId: 'user', content: CONTENT, createdAt: new Date() });

function progress(text) {
  process.stderr.write(`  ${text}\n`);
}

/** Latencies (µs) of `n` sequential calls. */
async function sequential(n, call) {
  const samples = new Array(n);
  for (let i = 0; i < n; i++) {
    const t = nowUs();
    await call(i);
    samples[i] = nowUs() - t;
  }
  return samples;
}

/** Messages/s and latencies of `total` calls with `inFlight` at a time. */
async function concurrent(total, inFlight, call) {
  const samples = [];
  let next = 0;
  const started = nowUs();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < total) {
        next += 1;
        const t = nowUs();
        await call();
        samples.push(nowUs() - t);
      }
    }),
  );
  return { rate: (total * 1e6) / (nowUs() - started), samples };
}

/** redis-benchmark's figures for one command (CSV). */
function redisBenchmark(port, args) {
  const out = execFileSync('redis-benchmark', ['-p', String(port), '--csv', ...args], { encoding: 'utf8' });
  // The last seven fields: rps, avg, min, p50, p95, p99, max (the command itself may hold quotes).
  const row = /"([\d.]+)","([\d.]+)","([\d.]+)","([\d.]+)","([\d.]+)","([\d.]+)","([\d.]+)"\s*$/.exec(out);
  if (!row) throw new Error(`unreadable redis-benchmark output: ${out}`);
  return { rps: Number(row[1]), p50: Number(row[4]) * 1000, p99: Number(row[6]) * 1000 };
}

async function main() {
  const server = process.env.REDIS_URL ? null : await startPrivateRedis();
  const url = process.env.REDIS_URL || server.url;
  const port = Number(new URL(url).port || 6379);
  const admin = new Redis(url);
  const redisVersion = /redis_version:(\S+)/.exec(await admin.info('server'))[1];
  console.log(`bench: Redis ${redisVersion} at ${url}, ${os.cpus().length} cores, Node ${process.version}, ${ROUNDS} rounds per scenario`);

  const native = createOrchestratorRouter({ redis: url, keyPrefix: 'bench:n:', daemonQueue: { maxEvents: 1e9 }, offlineQueue: { maxQueueSize: 1e6 } });
  const nativeListening = createOrchestratorRouter({ redis: url, keyPrefix: 'bench:l:', daemonQueue: { maxEvents: 1e9 } });
  let routedEvents = 0;
  nativeListening.on('message.routed', () => { routedEvents += 1; });
  const baselineClient = new Redis(url, { keyPrefix: 'bench:b:' });
  const baseline = new BaselineOrchestratorRouter({ redis: baselineClient });
  for (const router of [native, nativeListening, baseline]) {
    await router.registerSession('orch_on', { id: 'sess', daemonId: 'daemon_on', status: 'active', createdAt: new Date() });
  }
  const floorSha = await admin.script('LOAD', "redis.call('SET', KEYS[1], ARGV[1]); redis.call('EXPIRE', KEYS[1], 60); return redis.call('STRLEN', KEYS[1])");
  const results = { machine: { cores: os.cpus().length, node: process.version, redis: redisVersion, rounds: ROUNDS }, scenarios: {} };

  // 1. One in flight.
  progress('routeMessage, one in flight');
  const single = { native: [], baseline: [], floorP50: [], floorP99: [] };
  for (let round = 0; round < ROUNDS; round++) {
    single.native.push(...(await sequential(3000 * SCALE, () => native.routeMessage(message(), 'orch_on'))));
    single.baseline.push(...(await sequential(1500 * SCALE, () => baseline.routeMessage(message(), 'orch_on'))));
    const floor = redisBenchmark(port, ['-c', '1', '-n', String(5000 * SCALE), 'EVALSHA', floorSha, '1', 'bench:floor', 'hello']);
    single.floorP50.push(floor.p50);
    single.floorP99.push(floor.p99);
    await admin.del('bench:n:daemon:events:daemon_on', 'bench:b:daemon:events:daemon_on');
  }
  for (const k of ['native', 'baseline']) single[k].sort((a, b) => a - b);
  results.scenarios.single = {
    title: 'routeMessage, one in flight (µs)',
    unit: 'µs',
    lowerIsBetter: true,
    rows: {
      native: { p50: percentile(single.native, 50), p99: percentile(single.native, 99) },
      baseline: { p50: percentile(single.baseline, 50), p99: percentile(single.baseline, 99) },
      'Redis floor': { p50: median(single.floorP50), p99: median(single.floorP99) },
    },
  };

  // 2. 256 in flight.
  progress('routeMessage, 256 in flight');
  const flight = { native: [], listening: [], baseline: [] };
  const flightP99 = { native: [], listening: [], baseline: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, router] of [['native', native], ['listening', nativeListening], ['baseline', baseline]]) {
      const total = (name === 'baseline' ? 10_000 : 30_000) * SCALE;
      const { rate, samples } = await concurrent(total, 256, () => router.routeMessage(message(), 'orch_on'));
      samples.sort((a, b) => a - b);
      flight[name].push(rate);
      flightP99[name].push(percentile(samples, 99));
    }
    await admin.del('bench:n:daemon:events:daemon_on', 'bench:l:daemon:events:daemon_on', 'bench:b:daemon:events:daemon_on');
  }
  results.scenarios.inFlight = {
    title: 'routeMessage, 256 in flight (messages/s)',
    unit: 'messages/s',
    rows: {
      'native, no listener': { rate: median(flight.native), p99: median(flightP99.native) },
      'native, message.routed listener': { rate: median(flight.listening), p99: median(flightP99.listening), events: routedEvents },
      baseline: { rate: median(flight.baseline), p99: median(flightP99.baseline) },
    },
  };

  // 3. Batches of 1,000.
  progress('batch routing, 1,000 messages per call');
  // The route script exactly as the addon loads it (the binding hands out its source).
  const routeScript = require('../lib/native').loadBinding().routeScriptSource();
  const routeSha = await admin.script('LOAD', routeScript);
  const batchRates = [];
  const floorBatch = [];
  for (let round = 0; round < ROUNDS; round++) {
    const calls = 20 * SCALE;
    const t = nowUs();
    for (let c = 0; c < calls; c++) {
      await native.routeMessages(Array.from({ length: 1000 }, () => ({ message: message(), orchestratorId: 'orch_on' })));
    }
    batchRates.push((calls * 1000 * 1e6) / (nowUs() - t));
    await admin.del('bench:n:daemon:events:daemon_on');
    // The same script, pipelined 1,000 deep by one plain client, with a fresh message id each time.
    const now = Date.now();
    const event = JSON.stringify({ id: 'evt_1_00000000', type: 'message.received', daemonId: 'daemon_on', orchestratorId: 'orch_on', payload: { messageId: 'm', channelId: 'chan', content: CONTENT, authorId: 'user', timestamp: new Date(now).toISOString() }, timestamp: new Date(now).toISOString(), requiresAck: true, priority: 2 });
    const item = JSON.stringify({ messageId: 'm', channelId: 'chan', authorId: 'user', content: CONTENT, createdAt: new Date(now).toISOString(), queuedAt: new Date(now).toISOString() });
    const marker = JSON.stringify({ sessionId: 'sess', deliveredAt: new Date(now).toISOString() });
    const floor = redisBenchmark(port, ['-c', '1', '-P', '1000', '-n', String(20_000 * SCALE), '-r', '100000000',
      'EVALSHA', routeSha, '9', 'bench:n:routing:session:orch_on', 'bench:f:routing:queue:orch_on', 'bench:f:routing:delivered:__rand_int__',
      'bench:f:daemon:events:daemon_on', 'bench:f:routing:pending', 'bench:f:routing:inflight:orch_on', 'bench:f:routing:receipts:orch_on',
      'bench:f:routing:queue-high:orch_on', 'bench:f:routing:queue-low:orch_on',
      'orch_on', 'sess', 'daemon_on', event, marker, 'daemon:daemon_on:events', item, '1000000000', '1000000', '1', '3600', '86400',
      String(now + 86_400_000), String(now), '0', String(now + 90_000_000), '0', '', '0', 'm__rand_int__', '0', '2']);
    floorBatch.push(floor.rps);
    await admin.del('bench:f:daemon:events:daemon_on');
  }
  results.scenarios.batch = {
    title: 'batch routing, 1,000 messages per call (messages/s)',
    unit: 'messages/s',
    rows: { 'native routeMessages': { rate: median(batchRates) }, 'Redis floor (route script, pipelined)': { rate: median(floorBatch) } },
  };

  // 4. Draining a backlog of 10,000 while a daemon consumes.
  progress('draining a backlog of 10,000');
  const drain = { native: [], baseline: [] };
  const received = { native: [], baseline: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, prefix, router] of [
      ['native', 'bench:dn:', createOrchestratorRouter({ redis: url, keyPrefix: 'bench:dn:' })],
      ['baseline', 'bench:db:', new BaselineOrchestratorRouter({ redis: new Redis(url, { keyPrefix: 'bench:db:' }), offlineQueue: { maxQueueSize: 1e6 } })],
    ]) {
      const orch = `orch_backlog_${round}`;
      const daemon = `daemon_backlog_${round}`;
      const queuedAt = new Date().toISOString();
      const pipeline = admin.pipeline();
      for (let i = 0; i < 10_000; i++) {
        pipeline.rpush(`${prefix}routing:queue:${orch}`, JSON.stringify({ messageId: `d${round}_${i}`, channelId: 'chan', authorId: 'user', content: CONTENT, createdAt: queuedAt, queuedAt }));
      }
      await pipeline.exec();
      const consumer = new Redis(url);
      const got = [];
      let registered = false;
      const started = nowUs();
      let finished = 0;
      const consuming = (async () => {
        for (;;) {
          const batch = await consumer.rpop(`${prefix}daemon:events:${daemon}`, 1000);
          if (batch) {
            for (const e of batch) got.push(JSON.parse(e).payload.messageId);
            if (got.length >= 10_000) break;
          } else if (registered && (await admin.llen(`${prefix}routing:queue:${orch}`)) === 0 && (await admin.llen(`${prefix}daemon:events:${daemon}`)) === 0) {
            break;
          }
        }
        finished = nowUs();
      })();
      await router.registerSession(orch, { id: 'sess', daemonId: daemon, status: 'active', createdAt: new Date() });
      registered = true;
      await consuming;
      consumer.disconnect();
      drain[name].push((got.length * 1e6) / (finished - started));
      received[name].push(got.length);
      if (name === 'native' && got.some((id, i) => id !== `d${round}_${i}`)) throw new Error('the native drain delivered out of order');
      if (router.close) await router.close();
      else router.redis.disconnect();
    }
  }
  results.scenarios.drain = {
    title: 'draining a backlog of 10,000 while the daemon consumes (messages/s)',
    unit: 'messages/s',
    rows: {
      native: { rate: median(drain.native), received: Math.min(...received.native) },
      baseline: { rate: median(drain.baseline), received: Math.min(...received.baseline) },
    },
  };

  // 5. registerSession with an empty queue.
  progress('registerSession, empty queue');
  const register = { native: [], baseline: [] };
  for (let round = 0; round < ROUNDS; round++) {
    register.native.push(...(await sequential(2000 * SCALE, (i) => native.registerSession(`orch_r${i}`, { id: `s${i}`, daemonId: `d${i}`, status: 'active', createdAt: new Date() }))));
    register.baseline.push(...(await sequential(2000 * SCALE, (i) => baseline.registerSession(`orch_r${i}`, { id: `s${i}`, daemonId: `d${i}`, status: 'active', createdAt: new Date() }))));
  }
  for (const k of ['native', 'baseline']) register[k].sort((a, b) => a - b);
  results.scenarios.register = {
    title: 'registerSession, empty queue (µs)',
    unit: 'µs',
    lowerIsBetter: true,
    rows: { native: { p50: percentile(register.native, 50) }, baseline: { p50: percentile(register.baseline, 50) } },
  };

  // 6. Memory.
  progress('Redis memory per queued message and per session');
  const memRouter = createOrchestratorRouter({ redis: url, keyPrefix: 'bench:m:', offlineQueue: { maxQueueSize: 1e6 } });
  for (let i = 0; i < 10; i++) {
    await memRouter.routeMessages(Array.from({ length: 1000 }, () => ({ message: message(), orchestratorId: 'orch_mem' })));
  }
  const queueBytes = Number(await admin.call('MEMORY', 'USAGE', 'bench:m:routing:queue:orch_mem', 'SAMPLES', '0'));
  let sessionBytes = 0;
  for (let i = 0; i < 1000; i++) {
    await memRouter.registerSession(`orch_mem_${i}`, { id: `sess_${i}_0123456789`, daemonId: `daemon_${i}_0123456789`, status: 'active', createdAt: new Date() });
  }
  for (let i = 0; i < 1000; i++) sessionBytes += Number(await admin.call('MEMORY', 'USAGE', `bench:m:routing:session:orch_mem_${i}`, 'SAMPLES', '0'));
  await memRouter.close();
  results.scenarios.memory = {
    title: 'Redis memory (bytes)',
    unit: 'bytes',
    lowerIsBetter: true,
    rows: {
      'native, per queued message (100-byte content)': { bytes: Math.round(queueBytes / 10_000) },
      'design document, per queued message': { bytes: 500 },
      'native, per session': { bytes: Math.round(sessionBytes / 1000) },
      'design document, per session': { bytes: 200 },
    },
  };

  // Targets, as ratios within this run.
  const s = results.scenarios;
  const targets = [
    ['one in flight: native p50 ≤ 1.6 × Redis floor', s.single.rows.native.p50 / s.single.rows['Redis floor'].p50, (r) => r <= 1.6, (r) => `${r.toFixed(2)} ×`],
    ['one in flight: native p50 ≥ 5 × lower than baseline', s.single.rows.baseline.p50 / s.single.rows.native.p50, (r) => r >= 5, (r) => `${r.toFixed(2)} ×`],
    ['256 in flight: native ≥ 8 × baseline (no listener)', s.inFlight.rows['native, no listener'].rate / s.inFlight.rows.baseline.rate, (r) => r >= 8, (r) => `${r.toFixed(2)} ×`],
    ['256 in flight: native ≥ 8 × baseline (with listener)', s.inFlight.rows['native, message.routed listener'].rate / s.inFlight.rows.baseline.rate, (r) => r >= 8, (r) => `${r.toFixed(2)} ×`],
    ['batch: routeMessages ≥ 60 % of the pipelined floor', s.batch.rows['native routeMessages'].rate / s.batch.rows['Redis floor (route script, pipelined)'].rate, (r) => r >= 0.6, (r) => `${(r * 100).toFixed(0)} %`],
    ['drain: native ≥ 50 × baseline rate', s.drain.rows.native.rate / s.drain.rows.baseline.rate, (r) => r >= 50, (r) => `${r.toFixed(1)} ×`],
    ['drain: the daemon gets all 10,000 in order', s.drain.rows.native.received, (r) => r === 10_000, (r) => String(r)],
    ['memory: ≤ 500 bytes per queued message', s.memory.rows['native, per queued message (100-byte content)'].bytes, (r) => r <= 500, (r) => `${r} B`],
    ['memory: ≤ 200 bytes per session', s.memory.rows['native, per session'].bytes, (r) => r <= 200, (r) => `${r} B`],
  ];
  results.targets = targets.map(([name, value, ok, show]) => ({ target: name, reached: show(value), met: ok(value) }));

  // The table.
  const fmt = (v) => (typeof v === 'number' ? (v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1)) : v);
  for (const scenario of Object.values(s)) {
    console.log(`\n${scenario.title}`);
    for (const [name, figures] of Object.entries(scenario.rows)) {
      console.log(`  ${name.padEnd(48)} ${Object.entries(figures).map(([k, v]) => `${k} ${fmt(v)}`).join('   ')}`);
    }
  }
  console.log('\ntargets');
  for (const t of results.targets) console.log(`  ${t.met ? 'met   ' : 'MISSED'}  ${t.target.padEnd(54)} ${t.reached}`);

  fs.writeFileSync(path.join(__dirname, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  fs.writeFileSync(path.join(__dirname, 'results.svg'), drawChart(results));
  console.log('\nwrote bench/results.json and bench/results.svg');

  await Promise.all([native.close(), nativeListening.close()]);
  baselineClient.disconnect();
  await deleteKeys(admin, 'bench:*');
  admin.disconnect();
  if (server) await server.stop();
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
