// Stops the redis-servers, the Redis Cluster and the Sentinel deployment the global setup started.
import type { ChildProcess } from 'node:child_process';
import type { RedisClusterProcess } from './redis-cluster';
import type { RedisSentinelProcess } from './redis-sentinel';
import type { TlsRedisProcess } from './redis-tls';

export default async function globalTeardown(): Promise<void> {
  const cluster = (globalThis as { __redisCluster?: RedisClusterProcess }).__redisCluster;
  const stopped = cluster?.stop();
  const tlsStopped = (globalThis as { __redisTlsServer?: TlsRedisProcess }).__redisTlsServer?.stop();
  const sentinelStopped = (globalThis as { __redisSentinel?: RedisSentinelProcess }).__redisSentinel?.stop();
  const child = (globalThis as { __redisServer?: ChildProcess }).__redisServer;
  if (child && child.exitCode === null) {
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }
  await stopped;
  await tlsStopped;
  await sentinelStopped;
}
