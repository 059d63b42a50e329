'use strict';
// One worker-thread scenario in a process of its own, for worker-threads.test.ts, which runs each
// many times: `node worker-scenario.js <scenario>`, with REDIS_URL set. The process exits 0 when
// every thread did its part; a crash shows as its signal. The main thread loads the package only
// where the scenario says so: loading it there first hides the crashes looked for (issue 13).
//
// A worker thread runs this file too, with its job as `workerData`.

const path = require('node:path');
const { randomUUID } = require('node:crypto');
const { Worker, isMainThread, parentPort, threadId, workerData } = require('node:worker_threads');

const PACKAGE = path.join(__dirname, '..', '..', 'index.js');
const STORES = ['memory://workers', process.env.REDIS_URL];

/** A router on `redis` with an orchestrator whose session is registered, on a key prefix of its own. */
async function openRouter(redis) {
  const { createOrchestratorRouter } = require(PACKAGE);
  const id = `wt${threadId}_${randomUUID().slice(0, 8)}`;
  const router = createOrchestratorRouter({ redis, keyPrefix: `${id}:`, retry: { initialDelayMs: 10, maxDelayMs: 50 } });
  const orchestratorId = `orch_${id}`;
  await router.registerSession(orchestratorId, { id: `sess_${id}`, daemonId: `daemon_${id}`, status: 'active', createdAt: new Date() });
  return { router, orchestratorId, redis };
}

/** Routes a message to the opened router's orchestrator; throws unless it was delivered. */
async function routeOne({ router, orchestratorId, redis }) {
  const message = { id: `msg_${randomUUID()}`, channelId: 'chan', authorId: 'user', content: 'hello', createdAt: new Date() };
  const result = await router.routeMessage(message, orchestratorId);
  if (result.status !== 'delivered') throw new Error(`thread ${threadId} on ${redis}: routeMessage resolved ${JSON.stringify(result)}`);
}

/** Creates a router on the in-process store and one on Redis, each with a registered session,
 *  says 'routing' (in a worker), routes on each, and closes them unless `close` is false. */
async function route({ close = true } = {}) {
  const opened = await Promise.all(STORES.map(openRouter));
  parentPort?.postMessage('routing');
  await Promise.all(opened.map(routeOne));
  if (close) await Promise.all(opened.map((o) => o.router.close()));
}

/** Opens routers as `route` does, says 'routing', and routes until the thread is terminated, with
 *  session calls (run on the shared runtime) and routes (run on this thread) in flight together. */
async function routeUntilTerminated() {
  const opened = await Promise.all(STORES.map(openRouter));
  parentPort.postMessage('routing');
  for (let round = 0; ; round++) {
    await Promise.all(opened.flatMap((o) => [
      o.router.registerSession(o.orchestratorId, { id: `sess_${round}`, daemonId: `daemon_${o.orchestratorId}`, status: 'active' }),
      routeOne(o),
      routeOne(o),
      o.router.getQueueDepth(o.orchestratorId),
    ]));
  }
}

/** What a worker thread does. */
const JOBS = {
  load: () => require(PACKAGE),
  route: () => route(),
  'route-and-leave-open': () => route({ close: false }),
  'route-until-terminated': routeUntilTerminated,
};

/** Runs a worker thread doing `job`, calling `whenRouting` when it says 'routing' (and
 *  terminating it then with `terminateWhenRouting`); resolves when it exited 0 or was terminated,
 *  rejects otherwise. */
function worker(job, { whenRouting = () => undefined, terminateWhenRouting = false } = {}) {
  return new Promise((resolve, reject) => {
    const thread = new Worker(__filename, { workerData: job });
    let terminated = false;
    thread.on('message', (said) => {
      if (said !== 'routing') return;
      whenRouting();
      if (terminateWhenRouting) {
        terminated = true;
        void thread.terminate();
      }
    });
    thread.on('error', reject);
    thread.on('exit', (code) => {
      if (code === 0 || terminated) resolve();
      else reject(new Error(`a worker doing '${job}' exited with code ${code}`));
    });
  });
}

/** `count` workers doing `job` side by side. */
function workers(count, job, options) {
  return Promise.all(Array.from({ length: count }, () => worker(job, options)));
}

/** Each scenario: what the main thread does. */
const SCENARIOS = {
  'load-then-load': async () => {
    await worker('load');
    await worker('load');
  },
  'load-then-main-routes': async () => {
    await worker('load');
    await route();
  },
  'four-load-side-by-side': () => workers(4, 'load'),
  'route-in-sequence': async () => {
    for (let i = 0; i < 3; i++) await worker('route');
  },
  'route-in-parallel': () => workers(4, 'route'),
  'worker-routes-then-main': async () => {
    await worker('route');
    await route();
  },
  'main-routes-then-workers': async () => {
    await route();
    await workers(2, 'route');
  },
  'main-and-workers-together': async () => {
    // The main thread loads the package once a worker routes, and routes while the workers do.
    let workerRouting;
    const firstWorkerRouting = new Promise((resolve) => (workerRouting = resolve));
    await Promise.all([workers(3, 'route', { whenRouting: workerRouting }), firstWorkerRouting.then(() => route())]);
  },
  'workers-exit-with-router-open': async () => {
    await workers(2, 'route-and-leave-open');
    await worker('route-and-leave-open');
    await route();
  },
  'workers-terminated-mid-route': async () => {
    await workers(2, 'route-until-terminated', { terminateWhenRouting: true });
    await worker('route');
    await route();
  },
};

if (!process.env.REDIS_URL) throw new Error('REDIS_URL is not set');
if (isMainThread) {
  const scenario = SCENARIOS[process.argv[2]];
  if (!scenario) throw new Error(`no scenario '${process.argv[2]}'; there are: ${Object.keys(SCENARIOS).join(', ')}`);
  scenario().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
} else {
  JOBS[workerData]();
}
