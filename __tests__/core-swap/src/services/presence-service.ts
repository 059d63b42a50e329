// Core's PresenceServiceImpl (`services/presence-service.ts`) as far as the router meets it:
// `getVPPresence(vpId)` reads the hash `presence:vp:<id>` and the key `presence:heartbeat:vp:<id>`
// from Redis, and answers null when there is no record; without a living heartbeat, OFFLINE.
import Redis from 'ioredis';

/** A presence status. */
export type PresenceStatus = 'ONLINE' | 'AWAY' | 'BUSY' | 'OFFLINE';

/** An orchestrator's presence. */
export interface OrchestratorPresence {
  orchestratorId: string;
  status: PresenceStatus;
  lastHeartbeat: Date;
}

/** Core's presence service over Redis. */
export class PresenceServiceImpl {
  private readonly redis: Redis;

  constructor(redis?: Redis) {
    this.redis = redis ?? new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true });
  }

  /** The orchestrator's presence, or null when it has none. */
  async getVPPresence(vpId: string): Promise<OrchestratorPresence | null> {
    const [data, heartbeat] = await Promise.all([this.redis.hgetall(`presence:vp:${vpId}`), this.redis.exists(`presence:heartbeat:vp:${vpId}`)]);
    if (!data.vpId || !data.lastHeartbeat) return null;
    const status = heartbeat ? (data.status as PresenceStatus) : 'OFFLINE';
    return { orchestratorId: data.vpId, status, lastHeartbeat: new Date(data.lastHeartbeat) };
  }

  /** Records a heartbeat with a status (what a daemon's heartbeat does in core). */
  async setVPStatus(vpId: string, status: PresenceStatus): Promise<void> {
    await this.redis.hset(`presence:vp:${vpId}`, { vpId, status, lastHeartbeat: new Date().toISOString() });
    await this.redis.set(`presence:heartbeat:vp:${vpId}`, '1', 'EX', 90);
  }

  /** Closes the service's connection. */
  async close(): Promise<void> {
    this.redis.disconnect();
  }
}

let instance: PresenceServiceImpl | null = null;

/** Core's singleton presence service, created on first use (connecting then). */
export function getPresenceService(): PresenceServiceImpl {
  if (!instance) instance = new PresenceServiceImpl();
  return instance;
}

/** The singleton, as core exports it: built on first property access. */
export const presenceService = new Proxy({} as PresenceServiceImpl, {
  get(_target, property: string | symbol) {
    const service = getPresenceService();
    const value = service[property as keyof PresenceServiceImpl];
    return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(service) : value;
  },
});
