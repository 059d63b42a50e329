// A TypeScript consumer of the whole public API, type-checked with `tsc --strict --noEmit` by
// `npm test` (it is never run). Lines marked @ts-expect-error must fail to compile.
import Redis from 'ioredis';
import {
  createOrchestratorRouter,
  DaemonSessionStatus,
  EVENT_NAMES,
  InvalidArgumentError,
  MessagePriority,
  MessageRoutingStatus,
  NoActiveSessionError,
  orchestratorRouter,
  OrchestratorOfflineError,
  OrchestratorRouter,
  OrchestratorRouterConfig,
  OrchestratorRoutingError,
  OrchestratorSessionInfo,
  PRIORITY_VALUES,
  ProcessQueueResult,
  RouteMessageResult,
  RouterMetrics,
} from '..';

export async function useTheWholeApi(): Promise<void> {
  const config: OrchestratorRouterConfig = {
    redis: new Redis({ lazyConnect: true, keyPrefix: 'app:' }),
    prisma: { message: { findMany: async () => [] } },
    retry: { maxAttempts: 5, initialDelayMs: 500 },
    offlineQueue: { maxQueueSize: 200, enabled: true },
    deliveryTimeoutMs: 2000,
    daemonQueue: { maxEvents: 500 },
    drainIntervalMs: 100,
    deliveryReceipts: { enabled: true },
    deliveredMarkerTtlSeconds: 600,
    maxMessageBytes: 65_536,
    keyPrefix: 'neolith:',
  };
  const router: OrchestratorRouter = createOrchestratorRouter(config);
  const other = new OrchestratorRouter({ redis: 'redis://127.0.0.1:6379/1' });
  const fromOptions = createOrchestratorRouter({ redis: { host: 'localhost', port: 6380, password: 'secret', db: 2, tls: true } });

  router.setPresenceService({ getVPPresence: async () => ({ status: 'ONLINE' }) });
  router.setMessageService({ getMessagesByIds: async (ids) => ids.map((id) => ({ id, content: 'edited', isDeleted: false, deletedAt: null })) });
  router.setMessageService({ getMessage: async () => null });
  router.setMessageService(null);

  const result: RouteMessageResult = await router.routeMessage(
    { id: 'msg_1', channelId: 'chan_1', authorId: 'user_1', content: 'Hello', createdAt: new Date() },
    'orch_1',
  );
  const status: MessageRoutingStatus = result.status;
  const sessionId: string | undefined = result.sessionId;
  const attempts: number = result.attempts;
  const batch: RouteMessageResult[] = await router.routeMessages([{ message: { id: 'm2', channelId: 'c', content: 'x' }, orchestratorId: 'orch_1' }]);
  const level: MessagePriority = 'high';
  await router.routeMessage({ id: 'm3', channelId: 'c', content: 'x', priority: level }, 'orch_1');
  // @ts-expect-error a priority is one of three levels
  await router.routeMessage({ id: 'm4', channelId: 'c', content: 'x', priority: 'urgent' }, 'orch_1');
  const highValue: 3 = PRIORITY_VALUES.high;
  const acked: number = await router.acknowledge('orch_1', ['msg_1']);
  const letters = await router.getDeadLetters('orch_1');
  const firstDead: Date | undefined = letters[0]?.deadLetteredAt;
  const requeued: number = await router.requeueDeadLetters('orch_1');
  const figures: RouterMetrics = router.getMetrics();
  const p99: number | null = figures.deliveryLatencyMs.p99;
  const exposition: string = router.metrics();
  const depth: number = await router.getQueueDepth('orch_1');
  router.on('message.redelivered', (e) => e.attempts);
  router.on('message.dead_lettered', (e) => e.error);
  router.on('message.acknowledged', (e) => e.messageId);
  void [batch, acked, firstDead, requeued, p99, exposition, depth, highValue];
  await router.queueMessageForOffline({ id: 'm', channelId: 'c', content: 'x', createdAt: '2026-11-27T10:00:00.000Z' }, 'orch_1');
  await router.registerSession('orch_1', { id: 'sess_1', daemonId: 'daemon_1', status: 'active', createdAt: new Date() });
  const session: OrchestratorSessionInfo | null = await router.getOrchestratorSession('orch_1');
  if (session) {
    const when: Date = session.lastActiveAt;
    const created: Date = session.createdAt;
    const sessionStatus: DaemonSessionStatus = session.status;
    void [when, created, sessionStatus];
  }
  const online: boolean = await router.isOrchestratorOnline('orch_1');
  await router.updateSessionActivity('orch_1');
  const drained: ProcessQueueResult = await router.processQueuedMessages('orch_1');
  await router.unregisterSession('orch_1');

  router.on('message.routed', (e) => e.sessionId.toUpperCase());
  router.on('message.routing_failed', (e) => e.error + e.attempts);
  router.on('message.routing_error', (e) => e.error);
  router.on('message.queued', (e) => e.queueSize.toFixed());
  router.on('message.dropped', (e) => (e.reason === 'queue_full' || e.reason === 'expired' || e.reason === 'deleted' ? 1 : 0));
  router.on('session.registered', (e) => e.timestamp.getTime());
  router.on('session.unregistered', (e) => e.orchestratorId);
  router.once('queue.processing_started', (e) => e.queueSize);
  const onDone = (e: { processed: number; failed: number }) => e.processed - e.failed;
  router.on('queue.processing_completed', onDone);
  router.off('queue.processing_completed', onDone);
  // Any other name is accepted, as EventEmitter accepts it: a name held in a string, an event of
  // the caller's own (its listener takes anything).
  const held: string = 'message.routed';
  router.on(held, (...args: unknown[]) => void args);
  router.once('workspace.synced', (count: number) => count);
  router.on(Symbol('mine'), () => undefined);
  // @ts-expect-error a router event's fields are typed
  router.on('message.queued', (e) => e.sessionId);
  // @ts-expect-error ... for every method that takes a listener
  router.prependListener('message.routed', (e) => e.queueSize);
  router.getEventEmitter().removeAllListeners('message.routed');
  router.removeAllListeners();

  const errors: Error[] = [
    new OrchestratorRoutingError('failed', { orchestratorId: 'orch_1' }),
    new OrchestratorOfflineError('orch_1'),
    new NoActiveSessionError('orch_1'),
    new InvalidArgumentError('message.id', 'must be a non-empty string'),
  ];
  const codes: string[] = errors.map((e) => (e as OrchestratorRoutingError).code);
  const names: readonly string[] = EVENT_NAMES;
  void [status, sessionId, attempts, online, drained, codes, names, orchestratorRouter];
  await Promise.all([router.close(), other.close(), fromOptions.close()]);
}
