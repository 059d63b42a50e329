// Starts a real local Redis Sentinel deployment (a primary, one replica of it, and three Sentinels:
// plain redis-server processes, the Sentinels run with --sentinel), and kills and restarts its data
// nodes so tests can watch clients follow a failover.
import Redis from 'ioredis';
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitForPing } from './redis-server';
import { makeCertificates, waitForTlsPing } from './redis-tls';

/** How a deployment is set up; every member is optional. */
export interface RedisSentinelOptions {
  /** The name the Sentinels monitor the primary under (default 'mymaster'). */
  name?: string;
  /** A password for both data nodes (requirepass and masterauth), given to the Sentinels (auth-pass). */
  password?: string;
  /**
   * How long the primary must stay silent before the first Sentinel deems it down (default 2000 ms;
   * the second and third wait 500 and 1000 ms more). Keep it well above 1000 ms: right after a
   * failover a Sentinel may take up to 1 s (its reconnection period) to reach the new primary, and
   * would deem it down and start a bogus failover meanwhile.
   */
  downAfterMs?: number;
  /**
   * The Sentinels' failover-timeout (default 3000 ms): how long the leader may take to promote the
   * replica, and half the time before a Sentinel tries again after a failed attempt (or after voting).
   */
  failoverTimeoutMs?: number;
  /**
   * Every node and Sentinel TLS-only (no plain port; replication and the Sentinels' links over TLS
   * too), with certificates for 127.0.0.1: the data nodes' signed by one CA made for the
   * deployment (`caPath`), the Sentinels' by another (`sentinelCaPath`), so that a client that
   * swaps them is refused.
   */
  tls?: boolean;
}

/** A local Sentinel deployment owned by a test (or the global setup). */
export interface RedisSentinelProcess {
  /** The name the Sentinels monitor the primary under. */
  readonly name: string;
  /** The password of the data nodes, if they have one (the Sentinels themselves have none). */
  readonly password: string | undefined;
  /** The three Sentinels' ports. */
  readonly sentinelPorts: number[];
  /** `redis://127.0.0.1:PORT` for each Sentinel (`rediss://` with `tls`), same order. */
  readonly sentinelUrls: string[];
  /** With `tls`: the PEM file of the CA that signed the data nodes' certificate. */
  readonly caPath: string | undefined;
  /** With `tls`: the PEM file of the CA that signed the Sentinels' certificate. */
  readonly sentinelCaPath: string | undefined;
  /** With `tls`: one PEM file holding both CAs. */
  readonly caBundlePath: string | undefined;
  /** With `tls`: the PEM file of a CA that signed nothing the deployment shows. */
  readonly otherCaPath: string | undefined;
  /** Both data nodes' ports: the first started as the primary, the second as its replica. */
  readonly dataPorts: number[];
  /** The primary's port as a Sentinel names it (SENTINEL GET-MASTER-ADDR-BY-NAME). */
  primaryPort(): Promise<number>;
  /** Kills the data node the Sentinels name as primary with SIGKILL, waits for it to exit, and returns its port. */
  killPrimary(): Promise<number>;
  /**
   * Waits until every Sentinel that answers (at least two of the three) names the same primary other
   * than `fromPort` and has finished failing over to it, and that node answers ROLE as master;
   * returns its port.
   */
  waitForFailover(fromPort: number, timeoutMs?: number): Promise<number>;
  /**
   * Restarts the killed data node on `port` as a replica of the current primary and waits until it
   * has synced and every Sentinel sees it as a healthy replica (one a later failover can promote).
   */
  restartNode(port: number): Promise<void>;
  /** Kills every process, waits for them to exit, and removes their working directory; safe to call twice. */
  stop(): Promise<void>;
}

/** Sentinels in a deployment, how many must agree that the primary is down, and a majority of them. */
const SENTINELS = 3;
const QUORUM = 2;
const MAJORITY = Math.floor(SENTINELS / 2) + 1;

/**
 * How much later each Sentinel deems a silent primary down than the one before it. Sentinels that
 * reach that verdict together each start a failover and vote for themselves: nobody wins, and they
 * retry only after twice the failover-timeout. Staggered, one of them asks first and the others
 * vote for it.
 */
