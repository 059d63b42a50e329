// Starts a real local Redis Cluster (plain redis-server processes joined by `redis-cli --cluster
// create`), and moves hash slots between its masters the way `redis-cli --cluster reshard` does,
// so tests can watch clients cope with MOVED and ASK redirections.
import Redis from 'ioredis';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitForPing } from './redis-server';

/** Hash slots in a Redis Cluster. */
const SLOTS = 16384;

/** A local Redis Cluster owned by a test (or the global setup): one master per process, no replicas. */
export interface RedisClusterProcess {
  /** The masters' ports, in start order. */
  readonly ports: number[];
  /** `redis://127.0.0.1:PORT` for each port, same order. */
  readonly urls: string[];
  /** Each master's node id (CLUSTER MYID), same order as `ports`. */
  nodeIds(): Promise<string[]>;
  /** Kills every node, waits for them to exit, and removes their working directory. */
  stop(): Promise<void>;
  /** The hash slot of `key` (CLUSTER KEYSLOT). */
  slotOf(key: string): Promise<number>;
  /** The index into `ports` of the master that serves `slot` (from CLUSTER SLOTS). */
  ownerOf(slot: number): Promise<number>;
  /**
   * Moves `slot` to master `to` (an index into `ports`) with keys migrated `batch` (default 10) at
   * a time, awaiting `between` after each batch; resolves with the number of keys moved.
   */
  moveSlot(slot: number, to: number, options?: { batch?: number; between?: () => Promise<void> }): Promise<number>;
}

/** Whether nothing listens on `port` on 127.0.0.1 right now. */
async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * `count` distinct free ports whose cluster bus port (port + 10000) is free too. freePort() hands
 * out ephemeral ports, some too high for a bus port, so draw until enough fit.
 */
async function clusterPorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  const taken = new Set<number>();
  for (let draws = 0; ports.length < count; draws++) {
    if (draws > 200) throw new Error(`found only ${ports.length} of ${count} free port pairs (port and port + 10000)`);
    const port = await freePort();
    if (port > 65535 - 10000 || taken.has(port) || taken.has(port + 10000)) continue;
    if (!(await portIsFree(port + 10000))) continue;
    ports.push(port);
    taken.add(port);
    taken.add(port + 10000);
  }
  return ports;
}

/** Runs `redis-cli` with `args` and rejects with its output when it exits non-zero. */
async function redisCli(args: string[]): Promise<void> {
  const child = spawn('redis-cli', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c) => resolve(c));
  });
  // redis-cli --cluster reports some failures on stdout and others on stderr: show both.
  if (code !== 0) throw new Error(`redis-cli ${args.join(' ')} exited with ${code}:\n${output}`);
}

