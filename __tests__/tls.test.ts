// TLS (rediss): every documented way to give the router a TLS target and the CAs it trusts, each
// routing a message for real through the TLS-only server the global setup started; a server its
// CAs do not vouch for failing clearly; and a CA it cannot use refused at construction.
import Redis from 'ioredis';
import { createClient } from 'redis';
import { execFile } from 'node:child_process';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { createOrchestratorRouter, InvalidArgumentError, OrchestratorRouterConfig, OrchestratorRoutingError } from '..';
import { closeAll, daemonMessageIds, message, newRouter, redisTls, uid } from './support/helpers';

type RedisOption = OrchestratorRouterConfig['redis'];

const clients: Redis[] = [];
afterEach(async () => {
  await closeAll();
  await Promise.all(clients.splice(0).map((c) => c.quit().catch(() => c.disconnect())));
});

/** The TLS server's host and port. */
function address(): { host: string; port: number } {
  const url = new URL(redisTls().url);
  return { host: url.hostname, port: Number(url.port) };
}

/** An ioredis client on the TLS server, trusting its CA: what the daemons would read with. */
function tlsClient(): Redis {
  const client = new Redis(redisTls().url, { tls: { ca: redisTls().ca }, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  clients.push(client);
  return client;
}

/** The field an InvalidArgumentError names, checking that `build` throws one. */
function refusedField(build: () => unknown): string {
  try {
    build();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return (error as InvalidArgumentError).metadata.field;
  }
  throw new Error('the router was built: expected an InvalidArgumentError');
}

describe('connecting over TLS', () => {
  const forms: Array<[string, () => RedisOption]> = [
    ['an options object with tls.ca as a string', () => ({ ...address(), tls: { ca: redisTls().ca } })],
    ['an options object with tls.ca as a Buffer', () => ({ ...address(), tls: { ca: Buffer.from(redisTls().ca) } })],
    ['an options object with tls.ca as an array (every CA in it trusted)', () => ({ ...address(), tls: { ca: [redisTls().otherCa, Buffer.from(redisTls().ca)] } })],
    ['a rediss:// URL with tls.ca', () => ({ url: redisTls().url, tls: { ca: redisTls().ca } })],
    ['an ioredis client made from a rediss:// URL with tls.ca', () => new Redis(redisTls().url, { tls: { ca: redisTls().ca }, lazyConnect: true })],
    ['an ioredis client with host, port and tls.ca as an array', () => new Redis({ ...address(), tls: { ca: [redisTls().ca] }, lazyConnect: true })],
    ['a node-redis client made from a rediss:// URL with socket.tls and ca', () => createClient({ url: redisTls().url, socket: { tls: true, ca: redisTls().ca } }) as RedisOption],
    ['a node-redis client with socket host, port, tls and ca', () => createClient({ socket: { ...address(), tls: true, ca: redisTls().ca } }) as RedisOption],
  ];

  it.each(forms)('routes a message through the TLS server given %s', async (_form, redis) => {
    const r = newRouter({ redis: redis() });
    const orch = uid('orch');
    const daemon = uid('d');
    expect(await r.routeMessage(message('queued'), orch)).toMatchObject({ success: true, status: 'offline' });
    await r.registerSession(orch, { id: 's', daemonId: daemon, status: 'active' });
    expect(await r.routeMessage(message('live'), orch)).toMatchObject({ success: true, status: 'delivered' });
    expect(await daemonMessageIds(tlsClient(), r, daemon)).toEqual(['queued', 'live']);
  });

  it('trusts the system roots with a rediss:// URL alone or tls: true (here SSL_CERT_FILE, in a process of its own)', async () => {
    const script = `
      const { createOrchestratorRouter } = require(${JSON.stringify(path.join(__dirname, '..'))});
      (async () => {
        const results = [];
        for (const redis of JSON.parse(process.argv[1])) {
          const router = createOrchestratorRouter({ redis, keyPrefix: 'tls-system:', retry: { maxAttempts: 1 } });
          try {
            results.push(await router.routeMessage({ id: 'm', channelId: 'c', content: 'x' }, 'orch_system_roots'));
          } finally {
            await router.close();
          }
        }
        process.stdout.write(JSON.stringify(results));
      })();
    `;
    const targets = [redisTls().url, { ...address(), tls: true }];
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script, JSON.stringify(targets)], {
      env: { ...process.env, SSL_CERT_FILE: process.env.REDIS_TLS_CA },
    });
    expect(JSON.parse(stdout)).toEqual([
      { success: true, status: 'offline', attempts: 1 },
      { success: true, status: 'offline', attempts: 1 },
    ]);
  });
});

