'use strict';
// npm run bench: the native router side by side with the deployed algorithm (bench/baseline/),
// with BullMQ (`Queue.add`: one Lua script through ioredis, what a Neolith engineer might pick
// instead) and with what Redis itself allows, contenders alternating round by round so that
// machine drift hits all of them alike. Besides speed it measures what every router of a fleet
// shares: Redis's CPU per message (`INFO cpu`, user + sys, over each run). Prints a table with
// each target and whether it was reached, writes bench/results.json and draws bench/results.svg.
// Uses REDIS_URL, or starts a private redis-server.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const Redis = require('ioredis');
const { Queue } = require('bullmq');
const { createOrchestratorRouter } = require('..');
const { BaselineOrchestratorRouter } = require('./baseline/orchestrator-router');
const { startPrivateRedis, deleteKeys } = require('../scripts/redis-server');
const { drawChart } = require('./chart');
const { nowUs, percentile, median, sequential, concurrent } = require('./measure');
const { measureTracing } = require('./tracing');

const ROUNDS = Number(process.env.BENCH_ROUNDS || 3);
const SCALE = Number(process.env.BENCH_SCALE || 1);
const CONTENT = 'x'.repeat(100);

let sequence = 0;
const message = () => ({ id: `m${sequence++}`, channelId: 'chan', authorId: 'user', content: CONTENT, createdAt: new Date() });

function progress(text) {
  process.stderr.write(`  ${text}\n`);
}

/** Redis's CPU time so far (user + sys, µs): every router of a fleet shares it. */
async function redisCpuUs(admin) {
  const info = await admin.info('cpu');
  const read = (name) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)[1]);
  return (read('used_cpu_user') + read('used_cpu_sys')) * 1e6;
}

/** Runs `run`, answering its result and Redis's CPU per message over it (µs). */
async function perMessageCpu(admin, messages, run) {
  const before = await redisCpuUs(admin);
  const result = await run();
  return { result, cpu: ((await redisCpuUs(admin)) - before) / messages };
}

