// The daemon types of core (`packages/@neolith/core/src/types/daemon.ts`) the router's results
// must be assignable to, with their shapes as core declares them.

/** Status of a daemon session. */
export type DaemonSessionStatus = 'active' | 'idle' | 'expired' | 'revoked' | 'terminated';

/** An active daemon session (the fields the router takes, and the rest core keeps). */
export interface DaemonSession {
  id: string;
  daemonId: string;
  orchestratorId: string;
  workspaceId: string;
  status: DaemonSessionStatus;
  scopes: string[];
  createdAt: Date;
  lastActiveAt: Date;
  expiresAt: Date;
}

/** Event types a daemon receives. */
export type DaemonEventType =
  | 'message.received'
  | 'message.sent'
  | 'message.updated'
  | 'message.deleted'
  | 'presence.updated'
  | 'system.heartbeat_ack'
  | 'system.reconnect_required';

/** Event payload data, with an index signature as core declares it. */
export interface DaemonEventPayload {
  messageId?: string;
  channelId?: string;
  userId?: string;
  content?: string;
  timestamp?: string;
  [key: string]: string | number | boolean | undefined;
}

/** An event in a daemon's event list. */
export interface DaemonEvent {
  id: string;
  type: DaemonEventType;
  daemonId: string;
  orchestratorId: string;
  payload: DaemonEventPayload;
  timestamp: Date;
  workspaceId?: string;
  channelId?: string;
  requiresAck?: boolean;
  /** Higher is more important. */
  priority?: number;
}
