// Starts, kills and restarts real redis-server processes on free ports, for tests that need a
// private server (the shared one is left to the global setup).
import { ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';

/** A redis-server process owned by a test. */
export interface RedisProcess {
  readonly port: number;
  readonly url: string;
  /** Starts (or restarts) the server on the same port and waits until it answers PING. */
  start(): Promise<void>;
  /** Kills the server with SIGKILL and waits for it to exit. */
  kill(): Promise<void>;
}

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once `redis-server` on `port` answers PING, or rejects after `timeoutMs`. */
export async function waitForPing(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.setTimeout(500);
      socket.once('connect', () => socket.write('PING\r\n'));
      socket.once('data', (data) => {
        socket.destroy();
        // A server that wants a password answers NOAUTH: it is up all the same.
        resolve(/^(\+PONG|-NOAUTH)/.test(data.toString()));
      });
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => {
        socket.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Starts a private redis-server (extra arguments are passed on) and waits until it answers. */
export async function startRedis(extraArgs: string[] = []): Promise<RedisProcess> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  const handle: RedisProcess = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--enable-debug-command', 'local', ...extraArgs], {
        stdio: 'ignore',
      });
      await waitForPing(port);
    },
    async kill() {
      const running = child;
      child = null;
      if (!running || running.exitCode !== null || running.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        running.once('exit', () => resolve());
        running.kill('SIGKILL');
      });
    },
  };
  await handle.start();
  return handle;
}