/** Queues `count` items for `orch` under `prefix` as the deployed service queues them. */
async function fillQueue(admin, prefix, orch, count, id) {
  const queuedAt = new Date().toISOString();
  const pipeline = admin.pipeline();
  for (let i = 0; i < count; i++) {
    pipeline.rpush(`${prefix}routing:queue:${orch}`, JSON.stringify({ messageId: id(i), channelId: 'chan', authorId: 'user', content: CONTENT, createdAt: queuedAt, queuedAt }));
  }
  await pipeline.exec();
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
  // BullMQ, one queue per orchestrator: Queue.add is one Lua script through ioredis.
  const bullConnection = new Redis(url, { maxRetriesPerRequest: null });
  const bull = new Queue('orch_on', { connection: bullConnection, prefix: 'bench:bull' });
  await bull.waitUntilReady();
  const floorSha = await admin.script('LOAD', "redis.call('SET', KEYS[1], ARGV[1]); redis.call('EXPIRE', KEYS[1], 60); return redis.call('STRLEN', KEYS[1])");
  const results = { machine: { cores: os.cpus().length, node: process.version, redis: redisVersion, rounds: ROUNDS }, scenarios: {} };

  // 1. One in flight.
  progress('routeMessage, one in flight');
  const single = { native: [], baseline: [], bullmq: [], floorP50: [], floorP99: [] };
  for (let round = 0; round < ROUNDS; round++) {
    single.native.push(...(await sequential(3000 * SCALE, () => native.routeMessage(message(), 'orch_on'))));
    single.baseline.push(...(await sequential(1500 * SCALE, () => baseline.routeMessage(message(), 'orch_on'))));
    single.bullmq.push(...(await sequential(3000 * SCALE, () => {
      const { id, channelId, authorId, content, createdAt } = message();
      return bull.add('message', { id, channelId, authorId, content, createdAt: createdAt.toISOString() });
    })));
    const floor = redisBenchmark(port, ['-c', '1', '-n', String(5000 * SCALE), 'EVALSHA', floorSha, '1', 'bench:floor', 'hello']);
    single.floorP50.push(floor.p50);
    single.floorP99.push(floor.p99);
    await admin.del('bench:n:daemon:events:daemon_on', 'bench:b:daemon:events:daemon_on');
  }
  for (const k of ['native', 'baseline', 'bullmq']) single[k].sort((a, b) => a - b);
  await bull.obliterate({ force: true });
  await bull.close();
  bullConnection.disconnect();
  results.scenarios.single = {
    title: 'routeMessage, one in flight (µs)',
    unit: 'µs',
    lowerIsBetter: true,
    rows: {
      native: { p50: percentile(single.native, 50), p99: percentile(single.native, 99) },
      baseline: { p50: percentile(single.baseline, 50), p99: percentile(single.baseline, 99) },
      'BullMQ Queue.add': { p50: percentile(single.bullmq, 50), p99: percentile(single.bullmq, 99) },
      'Redis floor': { p50: median(single.floorP50), p99: median(single.floorP99) },
    },
  };

  // 2. 256 in flight.
  progress('routeMessage, 256 in flight');
  const flight = { native: [], listening: [], baseline: [] };
  const flightP99 = { native: [], listening: [], baseline: [] };
  // Redis's CPU per routed message, by contender and messages in flight.
  const cpu = { native64: [], native256: [], baseline64: [], baseline256: [], batch: [], floor: [], drainNative: [], drainBaseline: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, router] of [['native', native], ['listening', nativeListening], ['baseline', baseline]]) {
      const total = (name === 'baseline' ? 10_000 : 30_000) * SCALE;
      const { result, cpu: perMessage } = await perMessageCpu(admin, total, () => concurrent(total, 256, () => router.routeMessage(message(), 'orch_on')));
      const { rate, samples } = result;
      samples.sort((a, b) => a - b);
      flight[name].push(rate);
      flightP99[name].push(percentile(samples, 99));
      if (name !== 'listening') cpu[`${name}256`].push(perMessage);
    }
    for (const [name, router] of [['native', native], ['baseline', baseline]]) {
      const total = (name === 'baseline' ? 5_000 : 20_000) * SCALE;
      cpu[`${name}64`].push((await perMessageCpu(admin, total, () => concurrent(total, 64, () => router.routeMessage(message(), 'orch_on')))).cpu);
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
    cpu.batch.push((await perMessageCpu(admin, calls * 1000, async () => {
      for (let c = 0; c < calls; c++) {
        await native.routeMessages(Array.from({ length: 1000 }, () => ({ message: message(), orchestratorId: 'orch_on' })));
      }
    })).cpu);
    batchRates.push((calls * 1000 * 1e6) / (nowUs() - t));
    await admin.del('bench:n:daemon:events:daemon_on');
    // The CPU floor: the same messages' three writes (the event pushed and published, the
    // delivered marker set), pipelined by a plain client, 1,000 messages per round trip.
    const floorClient = new Redis(url);
    cpu.floor.push((await perMessageCpu(admin, calls * 1000, async () => {
      for (let c = 0; c < calls; c++) {
        const pipeline = floorClient.pipeline();
        for (let i = 0; i < 1000; i++) {
          const m = message();
          const stamp = m.createdAt.toISOString();
          const event = JSON.stringify({ id: `evt_${m.id}`, type: 'message.received', daemonId: 'daemon_on', orchestratorId: 'orch_on', payload: { messageId: m.id, channelId: m.channelId, content: m.content, authorId: m.authorId, timestamp: stamp }, timestamp: stamp, requiresAck: true, priority: 2 });
          pipeline.lpush('bench:f:daemon:events:daemon_on', event);
          pipeline.publish('daemon:daemon_on:events', event);
          pipeline.set(`bench:f:routing:delivered:${m.id}`, JSON.stringify({ sessionId: 'sess', deliveredAt: stamp }), 'EX', 3600);
        }
        await pipeline.exec();
      }
    })).cpu);
    floorClient.disconnect();
    await admin.del('bench:f:daemon:events:daemon_on');
    // The same script, pipelined 1,000 deep by one plain client, with a fresh message id each time.
    const now = Date.now();
    const event = JSON.stringify({ id: 'evt_1_00000000', type: 'message.received', daemonId: 'daemon_on', orchestratorId: 'orch_on', payload: { messageId: 'm', channelId: 'chan', content: CONTENT, authorId: 'user', timestamp: new Date(now).toISOString() }, timestamp: new Date(now).toISOString(), requiresAck: true, priority: 2 });
    const item = JSON.stringify({ messageId: 'm', channelId: 'chan', authorId: 'user', content: CONTENT, createdAt: new Date(now).toISOString(), queuedAt: new Date(now).toISOString() });
    const marker = JSON.stringify({ sessionId: 'sess', deliveredAt: new Date(now).toISOString() });
    // The grouped layout (lib/route.lua's read_route_call): one message in one group.
    const floor = redisBenchmark(port, ['-c', '1', '-P', '1000', '-n', String(20_000 * SCALE), '-r', '100000000',
      'EVALSHA', routeSha, '9', 'bench:n:routing:session:orch_on', 'bench:f:routing:queue:orch_on', 'bench:f:daemon:events:daemon_on',
      'bench:f:routing:pending', 'bench:f:routing:inflight:orch_on', 'bench:f:routing:receipts:orch_on',
      'bench:f:routing:queue-high:orch_on', 'bench:f:routing:queue-low:orch_on', 'bench:f:routing:delivered:__rand_int__',
      '1', '1', '1000000000', '1000000', '1', '3600', '86400',
      'orch_on', 'sess', 'daemon_on', marker, 'daemon:daemon_on:events', String(now + 86_400_000), String(now), '0', String(now + 90_000_000), '0', '0', '0', '0',
      '1', event, item, '', 'm__rand_int__', '2']);
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

  // Redis's CPU per drained message: a backlog drained into a daemon list nobody reads (uncapped),
  // so that only the drain's own commands count.
  progress('Redis CPU of a drain');
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, prefix, count, router] of [
      ['drainNative', 'bench:cn:', 10_000, createOrchestratorRouter({ redis: url, keyPrefix: 'bench:cn:', daemonQueue: { maxEvents: 1e9 } })],
      ['drainBaseline', 'bench:cb:', 2_000, new BaselineOrchestratorRouter({ redis: new Redis(url, { keyPrefix: 'bench:cb:' }), offlineQueue: { maxQueueSize: 1e6 } })],
    ]) {
      const orch = `orch_cpu_${round}`;
      await fillQueue(admin, prefix, orch, count, (i) => `c${round}_${i}`);
      const { cpu: perMessage } = await perMessageCpu(admin, count, () =>
        router.registerSession(orch, { id: 'sess', daemonId: `daemon_cpu_${round}`, status: 'active', createdAt: new Date() }));
      // (The deployed algorithm trims the daemon list to 1,000 events: its queue is what tells.)
      if ((await admin.llen(`${prefix}routing:queue:${orch}`)) !== 0) throw new Error(`the ${name} drain left messages queued`);
      cpu[name].push(perMessage);
      if (router.close) await router.close();
      else router.redis.disconnect();
    }
  }
  const cpuRow = (values) => ({ 'µs per message': median(values) });
  results.scenarios.cpu = {
    title: "Redis's CPU per routed message (µs, INFO cpu user + sys over the run)",
    unit: 'µs',
    lowerIsBetter: true,
    rows: {
      'native, routeMessage, 64 in flight': cpuRow(cpu.native64),
      'native, routeMessage, 256 in flight': cpuRow(cpu.native256),
      'native, routeMessages, 1,000 per call': cpuRow(cpu.batch),
      'native, drain of 10,000': cpuRow(cpu.drainNative),
      'baseline, routeMessage, 64 in flight': cpuRow(cpu.baseline64),
      'baseline, routeMessage, 256 in flight': cpuRow(cpu.baseline256),
      'baseline, drain of 2,000': cpuRow(cpu.drainBaseline),
      'floor: LPUSH + PUBLISH + SET, pipelined': cpuRow(cpu.floor),
    },
  };

  // A drain keeping pace with its daemon: the daemon list capped at the default 1,000, a daemon
  // taking 1,000 events at a time and heartbeating after each take.
  progress('a drain keeping pace with a consuming daemon');
  const pace = { rate: [], received: [], heartbeats: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const prefix = 'bench:p:';
    const router = createOrchestratorRouter({ redis: url, keyPrefix: prefix });
    const orch = `orch_pace_${round}`;
    const daemon = `daemon_pace_${round}`;
    await fillQueue(admin, prefix, orch, 10_000, (i) => `p${round}_${i}`);
    const consumer = new Redis(url);
    const got = [];
    const started = nowUs();
    await router.registerSession(orch, { id: 'sess', daemonId: daemon, status: 'active', createdAt: new Date() });
    while (got.length < 10_000) {
      const events = await consumer.rpop(`${prefix}daemon:events:${daemon}`, 1000);
      if (!events) continue;
      for (const e of events) got.push(JSON.parse(e).payload.messageId);
      if (got.length < 10_000) {
        const t = nowUs();
        await router.updateSessionActivity(orch);
        pace.heartbeats.push(nowUs() - t);
      }
    }
    pace.rate.push((10_000 * 1e6) / (nowUs() - started));
    if (got.some((id, i) => id !== `p${round}_${i}`)) throw new Error('the paced drain delivered out of order');
    pace.received.push(got.length);
    consumer.disconnect();
    await router.close();
  }
  pace.heartbeats.sort((a, b) => a - b);
  results.scenarios.pace = {
    title: 'a drain of 10,000 keeping pace with a daemon (list capped at 1,000, the daemon takes 1,000 at a time and heartbeats)',
    unit: 'messages/s',
    rows: {
      native: { rate: median(pace.rate), received: Math.min(...pace.received) },
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

  // Heartbeats of an orchestrator whose drain is paced by a full daemon list that nobody takes from.
  progress('updateSessionActivity while a drain is paced by a full daemon list');
  const heartbeats = [];
  // The reference: heartbeats of an orchestrator with no backlog, whose heartbeat starts no drain.
  const idleHeartbeats = [];
  for (let round = 0; round < ROUNDS; round++) {
    const prefix = 'bench:h:';
    const router = createOrchestratorRouter({ redis: url, keyPrefix: prefix });
    const orch = `orch_hb_${round}`;
    await fillQueue(admin, prefix, orch, 5_000, (i) => `h${round}_${i}`);
    await router.registerSession(orch, { id: 'sess', daemonId: `daemon_hb_${round}`, status: 'active', createdAt: new Date() });
    heartbeats.push(...(await sequential(2000 * SCALE, () => router.updateSessionActivity(orch))));
    await router.registerSession(`${orch}_idle`, { id: 'sess', daemonId: `daemon_hb_idle_${round}`, status: 'active', createdAt: new Date() });
    idleHeartbeats.push(...(await sequential(2000 * SCALE, () => router.updateSessionActivity(`${orch}_idle`))));
    await router.close();
  }
  heartbeats.sort((a, b) => a - b);
  idleHeartbeats.sort((a, b) => a - b);
  results.scenarios.register = {
    title: 'registerSession (empty queue) and updateSessionActivity (µs)',
    unit: 'µs',
    lowerIsBetter: true,
    rows: {
      'native registerSession': { p50: percentile(register.native, 50) },
      'baseline registerSession': { p50: percentile(register.baseline, 50) },
      'native updateSessionActivity, no backlog (no drain)': { p50: percentile(idleHeartbeats, 50), p99: percentile(idleHeartbeats, 99) },
      'native updateSessionActivity, drain paced by a full daemon list': { p50: percentile(heartbeats, 50), p99: percentile(heartbeats, 99) },
      'native updateSessionActivity, drain keeping pace with its daemon': { p50: percentile(pace.heartbeats, 50), p99: percentile(pace.heartbeats, 99) },
    },
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

  // OpenTelemetry: a tracer provider registered or not.
  progress('routeMessage and OpenTelemetry');
  results.scenarios.tracing = await measureTracing({ url, rounds: ROUNDS, scale: SCALE, message, progress });

  // Targets, as ratios within this run.
  const s = results.scenarios;
  const c = s.cpu.rows;
  const cpuOf = (row) => c[row]['µs per message'];
  const floorCpu = cpuOf('floor: LPUSH + PUBLISH + SET, pipelined');
  const registerP50 = s.register.rows['native registerSession'].p50;
  const targets = [
    ['Redis CPU, 64 in flight: native ≤ 1/8 of baseline', cpuOf('baseline, routeMessage, 64 in flight') / cpuOf('native, routeMessage, 64 in flight'), (r) => r >= 8, (r) => `1/${r.toFixed(1)}`],
    ['Redis CPU, 256 in flight: native ≤ 1/8 of baseline', cpuOf('baseline, routeMessage, 256 in flight') / cpuOf('native, routeMessage, 256 in flight'), (r) => r >= 8, (r) => `1/${r.toFixed(1)}`],
    ['Redis CPU, batches: native ≤ 1/12 of baseline (64 in flight)', cpuOf('baseline, routeMessage, 64 in flight') / cpuOf('native, routeMessages, 1,000 per call'), (r) => r >= 12, (r) => `1/${r.toFixed(1)}`],
    ['Redis CPU, 64 in flight: native ≤ 2 × floor', cpuOf('native, routeMessage, 64 in flight') / floorCpu, (r) => r <= 2, (r) => `${r.toFixed(2)} ×`],
    ['Redis CPU, 256 in flight: native ≤ 2 × floor', cpuOf('native, routeMessage, 256 in flight') / floorCpu, (r) => r <= 2, (r) => `${r.toFixed(2)} ×`],
    ['Redis CPU, batches: native ≤ 2 × floor', cpuOf('native, routeMessages, 1,000 per call') / floorCpu, (r) => r <= 2, (r) => `${r.toFixed(2)} ×`],
    ['Redis CPU, drain: native ≤ 2 × floor', cpuOf('native, drain of 10,000') / floorCpu, (r) => r <= 2, (r) => `${r.toFixed(2)} ×`],
    ['one in flight: native p50 ≤ 0.8 × BullMQ Queue.add p50', s.single.rows.native.p50 / s.single.rows['BullMQ Queue.add'].p50, (r) => r <= 0.8, (r) => `${r.toFixed(2)} ×`],
    ['one in flight: native p50 ≤ 1.4 × Redis floor', s.single.rows.native.p50 / s.single.rows['Redis floor'].p50, (r) => r <= 1.4, (r) => `${r.toFixed(2)} ×`],
    ['one in flight: native p50 ≥ 5 × lower than baseline', s.single.rows.baseline.p50 / s.single.rows.native.p50, (r) => r >= 5, (r) => `${r.toFixed(2)} ×`],
    ['256 in flight: native ≥ 8 × baseline (no listener)', s.inFlight.rows['native, no listener'].rate / s.inFlight.rows.baseline.rate, (r) => r >= 8, (r) => `${r.toFixed(2)} ×`],
    ['256 in flight: native ≥ 8 × baseline (with listener)', s.inFlight.rows['native, message.routed listener'].rate / s.inFlight.rows.baseline.rate, (r) => r >= 8, (r) => `${r.toFixed(2)} ×`],
    ['batch: routeMessages ≥ 60 % of the pipelined floor', s.batch.rows['native routeMessages'].rate / s.batch.rows['Redis floor (route script, pipelined)'].rate, (r) => r >= 0.6, (r) => `${(r * 100).toFixed(0)} %`],
    ['drain: native ≥ 50 × baseline rate', s.drain.rows.native.rate / s.drain.rows.baseline.rate, (r) => r >= 50, (r) => `${r.toFixed(1)} ×`],
    ['drain: the daemon gets all 10,000 in order', s.drain.rows.native.received, (r) => r === 10_000, (r) => String(r)],
    ['drain keeping pace with its daemon: ≥ 50,000 /s', s.pace.rows.native.rate, (r) => r >= 50_000, (r) => `${Math.round(r).toLocaleString('en-US')} /s`],
    ['drain keeping pace: the daemon gets all 10,000 in order', s.pace.rows.native.received, (r) => r === 10_000, (r) => String(r)],
    ['heartbeat, drain paced: p99 ≤ 2 × registerSession p50', s.register.rows['native updateSessionActivity, drain paced by a full daemon list'].p99 / registerP50, (r) => r <= 2, (r) => `${r.toFixed(2)} ×`],
    ['heartbeat, drain keeping pace: p99 ≤ 2 × registerSession p50', s.register.rows['native updateSessionActivity, drain keeping pace with its daemon'].p99 / registerP50, (r) => r <= 2, (r) => `${r.toFixed(2)} ×`],
    ['memory: ≤ 500 bytes per queued message', s.memory.rows['native, per queued message (100-byte content)'].bytes, (r) => r <= 500, (r) => `${r} B`],
    ['memory: ≤ 200 bytes per session', s.memory.rows['native, per session'].bytes, (r) => r <= 200, (r) => `${r} B`],
    // No measurable change without a provider: the per-call check against one route's p50.
    ['no tracer provider: the check ≤ 0.1 % of a route (one in flight p50)', s.tracing.checkNs / 1000 / s.tracing.rows['native, no tracer provider registered'].p50, (r) => r <= 0.001, (r) => `${(r * 100).toFixed(3)} % (${s.tracing.checkNs.toFixed(0)} ns)`],
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
  for (const t of results.targets) console.log(`  ${t.met ? 'met   ' : 'MISSED'}  ${t.target.padEnd(62)} ${t.reached}`);

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
  // Routers and clients still open would keep the process (and its redis-server) alive.
  process.exit(1);
});
