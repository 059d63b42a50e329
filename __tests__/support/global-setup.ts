// Starts the redis-server the tests share (unless REDIS_URL names one) and hands its URL to the
// test workers through the environment.
import { spawn } from 'node:child_process';
import { freePort, waitForPing } from './redis-server';

export default async function globalSetup(): Promise<void> {
  if (process.env.REDIS_URL) return;
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  (globalThis as { __redisServer?: typeof child }).__redisServer = child;
  await waitForPing(port);
  process.env.REDIS_URL = `redis://127.0.0.1:${port}`;
}
