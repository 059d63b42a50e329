// Core's `services/index.ts`, as far as it concerns the router: the same re-exports, word for word.
export {
  MessageServiceImpl,
  createMessageService,
} from './message-service';

export {
  PresenceServiceImpl,
  presenceService,
  getPresenceService,
  type OrchestratorPresence,
  type PresenceStatus,
} from './presence-service';

export { DaemonApiService, type DaemonToken } from './daemon-api-service';

// =============================================================================
// Orchestrator Router
// =============================================================================

export {
  // Service implementation
  OrchestratorRouter,
  createOrchestratorRouter,
  orchestratorRouter,

  // Interfaces and types
  type MessageRoutingStatus,
  type MessageRoutingMetadata,
  type RoutingRetryConfig,
  type OfflineQueueConfig,
  type OrchestratorRouterConfig,
  type RouteMessageResult,
  type OrchestratorSessionInfo,

  // Errors
  OrchestratorRoutingError,
  OrchestratorOfflineError,
  NoActiveSessionError,
} from './orchestrator-router';
