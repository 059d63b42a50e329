// Code as core writes it against the router (type-checked under core's compiler options, never
// run): string event names, its own events, its types, its services and its errors.
import { wrapError, isGenesisError, type GenesisError } from './errors';
import {
  createOrchestratorRouter,
  DaemonApiService,
  MessageServiceImpl,
  NoActiveSessionError,
  OrchestratorOfflineError,
  orchestratorRouter,
  OrchestratorRouter,
  OrchestratorRoutingError,
  PresenceServiceImpl,
  type MessageRoutingMetadata,
  type MessageRoutingStatus,
  type OfflineQueueConfig,
  type OrchestratorRouterConfig,
  type OrchestratorSessionInfo,
  type RouteMessageResult,
  type RoutingRetryConfig,
} from './services';
import type { DaemonEvent, DaemonSession } from './types/daemon';
import type { MessageWithRelations } from './types/message';

type DaemonToken = Parameters<DaemonApiService['getPendingEvents']>[0];

export async function routeLikeCore(message: MessageWithRelations, session: DaemonSession, api: DaemonApiService, token: DaemonToken): Promise<MessageRoutingMetadata> {
  const retry: Partial<RoutingRetryConfig> = { maxAttempts: 5 };
  const queue: Partial<OfflineQueueConfig> = { maxQueueSize: 500 };
  const config: OrchestratorRouterConfig = { retry, offlineQueue: queue, deliveryTimeoutMs: 2000 };
  const router: OrchestratorRouter = createOrchestratorRouter(config);
  router.setMessageService(new MessageServiceImpl());
  router.setPresenceService(new PresenceServiceImpl());

  // Listening by a name held in a string, for an event of its own, and as the deployed `on` did.
  const name: string = 'message.routed';
  router.on(name, (...args: unknown[]) => void args);
  router.once('workspace.synced', () => undefined);
  router.getEventEmitter().on('message.queued', (event: unknown) => void event);
  router.on('message.routed', (event) => void event.sessionId);
  router.off(name, () => undefined);
  router.removeAllListeners();

  await router.registerSession(session.orchestratorId, { id: session.id, daemonId: session.daemonId, status: session.status, createdAt: session.createdAt });
  const result: RouteMessageResult = await router.routeMessage(message, session.orchestratorId);
  const status: MessageRoutingStatus = result.status;
  const active: OrchestratorSessionInfo | null = await router.getOrchestratorSession(session.orchestratorId);
  const received: DaemonEvent[] = await router.readDaemonEvents(session.daemonId);
  const pending: DaemonEvent[] = await api.getPendingEvents(token);
  await router.close();
  return {
    isForOrchestrator: true,
    targetOrchestratorId: session.orchestratorId,
    routingStatus: status,
    deliveredAt: received[0]?.timestamp ?? pending[0]?.timestamp,
    deliveryAttempts: result.attempts,
    lastError: result.error,
    sessionId: active?.sessionId,
  };
}

/** Core's API layer: every error as a GenesisError with its status. */
export async function answerLikeCoreApi(call: () => Promise<unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
  try {
    await call();
    return { status: 200, body: {} };
  } catch (error) {
    const wrapped: GenesisError = wrapError(error, 'orchestrator router');
    const offline: OrchestratorOfflineError | null = error instanceof OrchestratorOfflineError ? error : null;
    const routing: OrchestratorRoutingError | null = error instanceof OrchestratorRoutingError ? error : null;
    const noSession: NoActiveSessionError | null = error instanceof NoActiveSessionError ? error : null;
    void [offline, routing, noSession, isGenesisError(error), orchestratorRouter];
    return { status: wrapped.statusCode, body: wrapped.toJSON() };
  }
}