/** Kills `child` with SIGKILL (there is nothing on disk to save) and waits for it to exit. */
async function killProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** Whether `ranges` (one node's CLUSTER SLOTS: `[start, end, ...nodes]` each) cover every hash slot. */
function coversAllSlots(ranges: Array<[number, number, ...unknown[]]>): boolean {
  let covered = 0;
  for (const [start, end] of ranges) covered += end - start + 1;
  return covered === SLOTS;
}

/** Polls `check` until it is true, or fails with `what` (or what it returns then) after `timeoutMs`. */
async function until(check: () => Promise<boolean>, what: string | (() => Promise<string>), timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : await what()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Starts `masters` (at least 3) redis-server processes as one cluster and waits until every slot is
 * served. About 2 s: a fresh master reports cluster_state:ok only 2 s after it started (Redis's
 * CLUSTER_WRITABLE_DELAY), and redis-cli polls for the join once a second.
 */
export async function startRedisCluster(masters = 3): Promise<RedisClusterProcess> {
  // redis-cli --cluster create refuses fewer than 3 masters: say so before starting anything.
  if (!Number.isInteger(masters) || masters < 3) throw new Error(`a cluster needs at least 3 masters, got ${masters}`);
  const ports = await clusterPorts(masters);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'redis-cluster-'));
  const children: ChildProcess[] = [];
  const admins: Redis[] = [];
  let ids: string[] | null = null;

  const stop = async (): Promise<void> => {
    // disconnect, not quit: a quit to a node that already died would wait for its reconnection.
    for (const admin of admins.splice(0)) admin.disconnect();
    await Promise.all(children.splice(0).map(killProcess));
    rmSync(dir, { recursive: true, force: true });
  };

  const nodeIds = async (): Promise<string[]> => {
    // Ids never change for the life of a node: ask once.
    ids ??= await Promise.all(admins.map((c) => c.cluster('MYID') as Promise<string>));
    return ids;
  };

  const ownerOf = async (slot: number): Promise<number> => {
    // Each range is [start, end, master, ...replicas], a node being [ip, port, id, ...].
    const ranges = await admins[0].cluster('SLOTS');
    const master = ranges.find(([start, end]) => start <= slot && slot <= end)?.[2];
    if (!master) throw new Error(`no master serves slot ${slot}`);
    const index = ports.indexOf(Number(master[1]));
    if (index < 0) throw new Error(`slot ${slot} is served by port ${master[1]}, not a node of this cluster`);
    return index;
  };

  try {
    for (const port of ports) {
      const nodeDir = path.join(dir, String(port));
      mkdirSync(nodeDir);
      children.push(
        spawn(
          'redis-server',
          [
            '--port', String(port),
            '--bind', '127.0.0.1',
            '--cluster-enabled', 'yes',
            '--cluster-config-file', path.join(dir, `nodes-${port}.conf`),
            '--cluster-node-timeout', '5000',
            '--save', '',
            '--appendonly', 'no',
            '--dir', nodeDir,
          ],
          { stdio: 'ignore' },
        ),
      );
    }
    await Promise.all(ports.map((port) => waitForPing(port)));
    await redisCli(['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    for (const port of ports) {
      const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
      // stop() kills the nodes; a client whose node is gone must not print unhandled errors.
      client.on('error', () => undefined);
      admins.push(client);
    }
    // redis-cli returns once the nodes agree on the configuration, but a node may still report
    // cluster_state:fail (or an incomplete CLUSTER SLOTS) until its gossip settles: seconds, more
    // on a busy machine.
    const views = () => Promise.all(admins.map(async (c) => ({ info: (await c.cluster('INFO')) as string, slots: await c.cluster('SLOTS') })));
    await until(
      async () => (await views()).every(({ info, slots }) => /^cluster_state:ok\r?$/m.test(info) && coversAllSlots(slots)),
      async () => {
        const seen = (await views()).map(({ info, slots }, i) => `${ports[i]}: ${/^cluster_state:(\w+)/m.exec(info)?.[1]}, ${slots.length} ranges`);
        return `every node of the cluster on ports ${ports.join(', ')} to report cluster_state:ok and all ${SLOTS} slots (${seen.join('; ')})`;
      },
      60_000,
    );
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    ports,
    urls: ports.map((p) => `redis://127.0.0.1:${p}`),
    nodeIds,
    stop,
    async slotOf(key) {
      return (await admins[0].cluster('KEYSLOT', key)) as number;
    },
    ownerOf,
    async moveSlot(slot, to, { batch = 10, between } = {}) {
      if (!Number.isInteger(to) || to < 0 || to >= ports.length) throw new Error(`no master ${to}: the cluster has ${ports.length}`);
      const from = await ownerOf(slot);
      if (from === to) throw new Error(`slot ${slot} is already on master ${to} (port ${ports[to]})`);
      const [source, target] = [admins[from], admins[to]];
      const nodes = await nodeIds();
      // The order redis-cli uses: the target accepts ASKING clients before the source sends any.
      await target.cluster('SETSLOT', slot, 'IMPORTING', nodes[from]);
      await source.cluster('SETSLOT', slot, 'MIGRATING', nodes[to]);
      let moved = 0;
      for (;;) {
        const keys = (await source.cluster('GETKEYSINSLOT', slot, batch)) as string[];
        if (keys.length === 0) break;
        await source.call('MIGRATE', '127.0.0.1', String(ports[to]), '', '0', '5000', 'KEYS', ...keys);
        moved += keys.length;
        if (between) await between();
      }
      // The target first, so that it owns the slot (and bumps its config epoch) before the source
      // starts answering MOVED; then everyone else, instead of waiting for gossip.
      await target.cluster('SETSLOT', slot, 'NODE', nodes[to]);
      await source.cluster('SETSLOT', slot, 'NODE', nodes[to]);
      await Promise.all(admins.filter((_, i) => i !== from && i !== to).map((c) => c.cluster('SETSLOT', slot, 'NODE', nodes[to])));
      return moved;
    },
  };
}
