// @neolith/core — src/services/orchestrator-router.ts: the router is @neolith/orchestrator-router.
import { prisma } from '@neolith/database';
import {
  OrchestratorRouter as NativeOrchestratorRouter,
  errorClasses,
  type OrchestratorRouterConfig,
} from '@neolith/orchestrator-router';

import { GenesisError } from '../errors';

import { presenceService } from './presence-service';

export type {
  MessageRoutingStatus,
  MessageRoutingMetadata,
  RoutingRetryConfig,
  OfflineQueueConfig,
  OrchestratorRouterConfig,
  RouteMessageResult,
  OrchestratorSessionInfo,
} from '@neolith/orchestrator-router';

// The router's errors are GenesisErrors: isGenesisError and wrapError keep their code and status.
export const { OrchestratorRoutingError, OrchestratorOfflineError, NoActiveSessionError } = errorClasses(GenesisError);
export type OrchestratorRoutingError = InstanceType<typeof OrchestratorRoutingError>;
export type OrchestratorOfflineError = InstanceType<typeof OrchestratorOfflineError>;
export type NoActiveSessionError = InstanceType<typeof NoActiveSessionError>;

/** The router, re-reading queued messages through core's database and raising core's errors. */
export class OrchestratorRouter extends NativeOrchestratorRouter {
  constructor(config: OrchestratorRouterConfig = {}) {
    super({ prisma, errorBase: GenesisError, ...config });
  }
}

export function createOrchestratorRouter(config?: OrchestratorRouterConfig): OrchestratorRouter {
  return new OrchestratorRouter(config);
}

/** The default instance: connects on first use; drains ask core's presence service first. */
export const orchestratorRouter = createOrchestratorRouter();
orchestratorRouter.setPresenceService({ getVPPresence: (id) => presenceService.getVPPresence(id) });
