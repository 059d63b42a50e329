'use strict';
// Renders RELIABILITY.md from the figures the reliability scenarios recorded in
// reliability/results.json. Run through `npm run reliability`, which runs the scenarios first.

const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const results = JSON.parse(fs.readFileSync(path.join(root, 'reliability', 'results.json'), 'utf8'));

const scenarios = {
  '1. three processes, session churn':
    'Three separate Node processes, each with its own router, share one redis-server. Each routes 1,500 messages round-robin over the same five orchestrators while unregistering or re-registering one of their sessions every 20 messages (each registration drains that queue). At the end every orchestrator comes online and every queue drains. Counted: every message a process saw accepted is in exactly one daemon event list, and the messages of each sender to each orchestrator are in the order it sent them.',
  '2. SIGKILL mid-drain of 10,000':
    'A queue of 10,000 messages in the deployed item format. A router process registers the session, which starts the drain (each batch re-read through a message service that takes 20 ms), and is killed with SIGKILL after four batches. Another router instance, in the test process and busy with something else, finishes the drain by itself once the killed router\'s claim lapses. Counted: the daemon list holds the 10,000, each once, in queue order.',
  '3. redis-server SIGKILL and restart (AOF, fsync always)':
    'A private redis-server with `appendonly yes` and `appendfsync always`. Eight concurrent loops route to an online and an offline orchestrator; once 2,000 routes have succeeded the server is killed with SIGKILL, and restarted on the same port once a route attempt has failed against it; the loops stop once 2,000 more routes have succeeded after the restart. Counted: every message whose `routeMessage` resolved with success is found in the daemon list or in the queue afterwards, none twice; the router reconnected by itself.',
  '4. DEBUG SLEEP and CLIENT KILL mid-load':
    'Eight concurrent loops route with `deliveryTimeoutMs` 200 and 3 attempts (backoff 50, 100 ms); with 1,000 calls resolved between faults, the server sleeps 0.5 s (`DEBUG SLEEP`), then every client connection is cut (`CLIENT KILL TYPE normal`), then the server sleeps 0.3 s more. Counted: the attempts caught in a sleep ended at the timeout and were retried, no call made more than 3 attempts, every message that resolved success is in the daemon list, and no retry put a message there twice. The slowest call is reported, not checked (speed is the benchmark\'s business).',
  '5. a daemon that never acknowledges':
    'Delivery receipts on (`deliveryTimeoutMs` 100, 3 attempts). 200 messages go to a daemon that never acknowledges: each is delivered 3 times (same event id) and then dead-lettered. The orchestrator reconnects with a new daemon, the dead letters are requeued and arrive in their original order.',
  '6a. Sentinel failover under load, no durability':
    'A private Sentinel deployment: a primary, one replica and three Sentinels (the primary deemed down after 2 s of silence). Three router processes connect through the Sentinels, each routing on four concurrent loops (each awaiting its own routes, retries 100 ms apart) round-robin over four orchestrators whose sessions are online. The daemons are a consumer in the test process, an ioredis client that follows the Sentinels too: it pops the four daemon lists from the right and after each pop asks the primary (WAIT 1) whether the replica has the pop. Once 2,000 routes have succeeded the primary is killed with SIGKILL; once the Sentinels have promoted the replica, the killed node is restarted as a replica of the new primary; once 2,000 more routes have succeeded after that the router processes are stopped (SIGTERM: each loop finishes the call it has in flight), the consumer empties the lists, and what is left is read on the new primary. Counted, for every route that resolved success: found (popped, or left in a daemon list or a queue) or not. One not found is lost unless its delivered marker (written by the same script as its event) is on the new primary and a pop was cut off by the kill: its event then reached the replica and was taken by that pop, whose reply never came (the consumer\'s loss, counted apart). An id found twice is a duplicate, unless the pop before was one the replica never confirmed: the promoted replica still held the event, and popping it again is the consumer\'s loss, not the router\'s (counted apart as re-read). FIFO: the order of each loop\'s messages to each orchestrator. Without durability Redis replicates asynchronously, so a route the primary acknowledged may not have reached the replica when the primary dies: the loss is counted, not forbidden. Over loopback the replica is rarely more than a moment behind: in 31 runs on a 2-core machine (2026-12-03; the earlier ones with earlier versions of this test\'s consumer and its classification) 3 lost 4 messages each (each time the four routes of one process\'s last tick, acknowledged about 1 ms before the kill; in the one of the three that looked, their delivered markers were not on the new primary either) and 28 lost none. Time to recover: from the kill to the first success of a route that started after it or had an attempt fail (a route resolved just after the kill without a failed attempt may have been written before it).',
  '6b. Sentinel failover under load, durability: { replicas: 1 }':
    'Scenario 6a again, every router with `durability: { replicas: 1 }`: each write is followed by WAIT 1, and a route resolves success only once the replica has confirmed its writes (`durable: true`). The promoted node has no replica until the killed one is restarted and synced, so no route can succeed before that: the routes in flight retry until then, and the time to recover includes the restart. Checked: nothing that resolved success is lost, none duplicated, FIFO held per loop and orchestrator, every success `durable: true`. In 42 runs on a 2-core machine (2026-12-03; the earlier ones with earlier versions of this test\'s consumer) none was lost (once, 32 events were taken by a consumer pop cut off by the kill; once, 14 were re-read after an unconfirmed pop: both the consumer\'s, not the router\'s).',
};

const lines = [
  '# Reliability',
  '',
  'Each scenario below is a jest test in `__tests__/reliability.test.ts` that runs against real processes',
  '(router processes, redis-server, Redis Sentinel) with a bounded run time, and accounts for every message:',
  'accepted = delivered + reported (`message.dropped` or dead-lettered), none lost, none duplicated',
  '(scenario 6a, a Sentinel failover without durability, counts the loss that asynchronous replication',
  'allows instead of forbidding it).',
  'They run in CI with the rest of `npm test`.',
  '',
  'The figures are those of the last run of **`npm run reliability`**, which runs the scenarios and',
  'rewrites this file. Machine: ' + `${require('node:os').cpus().length} cores, Node ${process.version}.`,
  '',
];
for (const [name, description] of Object.entries(scenarios)) {
  const figures = results[name];
  lines.push(`## ${name}`, '', description, '');
  if (!figures) {
    lines.push('_Not run yet._', '');
    continue;
  }
  lines.push('| figure | value |', '|---|---|');
  for (const [key, value] of Object.entries(figures)) {
    if (key !== 'ranAt') lines.push(`| ${key} | ${value} |`);
  }
  lines.push('', `Last run: ${figures.ranAt}.`, '');
}
// The hardening scenarios are tests of their own (listed there with their figures), kept as written.
lines.push(fs.readFileSync(path.join(root, 'reliability', 'hardening.md'), 'utf8'));
fs.writeFileSync(path.join(root, 'RELIABILITY.md'), lines.join('\n'));
console.log('RELIABILITY.md written from reliability/results.json');
