// Starts the redis-server the tests share (unless REDIS_URL names one), a shared 3-master Redis
// Cluster (unless REDIS_CLUSTER_URLS names one), a shared TLS-only redis-server (unless
// REDIS_TLS_URL names one) and a shared Sentinel deployment (unless REDIS_SENTINEL_URLS names one),
// and hands their URLs to the test workers through the environment.
import { spawn } from 'node:child_process';
import globalTeardown from './global-teardown';
import { ACL_PREFIX_PATTERN, createAclUser, routerAclRules } from './acl';
import { startRedisCluster } from './redis-cluster';
import { startRedisSentinel } from './redis-sentinel';
import { freePort, waitForPing } from './redis-server';
import { startTlsRedis } from './redis-tls';

/** Starts the shared redis-server unless REDIS_URL is set. */
async function startSharedServer(): Promise<void> {
  if (process.env.REDIS_URL) return;
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  (globalThis as { __redisServer?: typeof child }).__redisServer = child;
  await waitForPing(port);
  process.env.REDIS_URL = `redis://127.0.0.1:${port}`;
}

/**
 * On the shared server, the user the contract suite runs as, with exactly the least-privilege ACL
 * (for routers whose key prefix matches ACL_PREFIX_PATTERN), unless REDIS_ACL_URL is set.
 */
async function createSharedAclUser(): Promise<void> {
  if (process.env.REDIS_ACL_URL) return;
  process.env.REDIS_ACL_URL = await createAclUser(process.env.REDIS_URL!, 'router', 'router-secret', routerAclRules(ACL_PREFIX_PATTERN));
}

/** Starts the shared cluster unless REDIS_CLUSTER_URLS is set (node URLs, comma-separated). */
async function startSharedCluster(): Promise<void> {
  if (process.env.REDIS_CLUSTER_URLS) return;
  const cluster = await startRedisCluster(3);
  (globalThis as { __redisCluster?: typeof cluster }).__redisCluster = cluster;
  process.env.REDIS_CLUSTER_URLS = cluster.urls.join(',');
}

/**
 * Starts the shared TLS-only server unless REDIS_TLS_URL is set (a `rediss://` URL; then
 * REDIS_TLS_CA names the PEM file of its CA, and REDIS_TLS_OTHER_CA one of a CA that did not sign it).
 */
async function startSharedTlsServer(): Promise<void> {
  if (process.env.REDIS_TLS_URL) return;
  const server = await startTlsRedis();
  (globalThis as { __redisTlsServer?: typeof server }).__redisTlsServer = server;
  process.env.REDIS_TLS_URL = server.url;
  process.env.REDIS_TLS_CA = server.caPath;
  process.env.REDIS_TLS_OTHER_CA = server.otherCaPath;
}

/**
 * Starts the shared Sentinel deployment (a primary, a replica, three Sentinels) unless
 * REDIS_SENTINEL_URLS is set (Sentinel URLs, comma-separated; then REDIS_SENTINEL_NAME names the
 * master they monitor). Tests that kill or restart nodes start a private one: see redis-sentinel.ts.
 */
async function startSharedSentinel(): Promise<void> {
  if (process.env.REDIS_SENTINEL_URLS) return;
  const sentinel = await startRedisSentinel();
  (globalThis as { __redisSentinel?: typeof sentinel }).__redisSentinel = sentinel;
  process.env.REDIS_SENTINEL_URLS = sentinel.sentinelUrls.join(',');
  process.env.REDIS_SENTINEL_NAME = sentinel.name;
}

export default async function globalSetup(): Promise<void> {
  // Side by side: the cluster's start (2 s or more) is most of the setup's time.
  const results = await Promise.allSettled([
    startSharedServer().then(createSharedAclUser),
    startSharedCluster(),
    startSharedTlsServer(),
    startSharedSentinel(),
  ]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    // jest runs no teardown after a failed setup: stop what did start, or it outlives the run.
    await globalTeardown();
    throw failed.reason;
  }
}
