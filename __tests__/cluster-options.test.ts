// The `redis` option's cluster forms, as lib/arguments.js turns them into the binding's target
// (`{ cluster: [node URLs], username?, password? }`). These call redisTarget directly, so they need
// neither the binding nor a server; the router's own cluster tests need both.
import Redis, { Cluster } from 'ioredis';
import { createClient, createCluster } from 'redis';
import type { OrchestratorRouterConfig } from '..';

type Target = { target: Record<string, unknown>; keyPrefix?: string };
const { redisTarget } = require('../lib/arguments') as { redisTarget: (redis: unknown) => Target };
const { InvalidArgumentError } = require('../lib/errors') as { InvalidArgumentError: new (...args: never[]) => Error };

/** The InvalidArgumentError redisTarget throws for `redis` (fails the test if it returns). */
function refusal(redis: unknown): Error & { code?: string; metadata?: { field?: string } } {
  try {
    redisTarget(redis);
  } catch (error) {
    return error as Error;
  }
  throw new Error(`redisTarget accepted ${JSON.stringify(redis)}`);
}

const clients: Array<Cluster | Redis> = [];
afterAll(() => clients.forEach((c) => c.disconnect()));

/** An ioredis Cluster that never connects (lazyConnect), disconnected after the file. */
function lazyCluster(...args: ConstructorParameters<typeof Cluster>): Cluster {
  const cluster = new Cluster(args[0], { lazyConnect: true, ...args[1] });
  clients.push(cluster);
  return cluster;
}

