// Core's DaemonApiService (`services/daemon-api-service.ts`) as far as it reads what the router
// delivers: `getPendingEvents` is LRANGE 0 99 of the daemon's list, `acknowledgeEvents` is LRANGE
// 0 -1, DEL, RPUSH of the rest — not atomic, exactly as core does it.
import type Redis from 'ioredis';

import type { DaemonEvent } from '../types/daemon';

/** The part of a daemon's token the service reads. */
export interface DaemonToken {
  daemonId: string;
  orchestratorId: string;
}

/** Core's daemon API, over the daemon event lists. */
export class DaemonApiService {
  private readonly eventPrefix = 'daemon:events:';

  constructor(private readonly redis: Redis) {}

  /** The newest 100 events of the daemon's list, newest first. */
  async getPendingEvents(token: DaemonToken): Promise<DaemonEvent[]> {
    const raw = await this.redis.lrange(`${this.eventPrefix}${token.daemonId}`, 0, 99);
    return raw.map((entry) => {
      const event = JSON.parse(entry) as DaemonEvent & { timestamp: string };
      return { ...event, timestamp: new Date(event.timestamp) };
    });
  }

  /** Removes the acknowledged events: read the whole list, delete it, push back the rest. */
  async acknowledgeEvents(token: DaemonToken, eventIds: string[]): Promise<void> {
    const key = `${this.eventPrefix}${token.daemonId}`;
    const events = await this.redis.lrange(key, 0, -1);
    const remaining = events.filter((entry) => !eventIds.includes((JSON.parse(entry) as DaemonEvent).id));
    await this.redis.del(key);
    if (remaining.length > 0) await this.redis.rpush(key, ...remaining);
  }
}
