'use strict';
// Starts a private redis-server on a free port for the demo and the soak run, when REDIS_URL
// does not name one, and a private Redis Cluster for the cluster benchmark.

const { execFile, spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

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

/**
 * Starts redis-server without persistence (with `extraArgs`, such as `--replicaof host port`);
 * resolves `{ url, port, stop() }` once it answers PING.
 */
async function startPrivateRedis(extraArgs = []) {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs], { stdio: 'ignore' });
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
  // A script that exits without stopping it (an error) does not leave the server behind.
  process.once('exit', () => child.kill('SIGTERM'));
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/**
 * Starts `masters` redis-server processes in cluster mode and joins them with `redis-cli --cluster
 * create`; resolves `{ urls, stop() }` once every node reports `cluster_state:ok`. (The tests'
 * harness, `__tests__/support/redis-cluster.ts`, also moves slots; this is the plain start.)
 */
async function startPrivateCluster(masters = 3) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-cluster-'));
  const ports = [];
  // The cluster bus listens on port + 10000: draw ports until that one is free too.
  while (ports.length < masters) {
    const port = await freePort();
    if (port <= 55535 && !ports.includes(port) && (await portFree(port + 10000))) ports.push(port);
  }
  const children = ports.map((port) =>
    spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--cluster-enabled', 'yes',
      '--cluster-config-file', `nodes-${port}.conf`, '--dir', dir], { stdio: 'ignore' }));
  const stop = async () => {
    await Promise.all(children.map((child) => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', resolve);
      child.kill('SIGKILL');
    })));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) {
      for (let waited = 0; !(await answersPing(port)); waited += 25) {
        if (waited > 10_000) throw new Error(`redis-server did not answer on port ${port}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    const nodes = ports.map((port) => `127.0.0.1:${port}`);
    await new Promise((resolve, reject) => execFile('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'],
      (error, stdout, stderr) => (error ? reject(new Error(`redis-cli --cluster create failed: ${stderr || stdout}`)) : resolve())));
    for (let waited = 0; ; waited += 50) {
      const states = await Promise.all(ports.map((port) => clusterState(port)));
      if (states.every((state) => state === 'ok')) break;
      if (waited > 20_000) throw new Error(`the cluster did not come up: ${states.join(', ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { urls: ports.map((port) => `redis://127.0.0.1:${port}`), stop };
}

function portFree(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** `cluster_state` as the node on `port` reports it. */
function clusterState(port) {
  return new Promise((resolve) => {
    execFile('redis-cli', ['-p', String(port), 'CLUSTER', 'INFO'], (error, stdout) => resolve(error ? 'down' : /cluster_state:(\w+)/.exec(stdout)?.[1]));
  });
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

module.exports = { startPrivateRedis, startPrivateCluster, deleteKeys };
