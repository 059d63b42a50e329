'use strict';
// The baseline: a faithful JavaScript re-implementation of the deployed TypeScript service's
// algorithm (../shared/reference/original-service.md), with ioredis, issuing the same Redis
// commands in the same order, one awaited round trip at a time — defects included. It exists only
// so that `npm run bench` compares the native router with what it replaces.

const { EventEmitter } = require('node:events');
const { randomBytes } = require('node:crypto');

const SESSION_TTL = 3600;
const QUEUE_TTL = 86400;
const DELIVERED_TTL = 3600;

class BaselineOrchestratorRouter extends EventEmitter {
  constructor(config) {
    super();
    this.redis = config.redis;
    this.retry = { maxAttempts: 3, initialDelayMs: 1000, backoffMultiplier: 2, maxDelayMs: 10000, ...config.retry };
    this.offlineQueue = { maxQueueSize: 100, queueTtlSeconds: QUEUE_TTL, enabled: true, ...config.offlineQueue };
    this.presence = null;
  }

  async getOrchestratorSession(orchestratorId) {
    const raw = await this.redis.get(`routing:session:${orchestratorId}`);
    if (!raw) return null;
    const s = JSON.parse(raw);
    if (s.status !== 'active') return null;
    return { ...s, lastActiveAt: new Date(s.lastActiveAt), createdAt: new Date(s.createdAt) };
  }

  async isOrchestratorOnline(orchestratorId) {
    if (this.presence) {
      const p = await this.presence.getVPPresence(orchestratorId);
      return p?.status === 'ONLINE';
    }
    return (await this.getOrchestratorSession(orchestratorId)) !== null;
  }

  async routeMessage(message, orchestratorId) {
    let attempts = 0;
    let lastError;
    while (attempts < this.retry.maxAttempts) {
      attempts += 1;
      try {
        if (!(await this.isOrchestratorOnline(orchestratorId))) {
          if (this.offlineQueue.enabled) {
            await this.queueMessageForOffline(message, orchestratorId);
            return { success: true, status: 'offline', attempts };
          }
          return { success: false, status: 'offline', error: 'Orchestrator is offline', attempts };
        }
        const session = await this.getOrchestratorSession(orchestratorId);
        if (!session) return { success: false, status: 'failed', error: `No active session found for orchestrator: ${orchestratorId}`, attempts };
        await this.deliverToDaemon(message, session, orchestratorId);
        this.emit('message.routed', { type: 'message.routed', timestamp: new Date(), messageId: message.id, orchestratorId, sessionId: session.sessionId, attempts });
        return { success: true, status: 'delivered', sessionId: session.sessionId, attempts };
      } catch (error) {
        lastError = error;
        this.emit('message.routing_error', { type: 'message.routing_error', timestamp: new Date(), messageId: message.id, orchestratorId, error: String(error) });
        if (attempts < this.retry.maxAttempts) {
          const delay = Math.min(this.retry.initialDelayMs * this.retry.backoffMultiplier ** (attempts - 1), this.retry.maxDelayMs);
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    }
    this.emit('message.routing_failed', { type: 'message.routing_failed', timestamp: new Date(), messageId: message.id, orchestratorId, attempts, error: String(lastError) });
    return { success: false, status: 'failed', error: String(lastError), attempts };
  }

  async deliverToDaemon(message, session, orchestratorId) {
    const event = {
      id: `evt_${Date.now()}_${randomBytes(4).toString('hex')}`,
      type: 'message.received',
      daemonId: session.daemonId,
      orchestratorId: message.channelId, // defect 9 of the deployed service, kept for fidelity
      payload: { messageId: message.id, channelId: message.channelId, content: message.content, authorId: message.authorId, timestamp: message.createdAt },
      timestamp: new Date(),
      requiresAck: true,
    };
    const json = JSON.stringify(event);
    const key = `daemon:events:${session.daemonId}`;
    await this.redis.lpush(key, json);
    await this.redis.ltrim(key, 0, 999);
    await this.redis.expire(key, 86400);
    await this.redis.publish(`daemon:${session.daemonId}:events`, json);
    await this.redis.setex(`routing:delivered:${message.id}`, DELIVERED_TTL, JSON.stringify({ sessionId: session.sessionId, deliveredAt: new Date() }));
  }

  async queueMessageForOffline(message, orchestratorId) {
    const key = `routing:queue:${orchestratorId}`;
    const size = await this.redis.llen(key);
    if (size >= this.offlineQueue.maxQueueSize) await this.redis.lpop(key);
    const item = { messageId: message.id, channelId: message.channelId, authorId: message.authorId, content: message.content, createdAt: message.createdAt, queuedAt: new Date() };
    await this.redis.rpush(key, JSON.stringify(item));
    await this.redis.expire(key, this.offlineQueue.queueTtlSeconds);
    this.emit('message.queued', { type: 'message.queued', timestamp: new Date(), messageId: message.id, orchestratorId, queueSize: size + 1 });
  }

  async registerSession(orchestratorId, session) {
    const data = { sessionId: session.id, daemonId: session.daemonId, status: session.status, lastActiveAt: new Date(), createdAt: session.createdAt };
    await this.redis.setex(`routing:session:${orchestratorId}`, SESSION_TTL, JSON.stringify(data));
    this.emit('session.registered', { type: 'session.registered', timestamp: new Date(), orchestratorId, sessionId: session.id });
    await this.processQueuedMessages(orchestratorId);
  }

  async processQueuedMessages(orchestratorId) {
    const key = `routing:queue:${orchestratorId}`;
    const size = await this.redis.llen(key);
    if (size === 0) return;
    this.emit('queue.processing_started', { type: 'queue.processing_started', timestamp: new Date(), orchestratorId, queueSize: size });
    let processed = 0;
    let failed = 0;
    for (;;) {
      const raw = await this.redis.lpop(key);
      if (!raw) break;
      const item = JSON.parse(raw);
      const message = { id: item.messageId, channelId: item.channelId, authorId: item.authorId, content: item.content, createdAt: new Date(item.createdAt) };
      const result = await this.routeMessage(message, orchestratorId);
      if (result.success) processed += 1;
      else failed += 1;
    }
    this.emit('queue.processing_completed', { type: 'queue.processing_completed', timestamp: new Date(), orchestratorId, processed, failed });
  }
}

module.exports = { BaselineOrchestratorRouter };