describe('redis: { cluster }', () => {
  const accepted: Array<[string, unknown, Target]> = [
    ['one URL', { cluster: ['redis://10.0.0.1:7000'] }, { target: { cluster: ['redis://10.0.0.1:7000'] } }],
    [
      'URLs (TLS and credentials kept as written) with a user name and password for all',
      { cluster: ['rediss://a.example:7000', 'redis://u:p@b.example:7001'], username: 'app', password: 's3cret' },
      { target: { cluster: ['rediss://a.example:7000', 'redis://u:p@b.example:7001'], username: 'app', password: 's3cret' } },
    ],
    [
      '{ host, port } objects, with the defaults and an IPv6 host',
      { cluster: [{ host: 'node1', port: 7000 }, { port: 7001 }, { host: 'node3' }, {}, { host: '::1', port: 7004 }, { host: '[::1]', port: 7005 }] },
      {
        target: {
          cluster: ['redis://node1:7000', 'redis://127.0.0.1:7001', 'redis://node3:6379', 'redis://127.0.0.1:6379', 'redis://[::1]:7004', 'redis://[::1]:7005'],
        },
      },
    ],
    ['URLs and objects mixed, only a password', { cluster: ['redis://a:1', { host: 'b', port: 2 }], password: 'p' }, { target: { cluster: ['redis://a:1', 'redis://b:2'], password: 'p' } }],
    ['db 0 (the only database a cluster has)', { cluster: ['redis://a:1'], db: 0 }, { target: { cluster: ['redis://a:1'] } }],
  ];

  it.each(accepted)('accepts %s', (_what, redis, expected) => {
    expect(redisTarget(redis)).toEqual(expected);
  });

  it('passes no key prefix (the router config’s keyPrefix applies)', () => {
    expect(redisTarget({ cluster: ['redis://a:1'] }).keyPrefix).toBeUndefined();
  });

  const sparse = ['redis://a:1', , 'redis://c:3'];
  const refused: Array<[string, unknown, string]> = [
    ['a string instead of an array', { cluster: 'redis://a:1' }, 'redis.cluster'],
    ['an object instead of an array', { cluster: { host: 'a' } }, 'redis.cluster'],
    ['null', { cluster: null }, 'redis.cluster'],
    ['an empty array', { cluster: [] }, 'redis.cluster'],
    ['a sparse array', { cluster: sparse }, 'redis.cluster[1]'],
    ['an undefined entry', { cluster: ['redis://a:1', undefined] }, 'redis.cluster[1]'],
    ['a number entry', { cluster: ['redis://a:1', 'redis://b:2', 7000] }, 'redis.cluster[2]'],
    ['a null entry', { cluster: [null] }, 'redis.cluster[0]'],
    ['an array entry', { cluster: [['a', 1]] }, 'redis.cluster[0]'],
    ['a string port', { cluster: [{ host: 'a', port: '7000' }] }, 'redis.cluster[0].port'],
    ['a fractional port', { cluster: [{ port: 7000.5 }] }, 'redis.cluster[0].port'],
    ['port 0', { cluster: [{ port: 0 }] }, 'redis.cluster[0].port'],
    ['port 65536', { cluster: ['redis://a:1', { port: 65536 }] }, 'redis.cluster[1].port'],
    ['a NaN port', { cluster: [{ port: NaN }] }, 'redis.cluster[0].port'],
    ['a numeric host', { cluster: [{ host: 10, port: 1 }] }, 'redis.cluster[0].host'],
    ['an empty host', { cluster: [{ host: '', port: 1 }] }, 'redis.cluster[0].host'],
    ['a host:port string without a scheme', { cluster: ['a.example:7000'] }, 'redis.cluster[0]'],
    ['an http:// URL', { cluster: ['http://a.example:7000'] }, 'redis.cluster[0]'],
    ['a memory:// entry', { cluster: ['redis://a:1', 'memory://'] }, 'redis.cluster[1]'],
    ['a URL without a host', { cluster: ['redis://'] }, 'redis.cluster[0]'],
    ['a non-string password', { cluster: ['redis://a:1'], password: 1234 }, 'redis.password'],
    ['a non-string username', { cluster: ['redis://a:1'], username: {} }, 'redis.username'],
    ['a single-node host beside it', { cluster: ['redis://a:1'], host: 'b' }, 'redis.host'],
    ['a single-node port beside it', { cluster: ['redis://a:1'], port: 6380 }, 'redis.port'],
    ['tls beside it (TLS is rediss:// per node)', { cluster: ['redis://a:1'], tls: true }, 'redis.tls'],
    ['a database other than 0', { cluster: ['redis://a:1'], db: 2 }, 'redis.db'],
  ];

  it.each(refused)('refuses %s with INVALID_ARGUMENT naming the field', (_what, redis, field) => {
    const error = refusal(redis);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error).toMatchObject({ name: 'InvalidArgumentError', code: 'INVALID_ARGUMENT', statusCode: 400, metadata: { field } });
    expect(error.message).toContain(field);
  });

  it('says why memory:// is refused', () => {
    expect(refusal({ cluster: ['memory://'] }).message).toMatch(/in-process store is not a cluster/);
  });
});

describe('a node-redis cluster client', () => {
  it('gives its root nodes and the credentials of its defaults (nothing connects)', () => {
    const cluster = createCluster({
      rootNodes: [{ url: 'redis://10.0.0.1:7000' }, { socket: { host: '10.0.0.2', port: 7001 } }],
      defaults: { username: 'app', password: 'x' },
    });
    expect(redisTarget(cluster)).toEqual({ target: { cluster: ['redis://10.0.0.1:7000', 'redis://10.0.0.2:7001'], username: 'app', password: 'x' } });
  });

  it('is not taken for a single-node node-redis client, which still is', () => {
    expect(redisTarget(createClient({ url: 'redis://10.0.0.1:6380' }))).toEqual({ target: { url: 'redis://10.0.0.1:6380' } });
  });
});

