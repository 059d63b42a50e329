// What every test file uses: routers on a private key prefix that are closed after each test, a
// plain Redis client to read what the router wrote, and bounded polling.
import Redis from 'ioredis';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { createOrchestratorRouter, OrchestratorRouter, OrchestratorRouterConfig, OrchestratorRouterEventName, OrchestratorRouterEvents, RoutableMessage } from '../..';

/** The server the global setup started (or REDIS_URL). */
export function redisUrl(): string {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error('REDIS_URL is not set: the global setup did not run');
  return url;
}

/** The shared server as the least-privilege ACL user (or REDIS_ACL_URL): see acl.ts. */
export function redisAclUrl(): string {
  const url = process.env.REDIS_ACL_URL;
  if (!url) throw new Error('REDIS_ACL_URL is not set: the global setup did not run');
  return url;
}

/** The node URLs of the Redis Cluster the global setup started (or REDIS_CLUSTER_URLS, comma-separated). */
export function redisClusterUrls(): string[] {
  const urls = process.env.REDIS_CLUSTER_URLS;
  if (!urls) throw new Error('REDIS_CLUSTER_URLS is not set: the global setup did not run');
  return urls.split(',').map((u) => u.trim()).filter((u) => u.length > 0);
}

/** The TLS-only server the global setup started (or REDIS_TLS_URL): its URL, its CA, and an unrelated CA (PEM). */
export function redisTls(): { url: string; ca: string; otherCa: string } {
  const { REDIS_TLS_URL: url, REDIS_TLS_CA: ca, REDIS_TLS_OTHER_CA: otherCa } = process.env;
  if (!url || !ca || !otherCa) throw new Error('REDIS_TLS_URL, REDIS_TLS_CA or REDIS_TLS_OTHER_CA is not set: the global setup did not run');
  return { url, ca: fs.readFileSync(ca, 'utf8'), otherCa: fs.readFileSync(otherCa, 'utf8') };
}

/**
 * The Sentinel deployment the global setup started (or REDIS_SENTINEL_URLS, comma-separated, and
 * REDIS_SENTINEL_NAME): its Sentinels' URLs and the name of the master they monitor. Shared: a
 * test that kills or restarts nodes starts its own (startRedisSentinel in redis-sentinel.ts).
 */
export function redisSentinel(): { sentinels: string[]; name: string } {
  const { REDIS_SENTINEL_URLS: urls, REDIS_SENTINEL_NAME: name } = process.env;
  if (!urls || !name) throw new Error('REDIS_SENTINEL_URLS or REDIS_SENTINEL_NAME is not set: the global setup did not run');
  return { sentinels: urls.split(',').map((u) => u.trim()).filter((u) => u.length > 0), name };
}

/** A short id that no other test uses. */
export function uid(label: string): string {
  return `${label}_${randomUUID().slice(0, 8)}`;
}

const routers: OrchestratorRouter[] = [];
const prefixes = new WeakMap<OrchestratorRouter, string>();
const clients: Redis[] = [];

/** A router on its own key prefix with fast retries, closed after the test. */
export function newRouter(config: OrchestratorRouterConfig = {}): OrchestratorRouter {
  const keyPrefix = config.keyPrefix ?? uid('t') + ':';
  const router = createOrchestratorRouter({
    redis: redisUrl(),
    retry: { initialDelayMs: 10, maxDelayMs: 50 },
    deliveryTimeoutMs: 2000,
    ...config,
    keyPrefix,
  });
  routers.push(router);
  prefixes.set(router, keyPrefix);
  return router;
}

/** The Redis key `key` as `router` names it (behind its prefix). */
export function keyOf(router: OrchestratorRouter, key: string): string {
  return (prefixes.get(router) ?? '') + key;
}

/** A plain ioredis client on the test server, closed after the test. */
export function plainClient(url = redisUrl()): Redis {
  const client = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  // Tests kill servers on purpose; a client of a killed server must not print unhandled errors.
  client.on('error', () => undefined);
  clients.push(client);
  return client;
}

/**
 * A plain ioredis client on the test server, closed after the test, once it is ready. A client
 * that subscribes must be ready first: ioredis sends SUBSCRIBE while it still connects, and its
 * ready check (INFO) then fails in subscriber mode and the client reconnects, missing what is
 * published meanwhile.
 */
export async function readyClient(url = redisUrl()): Promise<Redis> {
  const client = plainClient(url);
  if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve));
  return client;
}

/** Closes every router and client the test made. */
export async function closeAll(): Promise<void> {
  await Promise.all(routers.splice(0).map((r) => r.close()));
  await Promise.all(clients.splice(0).map((c) => c.quit().catch(() => c.disconnect())));
}

/** A message with the fields the router reads. */
export function message(id: string, overrides: Partial<RoutableMessage> = {}): RoutableMessage {
  return { id, channelId: 'chan_1', authorId: 'user_1', content: `content of ${id}`, createdAt: new Date('2026-11-27T10:00:00.000Z'), ...overrides };
}

/**
 * Polls `check` until it returns a truthy value, or fails after `timeoutMs` saying what it waited
 * for (`what`, or what it returns when called then: how far things got).
 */
export async function waitFor<T>(check: () => Promise<T> | T, what: string | (() => string | Promise<string>), timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : await what()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Collects every event of the given names that the router emits. */
export function record<E extends OrchestratorRouterEventName>(router: OrchestratorRouter, ...names: E[]): Array<OrchestratorRouterEvents[E]> {
  const seen: Array<OrchestratorRouterEvents[E]> = [];
  for (const name of names) router.on(name, (event) => seen.push(event));
  return seen;
}

/** The message ids in a daemon's event list, oldest first. */
export async function daemonMessageIds(client: Redis, router: OrchestratorRouter, daemonId: string): Promise<string[]> {
  const raw = await client.lrange(keyOf(router, `daemon:events:${daemonId}`), 0, -1);
  return raw.reverse().map((e) => JSON.parse(e).payload.messageId);
}
