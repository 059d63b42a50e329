'use strict';
// Starts a private redis-server on a free port for the demo and the soak run, when REDIS_URL
// does not name one.

const { spawn } = require('node:child_process');
const net = require('node:net');

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function answersPing(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
  });
}

/** Starts redis-server without persistence; resolves `{ url, stop() }` once it answers PING. */
async function startPrivateRedis() {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const failed = new Promise((_, reject) => {
    child.once('error', (error) => reject(new Error(`could not start redis-server (${error.message}); install Redis or set REDIS_URL`)));
  });
  const ready = (async () => {
    for (let waited = 0; !(await answersPing(port)); waited += 25) {
      if (waited > 10_000) throw new Error(`redis-server did not answer on port ${port}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  await Promise.race([ready, failed]);
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Deletes every key matching `pattern` (SCAN, then DEL in batches). */
async function deleteKeys(client, pattern) {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await client.del(...keys);
  } while (cursor !== '0');
}

module.exports = { startPrivateRedis, deleteKeys };