describe('a TLS server the given CAs do not vouch for', () => {
  const untrusted: Array<[string, () => RedisOption]> = [
    ['an unrelated CA', () => ({ ...address(), tls: { ca: redisTls().otherCa } })],
    ['a rediss:// URL with an unrelated CA', () => ({ url: redisTls().url, tls: { ca: redisTls().otherCa } })],
    ['the system roots (a rediss:// URL alone)', () => redisTls().url],
  ];

  it.each(untrusted)('fails every call saying certificate verification failed, with %s', async (_form, redis) => {
    const r = newRouter({ redis: redis(), retry: { maxAttempts: 1 } });
    const orch = uid('orch');
    const routed = await r.routeMessage(message('never'), orch);
    expect(routed).toMatchObject({ success: false, status: 'failed' });
    expect(routed.error).toMatch(/certificate verification failed/i);
    await expect(r.registerSession(orch, { id: 's', daemonId: 'd', status: 'active' })).rejects.toThrow(OrchestratorRoutingError);
    await expect(r.registerSession(orch, { id: 's', daemonId: 'd', status: 'active' })).rejects.toThrow(/certificate verification failed/i);
    await expect(r.getQueueDepth(orch)).rejects.toThrow(/certificate verification failed/i);
  });
});

describe('refusing a CA it cannot use, at construction', () => {
  const der = () => Buffer.from(new X509Certificate(redisTls().ca).raw);
  const privateKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const corrupt = () => redisTls().ca.replace(/\n[A-Za-z0-9+/]{20}/, '\nAAAAAAAAAAAAAAAAAAAA');

  const refused: Array<[string, () => RedisOption, string]> = [
    ['text that is not PEM', () => ({ ...address(), tls: { ca: 'not a certificate' } }), 'redis.tls.ca'],
    ['an empty string', () => ({ ...address(), tls: { ca: '' } }), 'redis.tls.ca'],
    ['a DER certificate in a Buffer', () => ({ ...address(), tls: { ca: der() } }), 'redis.tls.ca'],
    ['a PEM private key', () => ({ ...address(), tls: { ca: privateKey() } }), 'redis.tls.ca'],
    ['a PEM certificate whose body is corrupt', () => ({ ...address(), tls: { ca: corrupt() } }), 'redis.tls.ca'],
    ['an empty array', () => ({ ...address(), tls: { ca: [] } }), 'redis.tls.ca'],
    ['an array with one unusable entry', () => ({ ...address(), tls: { ca: [redisTls().ca, 'garbage'] } }), 'redis.tls.ca[1]'],
    ['a number', () => ({ ...address(), tls: { ca: 42 as never } }), 'redis.tls.ca'],
    ['a rediss:// URL with a CA that is not PEM', () => ({ url: redisTls().url, tls: { ca: 'garbage' } }), 'redis.tls.ca'],
    ['an ioredis client with a CA that is not PEM', () => new Redis(redisTls().url, { tls: { ca: 'garbage' }, lazyConnect: true }), 'redis.options.tls.ca'],
    ['a node-redis client with a CA that is not PEM', () => createClient({ url: redisTls().url, socket: { tls: true, ca: 'garbage' } }) as RedisOption, 'redis.options.socket.ca'],
  ];

  it.each(refused)('refuses %s with an InvalidArgumentError naming the field', (_form, redis, field) => {
    expect(refusedField(() => createOrchestratorRouter({ redis: redis() }))).toBe(field);
  });

  it('says what a CA must be', () => {
    expect(() => createOrchestratorRouter({ redis: { ...address(), tls: { ca: 'not a certificate' } } })).toThrow(
      /^Invalid redis\.tls\.ca: must be PEM text holding at least one certificate/,
    );
  });

  it('refuses tls beside a URL that is not rediss://, and tls outside redis', () => {
    expect(refusedField(() => createOrchestratorRouter({ redis: { url: 'redis://127.0.0.1:6379', tls: { ca: redisTls().ca } } }))).toBe('redis.tls');
    const topLevel = { redis: redisTls().url, tls: { ca: redisTls().ca } } as OrchestratorRouterConfig;
    expect(refusedField(() => createOrchestratorRouter(topLevel))).toBe('tls');
  });
});
