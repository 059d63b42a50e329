'use strict';
// What OpenTelemetry tracing costs a route: the same router without a tracer provider and with
// one registered (the SDK's BasicTracerProvider, a BatchSpanProcessor and an exporter that drops
// what it is given, so that the figures are the router's and the SDK's, not an exporter's),
// alternating round by round; and what a call pays to find that no provider is registered.
// `npm run bench` runs it as one of its scenarios; `npm run bench:tracing` runs it alone.

const { trace } = require('@opentelemetry/api');
const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { createOrchestratorRouter } = require('..');
const tracing = require('../lib/tracing');
const { nowUs, percentile, median, sequential, concurrent } = require('./measure');

/** An exporter that drops every span (exported: counted). */
class DroppingExporter {
  constructor() {
    this.exported = 0;
  }

  export(spans, done) {
    this.exported += spans.length;
    done({ code: 0 });
  }

  shutdown() {
    return Promise.resolve();
  }
}

/** Nanoseconds a call pays to find that no tracer provider is registered (`activeTracer`). */
function checkCostNs() {
  trace.disable();
  const calls = 2_000_000;
  let found = 0;
  const started = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) if (tracing.activeTracer() !== null) found += 1;
  const elapsed = Number(process.hrtime.bigint() - started);
  if (found !== 0) throw new Error('a tracer provider was found where none is registered');
  return elapsed / calls;
}

/**
 * The scenario: routeMessage one at a time (p50, p99) and 256 in flight (messages/s), without a
 * tracer provider and with one, on Redis at `url`; `message()` makes each message.
 */
async function measureTracing({ url, rounds, scale, message, progress = () => {} }) {
  const exporter = new DroppingExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 65_536, maxExportBatchSize: 2048 })] });
  const router = createOrchestratorRouter({ redis: url, keyPrefix: 'bench:t:', daemonQueue: { maxEvents: 1e9 } });
  await router.registerSession('orch_on', { id: 'sess', daemonId: 'daemon_on', status: 'active' });
  const figures = { off: { p50: [], p99: [], rate: [] }, on: { p50: [], p99: [], rate: [] } };
  try {
    for (let round = 0; round < rounds; round++) {
      // Each contender goes first in every other round.
      const order = round % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
      for (const name of order) {
        progress(`tracing ${name === 'on' ? 'with' : 'without'} a provider, round ${round + 1} of ${rounds}`);
        if (name === 'on') trace.setGlobalTracerProvider(provider);
        else trace.disable();
        const single = (await sequential(2000 * scale, () => router.routeMessage(message(), 'orch_on'))).sort((a, b) => a - b);
        figures[name].p50.push(percentile(single, 50));
        figures[name].p99.push(percentile(single, 99));
        figures[name].rate.push((await concurrent(20_000 * scale, 256, () => router.routeMessage(message(), 'orch_on'))).rate);
        await provider.forceFlush();
      }
    }
  } finally {
    trace.disable();
    await router.close();
  }
  await provider.shutdown();
  const row = (f) => ({ rate: median(f.rate), p50: median(f.p50), p99: median(f.p99) });
  return {
    title: 'routeMessage and OpenTelemetry: 256 in flight (messages/s), one in flight (µs)',
    unit: 'messages/s',
    rows: {
      'native, no tracer provider registered': row(figures.off),
      'native, a provider registered (batch processor, spans dropped)': { ...row(figures.on), spans: exporter.exported },
    },
    // What a call pays to find that no provider is registered, against one route's p50.
    checkNs: checkCostNs(),
  };
}

module.exports = { measureTracing };

if (require.main === module) {
  const { startPrivateRedis } = require('../scripts/redis-server');
  const rounds = Number(process.env.BENCH_ROUNDS || 5);
  const scale = Number(process.env.BENCH_SCALE || 1);
  let sequence = 0;
  const message = () => ({ id: `m${sequence++}`, channelId: 'chan', authorId: 'user', content: 'x'.repeat(100), createdAt: new Date() });
  (async () => {
    const server = await startPrivateRedis();
    console.log(`bench:tracing: ${rounds} rounds, contenders alternating`);
    const started = nowUs();
    const scenario = await measureTracing({ url: server.url, rounds, scale, message, progress: (text) => process.stderr.write(`  ${text}\n`) });
    console.log(`\n${scenario.title}`);
    for (const [name, values] of Object.entries(scenario.rows)) {
      console.log(`  ${name.padEnd(64)} ${Object.entries(values).map(([k, v]) => `${k} ${v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1)}`).join('   ')}`);
    }
    const [off, on] = Object.values(scenario.rows);
    console.log(`\n  with a provider: one in flight p50 ${(on.p50 / off.p50).toFixed(2)} ×, 256 in flight ${(on.rate / off.rate).toFixed(2)} ×`);
    console.log(`  without: the per-call check takes ${scenario.checkNs.toFixed(1)} ns, ${((scenario.checkNs / 1000 / off.p50) * 100).toFixed(3)} % of one route's p50`);
    console.log(`  (${((nowUs() - started) / 1e6).toFixed(1)} s)`);
    await server.stop();
  })().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
