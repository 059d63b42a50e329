'use strict';
// npm run bench:memory: routeMessage on the in-process store (redis: 'memory://'), one call in
// flight and 256 in flight, to an online orchestrator. No server involved.

const { createOrchestratorRouter } = require('..');

const ROUNDS = 3;
const CONTENT = 'x'.repeat(100);
let sequence = 0;
const message = () => ({ id: `m${sequence++}`, channelId: 'chan', authorId: 'user', content: CONTENT, createdAt: new Date() });
const micros = (since) => Number(process.hrtime.bigint() - since) / 1000;

async function main() {
  const router = createOrchestratorRouter({ redis: 'memory://bench', daemonQueue: { maxEvents: 1e9 } });
  await router.registerSession('orch', { id: 'sess', daemonId: 'daemon' });
  console.log(`bench:memory: in-process store, Node ${process.version}, ${ROUNDS} rounds`);
  for (let round = 1; round <= ROUNDS; round++) {
    const samples = [];
    for (let i = 0; i < 20_000; i++) {
      const t = process.hrtime.bigint();
      await router.routeMessage(message(), 'orch');
      samples.push(micros(t));
    }
    samples.sort((a, b) => a - b);
    const total = 100_000;
    let next = 0;
    const t = process.hrtime.bigint();
    await Promise.all(Array.from({ length: 256 }, async () => {
      while (next < total) {
        next += 1;
        await router.routeMessage(message(), 'orch');
      }
    }));
    const rate = total / (micros(t) / 1e6);
    const p = (q) => samples[Math.floor(samples.length * q)].toFixed(1);
    console.log(`  round ${round}: one in flight p50 ${p(0.5)} µs, p99 ${p(0.99)} µs; 256 in flight ${Math.round(rate).toLocaleString('en')} routes/s`);
    // The daemon takes what it was given, so the next round starts from an empty list.
    const events = await router.readDaemonEvents('daemon', { max: 1e9 });
    await router.acknowledgeDaemonEvents('daemon', events.map((e) => e.id));
  }
  await router.close();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