describe('an ioredis Cluster', () => {
  it('gives its startup nodes, redisOptions credentials and keyPrefix (nothing connects)', () => {
    const cluster = lazyCluster([{ host: '127.0.0.1', port: 7000 }, { host: '127.0.0.1', port: 7001 }], {
      redisOptions: { password: 'x' },
      keyPrefix: 'app:',
    });
    expect(cluster.status).toBe('wait');
    expect(redisTarget(cluster)).toEqual({ target: { cluster: ['redis://127.0.0.1:7000', 'redis://127.0.0.1:7001'], password: 'x' }, keyPrefix: 'app:' });
    expect(cluster.status).toBe('wait');
  });

  it('reads every startup node form ioredis takes: objects, ports, URLs, host:port and bare hosts', () => {
    const cluster = lazyCluster(
      [{ host: 'node1', port: 7000 }, { port: 7001 }, {}, 7002, '7003', 'redis://u:p@node4:7004', 'rediss://node5:7005', 'node6:7006', 'node7', '[::1]:7008', { host: '::1', port: 7009 }],
      { redisOptions: { username: 'app', password: 'pw' } },
    );
    expect(redisTarget(cluster)).toEqual({
      target: {
        cluster: [
          'redis://node1:7000',
          'redis://127.0.0.1:7001',
          'redis://127.0.0.1:6379',
          'redis://127.0.0.1:7002',
          'redis://127.0.0.1:7003',
          'redis://u:p@node4:7004',
          'rediss://node5:7005',
          'redis://node6:7006',
          'redis://node7:6379',
          'redis://[::1]:7008',
          'redis://[::1]:7009',
        ],
        username: 'app',
        password: 'pw',
      },
    });
  });

  it('takes the key prefix from redisOptions too, and redisOptions.tls as rediss:// for host:port nodes', () => {
    const cluster = lazyCluster([{ host: 'node1', port: 7000 }, 7001, 'redis://plain:7002'], { redisOptions: { keyPrefix: 'svc:', tls: {} } });
    expect(redisTarget(cluster)).toEqual({ target: { cluster: ['rediss://node1:7000', 'rediss://127.0.0.1:7001', 'redis://plain:7002'] }, keyPrefix: 'svc:' });
  });

  it('is not taken for a single-node ioredis client, which still is', () => {
    const cluster = lazyCluster([7000]);
    expect(typeof cluster.duplicate).toBe('function');
    expect(redisTarget(cluster).target).toEqual({ cluster: ['redis://127.0.0.1:7000'] });
    const single = new Redis({ lazyConnect: true, host: '127.0.0.1', port: 7000, password: 'pw', keyPrefix: 'one:' });
    clients.push(single);
    expect(redisTarget(single)).toMatchObject({ target: { host: '127.0.0.1', port: 7000, password: 'pw', db: 0, tls: false }, keyPrefix: 'one:' });
    expect(redisTarget(single).target).not.toHaveProperty('cluster');
  });

  const refused: Array<[string, () => Cluster, string]> = [
    ['no startup nodes', () => lazyCluster([]), 'redis.startupNodes'],
    ['a Unix socket startup node', () => lazyCluster([7000, '/tmp/redis.sock']), 'redis.startupNodes[1]'],
    ['a port out of range', () => lazyCluster([{ host: 'a', port: 70000 }]), 'redis.startupNodes[0].port'],
    ['a memory:// startup node', () => lazyCluster(['memory://']), 'redis.startupNodes[0]'],
    ['a non-string password', () => lazyCluster([7000], { redisOptions: { password: 5 as never } }), 'redis.options.redisOptions.password'],
    ['a TLS CA (the cluster target has no field for one)', () => lazyCluster([7000], { redisOptions: { tls: { ca: 'PEM' } } }), 'redis.options.redisOptions.tls.ca'],
  ];

  it.each(refused)('refuses one with %s, naming the field', (_what, make, field) => {
    const error = refusal(make());
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', metadata: { field } });
  });
});

describe('the redis option type', () => {
  it('takes the cluster forms (compile-time checks)', () => {
    const configs: OrchestratorRouterConfig[] = [
      { redis: { cluster: ['redis://a:7000', { host: 'b', port: 7001 }, { port: 7002 }], username: 'app', password: 'pw' } },
      { redis: lazyCluster([7000], { keyPrefix: 'app:' }) },
      // @ts-expect-error cluster entries are URLs or { host, port } objects
      { redis: { cluster: [7000] } },
      // @ts-expect-error a port is a number
      { redis: { cluster: [{ host: 'a', port: '7000' }] } },
    ];
    expect(configs).toHaveLength(4);
  });
});
