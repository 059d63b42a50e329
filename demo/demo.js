'use strict';
// npm run demo: a daemon session, messages routed to it, the orchestrator going offline and
// coming back, a high-priority message overtaking, told as it happens. With REDIS_URL set it runs
// on that Redis; without it, on the in-process store (`redis: 'memory://'`): no server at all.
// The daemon's side reads its event list with readDaemonEvents, as an in-process daemon would.

const { createOrchestratorRouter, EVENT_NAMES } = require('..');

const ORCHESTRATOR = 'orch_ada';
const DAEMON = 'daemon_ada_laptop';
const PREFIX = `demo:${process.pid}:`;

const clock = () => new Date().toISOString().slice(11, 23);
const say = (text) => console.log(`\n${text}`);

function describeEvent(e) {
  switch (e.type) {
    case 'message.routed': return `message ${e.messageId} delivered through session ${e.sessionId} (attempt ${e.attempts})`;
    case 'message.queued': return `message ${e.messageId} queued; ${e.queueSize} waiting for ${e.orchestratorId}`;
    case 'message.dropped': return `message ${e.messageId} dropped (${e.reason})`;
    case 'message.routing_failed': return `message ${e.messageId} failed after ${e.attempts} attempts: ${e.error}`;
    case 'message.routing_error': return `attempt for ${e.messageId} failed: ${e.error}`;
    case 'session.registered': return `session ${e.sessionId} registered for ${e.orchestratorId}`;
    case 'session.unregistered': return `${e.orchestratorId} disconnected`;
    case 'queue.processing_started': return `draining ${e.queueSize} queued message(s) for ${e.orchestratorId}`;
    case 'queue.processing_completed': return `drain finished: ${e.processed} delivered, ${e.failed} dropped`;
    default: return JSON.stringify(e);
  }
}

async function main() {
  const redis = process.env.REDIS_URL || 'memory://';
  console.log(process.env.REDIS_URL ? `Redis: ${redis} (from REDIS_URL)` : 'Store: in-process (REDIS_URL is not set, so no server is used)');

  // Short-lived delivered markers, so that a demo run leaves nothing behind in a real Redis for long.
  const router = createOrchestratorRouter({ redis, keyPrefix: PREFIX, deliveredMarkerTtlSeconds: 60 });
  for (const name of EVENT_NAMES) router.on(name, (e) => console.log(`  ${clock()}  event  ${describeEvent(e)}`));

  let n = 0;
  const send = async (content, priority) => {
    n += 1;
    const message = { id: `msg_${n}`, channelId: 'chan_general', authorId: 'user_grace', content, createdAt: new Date(), priority };
    const result = await router.routeMessage(message, ORCHESTRATOR);
    console.log(`  ${clock()}  routeMessage(${message.id}) → ${JSON.stringify(result)}`);
  };

  say(`1. The daemon ${DAEMON} connects and registers a session for ${ORCHESTRATOR}.`);
  await router.registerSession(ORCHESTRATOR, { id: 'sess_1', daemonId: DAEMON, status: 'active', createdAt: new Date() });

  say('2. Two messages are routed while it is online.');
  await send('Good morning, Ada.');
  await send('Could you summarise yesterday\'s thread?');

  say('3. The daemon disconnects; four messages arrive while it is offline, the last one high-priority.');
  await router.unregisterSession(ORCHESTRATOR);
  await send('Are you there?');
  await send('The build is red.');
  await send('Never mind, fixed it.');
  await send('Production is down!', 'high');

  say('4. The daemon comes back: its queue is drained before registerSession resolves, the high-priority message first.');
  await router.registerSession(ORCHESTRATOR, { id: 'sess_2', daemonId: DAEMON, status: 'active', createdAt: new Date() });

  say('5. A heartbeat.');
  await router.updateSessionActivity(ORCHESTRATOR);
  const session = await router.getOrchestratorSession(ORCHESTRATOR);
  console.log(`  ${clock()}  session ${session.sessionId}, last active ${session.lastActiveAt.toISOString()}`);

  const events = await router.readDaemonEvents(DAEMON);
  say(`What the daemon reads from its event list (readDaemonEvents), oldest first:`);
  for (const e of events) console.log(`  ${e.id}  ${e.payload.messageId}  priority ${e.priority}  "${e.payload.content}"`);
  const acknowledged = await router.acknowledgeDaemonEvents(DAEMON, events.map((e) => e.id));
  console.log(`  the daemon acknowledges them: ${acknowledged} removed from its list`);

  await router.unregisterSession(ORCHESTRATOR);
  await router.close();
  console.log(`\n${events.length} messages delivered, in order; nothing lost.`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
