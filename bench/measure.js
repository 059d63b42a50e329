'use strict';
// How the benchmarks time calls: latencies of calls one at a time, and the rate of calls with a
// number in flight; percentiles and medians of what they measured.

const nowUs = () => Number(process.hrtime.bigint() / 1000n);
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

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

module.exports = { nowUs, percentile, median, sequential, concurrent };
