// The least-privilege Redis ACL the README gives: the keys, the channels and exactly the commands a
// router (on one server, not a cluster) uses, directly and inside its scripts. The contract suite
// runs under a user with exactly these rules (the global setup creates it), and acl.test.ts checks
// that the README quotes them and that each command is needed.
import Redis from 'ioredis';

/** Every command a router on one server uses, in the README's order. */
export const ROUTER_COMMANDS = [
  // calls: the scripts, loading them (and reading daemon events and dead letters: lrange)
  'evalsha',
  'script|load',
  // the route scripts as Redis Functions (SPEED_COMMANDS)
  'fcall',
  'function|load',
  // inside the scripts
  'get',
  'set',
  'del',
  'type',
  'expire',
  'pexpireat',
  'pexpiretime',
  'llen',
  'lpos',
  'lpop',
  'lpush',
  'rpush',
  'lrange',
  'ltrim',
  'lrem',
  'zadd',
  'zrange',
  'zrem',
  'zscore',
  'hget',
  'hset',
  'hdel',
  'publish',
] as const;

/** What routes are faster with but can do without: they call their scripts by EVALSHA instead. */
export const SPEED_COMMANDS: readonly string[] = ['fcall', 'function|load'];

/**
 * The ACL rules of a router user whose keys start with `keyPrefix` (the router's `keyPrefix`
 * option; a glob pattern in tests): its keys, its daemons' channels (never prefixed) and its commands.
 */
export function routerAclRules(keyPrefix = ''): string {
  return [`~${keyPrefix}routing:*`, `~${keyPrefix}daemon:*`, '&daemon:*', '-@all', ...ROUTER_COMMANDS.map((c) => `+${c}`)].join(' ');
}

/** What the operator tool (which only reads) uses: SCAN, and its inspection script's commands. */
export const OPERATOR_COMMANDS = ['evalsha', 'script|load', 'scan', 'get', 'zrange', 'hgetall', 'llen', 'lindex', 'zcard'] as const;

/** The ACL rules of an operator tool user (see routerAclRules). */
export function operatorAclRules(keyPrefix = ''): string {
  return [`~${keyPrefix}routing:*`, `~${keyPrefix}daemon:*`, '-@all', ...OPERATOR_COMMANDS.map((c) => `+${c}`)].join(' ');
}

/** What a router also needs through Sentinel: ROLE, which checks that the node named is the primary. */
export const SENTINEL_COMMANDS: readonly string[] = ['role'];

/** What a router also needs with durability: WAIT, which confirms each write. */
export const DURABILITY_COMMANDS: readonly string[] = ['wait'];

/** The key prefix pattern of the routers the contract suite runs under the ACL user. */
export const ACL_PREFIX_PATTERN = 'acl_*:';

/**
 * Creates (or resets) the ACL user `name` with password `password` and exactly `rules` on the
 * server at `adminUrl`, and returns the URL that logs in as it.
 */
export async function createAclUser(adminUrl: string, name: string, password: string, rules: string): Promise<string> {
  const admin = new Redis(adminUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await admin.connect();
    await admin.call('ACL', 'SETUSER', name, 'reset', 'on', `>${password}`, ...rules.split(' '));
  } finally {
    admin.disconnect();
  }
  const url = new URL(adminUrl);
  url.username = name;
  url.password = password;
  return url.toString();
}
