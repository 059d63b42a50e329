// The package in worker threads (issue 13): each scenario runs in a node process of its own
// (support/worker-scenario.js), RUNS times, since a crash at a load or a teardown shows in some
// runs only. Every run must exit 0; a failure names the run, its exit code or signal and stderr.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { redisUrl } from './support/helpers';

const SCRIPT = path.join(__dirname, 'support', 'worker-scenario.js');
const RUNS = 20;
/** Processes run side by side: a run is mostly process and thread start-up, on a 2-core machine. */
const AT_ONCE = 4;
/** A run that takes longer has hung (one takes well under a second on an idle machine). */
const RUN_TIMEOUT_MS = 30_000;

/** Runs the scenario once; resolves null when the process exited 0, else what went wrong. */
function runOnce(scenario: string): Promise<string | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SCRIPT, scenario], {
      env: { ...process.env, REDIS_URL: redisUrl() },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve(null);
      const ending = signal === 'SIGKILL' ? `no exit within ${RUN_TIMEOUT_MS} ms` : `exit ${code ?? signal}`;
      resolve(`${ending}; stderr: ${stderr.trim() || '(empty)'}`);
    });
  });
}

/** Runs the scenario RUNS times, AT_ONCE at a time; resolves a line per failed run. */
async function failedRuns(scenario: string): Promise<string[]> {
  const failures: string[] = [];
  let started = 0;
  const runInTurn = async (): Promise<void> => {
    while (started < RUNS) {
      const run = ++started;
      const failure = await runOnce(scenario);
      if (failure) failures.push(`${scenario}, run ${run} of ${RUNS}: ${failure}`);
    }
  };
  await Promise.all(Array.from({ length: AT_ONCE }, runInTurn));
  return failures;
}

/** A test that every run of `scenario` exits 0. */
function everyRunExitsCleanly(behaviour: string, scenario: string): void {
  it(behaviour, async () => {
    expect(await failedRuns(scenario)).toEqual([]);
  }, 120_000);
}

describe('loading the package in worker threads', () => {
  everyRunExitsCleanly('loads in a worker after another worker loaded it and exited', 'load-then-load');
  everyRunExitsCleanly('loads and routes in the main thread after a worker loaded it and exited', 'load-then-main-routes');
  everyRunExitsCleanly('loads in four workers side by side that exit at once', 'four-load-side-by-side');
});

describe('routing from worker threads, on the in-process store and through Redis', () => {
  everyRunExitsCleanly('routes in workers one after another', 'route-in-sequence');
  everyRunExitsCleanly('routes in workers side by side', 'route-in-parallel');
  everyRunExitsCleanly('routes in the main thread after a worker routed and exited', 'worker-routes-then-main');
  everyRunExitsCleanly('routes in workers after the main thread routed', 'main-routes-then-workers');
  everyRunExitsCleanly('routes in the main thread and in workers at the same time', 'main-and-workers-together');
});

describe('workers that end with routers still in use', () => {
  everyRunExitsCleanly('lets workers exit with their routers open, and routes after them', 'workers-exit-with-router-open');
  everyRunExitsCleanly('lets workers be terminated with routes and session calls in flight, and routes after them', 'workers-terminated-mid-route');
});