const DOWN_AFTER_STAGGER_MS = 500;

/** Kills `child` with SIGKILL (there is nothing on disk to save) and waits for it to exit. */
async function killProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/**
 * Polls `check` until it is true, or fails with `what` (or what it returns then) after `timeoutMs`.
 * A check that throws counts as false (a node may be down, or not up yet); the last error is shown.
 */
async function until(check: () => Promise<boolean>, what: string | (() => Promise<string>), timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const seen = typeof what === 'string' ? what : await what().catch((e) => `(could not tell: ${e})`);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${seen}${lastError ? ` (last error: ${lastError})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `count` distinct free ports. */
async function distinctPorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  for (let draws = 0; ports.size < count; draws++) {
    if (draws > 100) throw new Error(`found only ${ports.size} of ${count} distinct free ports`);
    ports.add(await freePort());
  }
  return [...ports];
}

/** A Sentinel reply of alternating names and values (SENTINEL MASTER, each of SENTINEL REPLICAS) as an object. */
function fields(flat: unknown): Record<string, string> {
  const list = flat as string[];
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < list.length; i += 2) out[list[i]] = list[i + 1];
  return out;
}

/** `value` quoted for a redis config file (its parser takes "..." with backslash escapes). */
function quoted(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The last `lines` lines of the log file at `file`, indented, or nothing if there is none. */
function logTail(file: string, lines = 12): string {
  if (!existsSync(file)) return '';
  const tail = readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines);
  return tail.map((line) => `    ${line}`).join('\n');
}

/**
 * Runs `run` with a fresh client of the data node on `port` that neither retries nor queues, and
 * disconnects it afterwards: data nodes die on purpose, and a lasting client would keep reconnecting.
 */
async function withNode<T>(port: number, access: Access, run: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({
    host: '127.0.0.1',
    port,
    password: access.password,
    ...(access.ca === undefined ? {} : { tls: { ca: access.ca } }),
    lazyConnect: true,
    enableReadyCheck: false,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    commandTimeout: 2000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await run(client);
  } finally {
    // One that ended (it could not connect) has nothing to close: disconnect() would then leave a
    // 2 s timer behind, waiting for a close event that came before.
    if (client.status !== 'end') client.disconnect();
  }
}

/** How a data node is reached: its password, and the CA of its TLS certificate (TLS-only nodes). */
interface Access {
  password: string | undefined;
  ca: string | undefined;
}

/** Resolves once the node on `port` answers PING (over TLS when `access` has a CA). */
function waitForNode(port: number, access: Access): Promise<void> {
  return access.ca === undefined ? waitForPing(port) : waitForTlsPing(port, access.ca);
}

/** The node's ROLE: 'master' or 'slave' (with the port of its primary and its link state). */
async function roleOf(port: number, access: Access): Promise<{ role: string; primaryPort?: number; state?: string }> {
  const reply = (await withNode(port, access, (c) => c.call('ROLE'))) as unknown[];
  if (reply[0] === 'slave') return { role: 'slave', primaryPort: Number(reply[2]), state: String(reply[3]) };
  return { role: String(reply[0]) };
}

/** Whether the replica on `port` has its link to its primary up (INFO replication). */
async function linkIsUp(port: number, access: Access): Promise<boolean> {
  const info = await withNode(port, access, (c) => c.info('replication'));
  return /^master_link_status:up\r?$/m.test(info);
}

/**
 * Starts a primary, a replica of it and three Sentinels monitoring them (quorum 2), on free ports,
 * and resolves once the replica has synced and every Sentinel knows the replica and the other two
 * Sentinels: a failover can happen from then on. About 1.2 s, most of it the first Sentinel waiting
 * to retry its links to the other two; a failover then takes about 4.5 s (killPrimary to
 * waitForFailover), most of it the down-after time.
 */
export async function startRedisSentinel(options: RedisSentinelOptions = {}): Promise<RedisSentinelProcess> {
  const { name = 'mymaster', password, downAfterMs = 2000, failoverTimeoutMs = 3000, tls = false } = options;
  // Sentinel takes the name as one word of its config and of its commands.
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`a master name of letters, digits, '.', '_' and '-' only, got ${JSON.stringify(name)}`);
  const ports = await distinctPorts(2 + SENTINELS);
  const dataPorts = ports.slice(0, 2);
  const sentinelPorts = ports.slice(2);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'redis-sentinel-'));
  const nodes = new Map<number, ChildProcess>();
  const sentinels: ChildProcess[] = [];
  const admins: Redis[] = [];
  const logOf = (port: number) => path.join(dir, `${port}.log`);
  let stopped = false;
  const file = (name: string) => path.join(dir, name);
  if (tls) {
    try {
      makeCertificates(dir);
      mkdirSync(file('sentinel'));
      makeCertificates(file('sentinel'));
      // What a node or Sentinel trusts when it connects out: a primary, or another Sentinel.
      writeFileSync(file('ca-bundle.pem'), readFileSync(file('ca.pem'), 'utf8') + readFileSync(file('sentinel/ca.pem'), 'utf8'));
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }
  const ca = tls ? readFileSync(file('ca.pem'), 'utf8') : undefined;
  const sentinelCa = tls ? readFileSync(file('sentinel/ca.pem'), 'utf8') : undefined;
  const access: Access = { password, ca };
  /**
   * TLS-only: no plain port, the TLS one instead, and TLS for replication and Sentinel links; a
   * Sentinel shows the Sentinels' certificate, a data node the data nodes'.
   */
  const tlsSettings = (port: number, role: 'node' | 'sentinel' = 'node'): string[][] =>
    tls
      ? [
          ['port', '0'],
          ['tls-port', String(port)],
          ['tls-replication', 'yes'],
          ['tls-cert-file', file(role === 'sentinel' ? 'sentinel/server.pem' : 'server.pem')],
          ['tls-key-file', file(role === 'sentinel' ? 'sentinel/server.key' : 'server.key')],
          ['tls-ca-cert-file', file('ca-bundle.pem')],
          ['tls-auth-clients', 'no'],
        ]
      : [['port', String(port)]];

  const stop = async (): Promise<void> => {
    stopped = true;
    // disconnect, not quit: nothing to wait for, and the processes are about to die.
    for (const admin of admins.splice(0)) admin.disconnect();
    const children = [...nodes.values(), ...sentinels.splice(0)];
    nodes.clear();
    await Promise.all(children.map(killProcess));
    rmSync(dir, { recursive: true, force: true });
  };

  /** Starts the data node on `port` (a replica of `primary` if given); resolves once it answers PING. */
  const startNode = async (port: number, primary?: number): Promise<void> => {
    const nodeDir = path.join(dir, `node-${port}`);
    mkdirSync(nodeDir, { recursive: true });
    const child = spawn(
      'redis-server',
      [
        ...tlsSettings(port).flatMap(([key, value]) => [`--${key}`, value]),
        '--bind', '127.0.0.1',
        '--save', '',
        '--appendonly', 'no',
        // A replica's full sync writes its temporary RDB file here.
        '--dir', nodeDir,
        '--logfile', logOf(port),
        // A primary starts a (diskless) full sync at once instead of waiting 5 s for more replicas.
        '--repl-diskless-sync-delay', '0',
        ...(password === undefined ? [] : ['--requirepass', password, '--masterauth', password]),
        ...(primary === undefined ? [] : ['--replicaof', '127.0.0.1', String(primary)]),
      ],
      { stdio: 'ignore' },
    );
    nodes.set(port, child);
    await waitForNode(port, access);
  };

  /** Runs `command` on every Sentinel at once; an answer is null where a Sentinel failed to answer. */
  const askSentinels = (...command: string[]): Promise<unknown[]> =>
    Promise.all(admins.map((admin) => admin.call(command[0], ...command.slice(1)).catch(() => null)));

  /** Each Sentinel's view of the deployment: its primary's flags and port, its replicas and its peers. */
  const views = () =>
    Promise.all(
      admins.map(async (admin) => ({
        master: fields(await admin.call('SENTINEL', 'MASTER', name)),
        replicas: ((await admin.call('SENTINEL', 'REPLICAS', name)) as unknown[]).map(fields),
        sentinels: ((await admin.call('SENTINEL', 'SENTINELS', name)) as unknown[]).map(fields),
      })),
    );
  type View = Awaited<ReturnType<typeof views>>[number];
  const describe = (list: View[]) =>
    list
      .map(({ master, replicas, sentinels: peers }, i) => {
        const replicaList = replicas.map((r) => `${r.port} ${r.flags} link ${r['master-link-status']}`).join(', ');
        const peerList = peers.map((s) => `${s.port} ${s.flags}`).join(', ');
        return `sentinel ${sentinelPorts[i]}: primary ${master.port} (${master.flags}), replicas [${replicaList}], sentinels [${peerList}]`;
      })
      .join('; ');
  /** Whether a Sentinel sees `replica` as a healthy replica it could promote. */
  const seesHealthyReplica = ({ replicas }: View, replica: number) =>
    replicas.some((r) => Number(r.port) === replica && r.flags === 'slave' && r['master-link-status'] === 'ok');
  const sentinelLogs = () => sentinelPorts.map((port) => `\n  sentinel ${port} log:\n${logTail(logOf(port))}`).join('');

  const primaryPort = async (): Promise<number> => {
    // The first Sentinel that answers: they are never killed, but one may be slow.
    for (const answer of await askSentinels('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) {
      if (Array.isArray(answer)) return Number(answer[1]);
    }
    throw new Error(`no Sentinel (ports ${sentinelPorts.join(', ')}) named the primary of ${name}`);
  };

  try {
    const [primary, replica] = dataPorts;
    await startNode(primary);
    await startNode(replica, primary);
    // The replica must be listed in the primary's INFO before the Sentinels start: a Sentinel asks
    // a new primary for INFO at once, then only every 10 s.
    await until(() => linkIsUp(replica, access), `the replica on port ${replica} to sync with the primary on port ${primary}`, 20_000);

    // Each Sentinel starts knowing the other two, as if it had run before and saved them to its
    // config: it would otherwise learn of them only from their hello messages, published every 2 s.
    // (The first to start finds the others not yet listening, and retries 1 s later.)
    const ids = sentinelPorts.map(() => randomBytes(20).toString('hex'));
    for (const [i, port] of sentinelPorts.entries()) {
      const file = path.join(dir, `sentinel-${port}.conf`);
      // Sentinel rewrites its config file (ids, epochs, what it discovered): one of its own, writable.
      writeFileSync(
        file,
        [
          ...tlsSettings(port, 'sentinel').map(([key, value]) => `${key} ${quoted(value)}`),
          'bind 127.0.0.1',
          `dir ${quoted(dir)}`,
          `logfile ${quoted(logOf(port))}`,
          `sentinel myid ${ids[i]}`,
          `sentinel monitor ${name} 127.0.0.1 ${primary} ${QUORUM}`,
          `sentinel down-after-milliseconds ${name} ${downAfterMs + i * DOWN_AFTER_STAGGER_MS}`,
          `sentinel failover-timeout ${name} ${failoverTimeoutMs}`,
          `sentinel parallel-syncs ${name} 1`,
          ...(password === undefined ? [] : [`sentinel auth-pass ${name} ${quoted(password)}`]),
          ...sentinelPorts.flatMap((peer, j) => (j === i ? [] : [`sentinel known-sentinel ${name} 127.0.0.1 ${peer} ${ids[j]}`])),
          '',
        ].join('\n'),
      );
      sentinels.push(spawn('redis-server', [file, '--sentinel'], { stdio: 'ignore' }));
    }
    await Promise.all(sentinelPorts.map((port) => waitForNode(port, { password: undefined, ca: sentinelCa })));
    for (const port of sentinelPorts) {
      const admin = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, commandTimeout: 5000, ...(sentinelCa === undefined ? {} : { tls: { ca: sentinelCa } }) });
      // stop() kills the Sentinels; a client whose Sentinel is gone must not print unhandled errors.
      admin.on('error', () => undefined);
      admins.push(admin);
    }
    // A Sentinel learns of the replica from the primary's INFO, and links to the Sentinels its
    // config names; until it sees the replica healthy and has linked to both others it cannot
    // pick the replica to promote or win a vote.
    let last: View[] = [];
    await until(
      async () => {
        last = await views();
        return last.every(
          (view) => view.master.flags === 'master' && seesHealthyReplica(view, replica) && view.sentinels.filter((s) => s.flags === 'sentinel').length === SENTINELS - 1,
        );
      },
      async () => `every Sentinel to see the primary ${primary}, the replica ${replica} and the other ${SENTINELS - 1} Sentinels (${describe(last)})${sentinelLogs()}`,
      30_000,
    );
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    name,
    password,
    sentinelPorts,
    sentinelUrls: sentinelPorts.map((p) => `${tls ? 'rediss' : 'redis'}://127.0.0.1:${p}`),
    caPath: tls ? file('ca.pem') : undefined,
    sentinelCaPath: tls ? file('sentinel/ca.pem') : undefined,
    caBundlePath: tls ? file('ca-bundle.pem') : undefined,
    otherCaPath: tls ? file('other-ca.pem') : undefined,
    dataPorts,
    primaryPort,
    async killPrimary() {
      const port = await primaryPort();
      const child = nodes.get(port);
      if (!child || child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`the Sentinels name port ${port} as primary, but it is not running: wait for the failover first (waitForFailover)`);
      }
      await killProcess(child);
      return port;
    },
    async waitForFailover(fromPort, timeoutMs = 30_000) {
      let answers: unknown[] = [];
      let masters: unknown[] = [];
      let found = 0;
      await until(
        async () => {
          answers = await askSentinels('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name);
          masters = await askSentinels('SENTINEL', 'MASTER', name);
          const named = answers.filter(Array.isArray).map((a) => Number(a[1]));
          const port = named[0];
          if (named.length < MAJORITY || port === fromPort || named.some((p) => p !== port)) return false;
          // The leader names the promoted replica before it is done; wait until each Sentinel
          // has switched to it (SENTINEL MASTER shows the new port) with no failover under way (its
          // link to the new primary may still be down: flags master,disconnected).
          const settled = masters.every((m) => {
            if (m === null) return true;
            const { flags, port: current } = fields(m);
            return Number(current) === port && flags.split(',').every((f) => f === 'master' || f === 'disconnected');
          });
          if (!settled || (await roleOf(port, access)).role !== 'master') return false;
          found = port;
          return true;
        },
        async () => {
          const seen = answers.map((a, i) => {
            const m = masters[i] ? fields(masters[i]) : null;
            return `sentinel ${sentinelPorts[i]}: ${Array.isArray(a) ? `names ${a[1]}` : 'no answer'}${m ? ` (primary ${m.port}, ${m.flags})` : ''}`;
          });
          return `the Sentinels to fail over from port ${fromPort} to a new primary (${seen.join('; ')})${sentinelLogs()}`;
        },
        timeoutMs,
      );
      return found;
    },
    async restartNode(port) {
      if (stopped) throw new Error('the deployment was stopped');
      if (!dataPorts.includes(port)) throw new Error(`port ${port} is not a data node of this deployment (${dataPorts.join(', ')})`);
      const running = nodes.get(port);
      if (running && running.exitCode === null && running.signalCode === null) throw new Error(`the data node on port ${port} is still running`);
      const primary = await primaryPort();
      if (primary === port) throw new Error(`the Sentinels still name port ${port} as primary: wait for the failover first (waitForFailover)`);
      await startNode(port, primary);
      await until(() => linkIsUp(port, access), `the restarted node on port ${port} to sync with the primary on port ${primary}`, 20_000);
      let last: View[] = [];
      await until(
        async () => {
          last = await views();
          return last.every((view) => seesHealthyReplica(view, port));
        },
        async () => `every Sentinel to see the restarted node ${port} as a healthy replica of ${primary} (${describe(last)})${sentinelLogs()}`,
        20_000,
      );
    },
    stop,
  };
}
