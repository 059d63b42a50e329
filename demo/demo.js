'use strict';
// npm run demo: a daemon session, messages routed to it, the orchestrator going offline and
// coming back, told as it happens. Uses REDIS_URL when set; otherwise starts a private
// redis-server on a free port and stops it at the end.

const Redis = require('ioredis');
const { createOrchestratorRouter, EVENT_NAMES } = require('..');
const { startPrivateRedis } = require('../scripts/redis-server');

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
  const server = process.env.REDIS_URL ? null : await startPrivateRedis();
  const url = process.env.REDIS_URL || server.url;
  console.log(`Redis: ${url}${server ? ' (a private redis-server started for this demo)' : ' (from REDIS_URL)'}`);

  const router = createOrchestratorRouter({ redis: url, keyPrefix: PREFIX });
  for (const name of EVENT_NAMES) router.on(name, (e) => console.log(`  ${clock()}  event  ${describeEvent(e)}`));

  // The daemon's side: it reads its event list and subscribes to its channel.
  const daemon = new Redis(url);
  const subscriber = new Redis(url);
  await subscriber.subscribe(`daemon:${DAEMON}:events`);
  subscriber.on('message', (_channel, json) => {
    const e = JSON.parse(json);
    console.log(`  ${clock()}  daemon received  ${e.payload.messageId}: "${e.payload.content}"`);
  });

  let n = 0;
  const send = async (content) => {
    n += 1;
    const message = { id: `msg_${n}`, channelId: 'chan_general', authorId: 'user_grace', content, createdAt: new Date() };
    const result = await router.routeMessage(message, ORCHESTRATOR);
    console.log(`  ${clock()}  routeMessage(${message.id}) → ${JSON.stringify(result)}`);
  };

  say(`1. The daemon ${DAEMON} connects and registers a session for ${ORCHESTRATOR}.`);
  await router.registerSession(ORCHESTRATOR, { id: 'sess_1', daemonId: DAEMON, status: 'active', createdAt: new Date() });

  say('2. Two messages are routed while it is online.');
  await send('Good morning, Ada.');
  await send('Could you summarise yesterday\'s thread?');

  say('3. The daemon disconnects; three messages arrive while it is offline.');
  await router.unregisterSession(ORCHESTRATOR);
  await send('Are you there?');
  await send('The build is red.');
  await send('Never mind, fixed it.');

  say('4. The daemon comes back: its queue is drained, in order, before registerSession resolves.');
  await router.registerSession(ORCHESTRATOR, { id: 'sess_2', daemonId: DAEMON, status: 'active', createdAt: new Date() });

  say('5. A heartbeat.');
  await router.updateSessionActivity(ORCHESTRATOR);
  const session = await router.getOrchestratorSession(ORCHESTRATOR);
  console.log(`  ${clock()}  session ${session.sessionId}, last active ${session.lastActiveAt.toISOString()}`);

  await new Promise((r) => setTimeout(r, 50));
  const events = (await daemon.lrange(`${PREFIX}daemon:events:${DAEMON}`, 0, -1)).reverse();
  say(`The daemon's event list (${PREFIX}daemon:events:${DAEMON}), oldest first:`);
  for (const json of events) {
    const e = JSON.parse(json);
    console.log(`  ${e.id}  ${e.payload.messageId}  "${e.payload.content}"`);
  }

  await router.close();
  const keys = await daemon.keys(`${PREFIX}*`);
  if (keys.length) await daemon.del(...keys);
  daemon.disconnect();
  subscriber.disconnect();
  if (server) await server.stop();
  console.log(`\n${events.length} messages delivered, in order; nothing lost.`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
