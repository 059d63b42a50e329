'use strict';
// Argument checks that need JavaScript types (strings, Dates, clients), turning what callers pass
// into the flat values the binding takes. Refusals are InvalidArgumentErrors naming the field.

const { X509Certificate } = require('node:crypto');
const { InvalidArgumentError, adopt } = require('./errors');

/** A short description of a value for an error message. */
function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  return typeof value;
}

/** A high surrogate with no low one after it, or a low one with no high one before it. */
const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Whether a string is well-formed UTF-16: `String.prototype.isWellFormed` where Node.js has it
 * (20 and later), the same test by regular expression on Node.js 18.
 */
const isWellFormed = typeof String.prototype.isWellFormed === 'function'
  ? (value) => value.isWellFormed()
  : (value) => !UNPAIRED_SURROGATE.test(value);

/** Refuses a string that is not well-formed UTF-16 (an unpaired surrogate cannot be stored as UTF-8). */
function wellFormed(field, value) {
  if (!isWellFormed(value)) {
    throw new InvalidArgumentError(field, 'must not contain unpaired surrogates (it cannot be stored as UTF-8)');
  }
  return value;
}

function requireId(field, value) {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidArgumentError(field, `must be a non-empty string, got ${describe(value)}`);
  }
  return wellFormed(field, value);
}

/** An id that may be left out (`undefined` or `null`, read as absent), else as `requireId`. */
function optionalId(field, value) {
  return value === undefined || value === null ? undefined : requireId(field, value);
}

/** A date given as a Date, an ISO-8601 string or ms since the epoch; `undefined` means now. */
function toMillis(field, value) {
  if (value === undefined || value === null) return Date.now();
  let ms = NaN;
  if (value instanceof Date) ms = value.getTime();
  else if (typeof value === 'string') ms = Date.parse(value);
  else if (typeof value === 'number') ms = value;
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) {
    throw new InvalidArgumentError(field, `must be a valid Date, ISO-8601 string or epoch milliseconds, got ${describe(value)}`);
  }
  return Math.trunc(ms);
}

/**
 * The number a daemon event carries in `priority` for each level a message may have (higher is
 * more important; never 0, so a daemon testing the field for truth never mistakes low for absent).
 */
const PRIORITY_VALUES = Object.freeze({ high: 3, normal: 2, low: 1 });

/** A message's priority as the binding takes it (its value); `normal` when absent. */
function priorityValue(priority) {
  if (priority === undefined || priority === null) return PRIORITY_VALUES.normal;
  if (typeof priority === 'string' && Object.prototype.hasOwnProperty.call(PRIORITY_VALUES, priority)) {
    return PRIORITY_VALUES[priority];
  }
  throw new InvalidArgumentError('message.priority', `must be 'high', 'normal' or 'low' when given, got ${describe(priority)}`);
}

/** Checks a message's JS types and returns the flat values the binding takes. */
function messageArgs(message) {
  if (message === null || typeof message !== 'object') {
    throw new InvalidArgumentError('message', `must be an object, got ${describe(message)}`);
  }
  // Every field is read exactly once, then checked and used as read: a getter or Proxy that
  // answers differently each time cannot slip an unchecked value past the checks.
  const { id: rawId, channelId: rawChannelId, content, authorId, createdAt, priority } = message;
  const id = requireId('message.id', rawId);
  const channelId = requireId('message.channelId', rawChannelId);
  if (typeof content !== 'string') {
    throw new InvalidArgumentError('message.content', `must be a string, got ${describe(content)}`);
  }
  wellFormed('message.content', content);
  if (authorId !== undefined && authorId !== null) {
    if (typeof authorId !== 'string') {
      throw new InvalidArgumentError('message.authorId', `must be a string when given, got ${describe(authorId)}`);
    }
    wellFormed('message.authorId', authorId);
  }
  return [
    id,
    channelId,
    authorId ?? undefined,
    content,
    toMillis('message.createdAt', createdAt),
    priorityValue(priority),
  ];
}

/** An ioredis `Cluster`: it sets `isCluster` and keeps the nodes it was given in `startupNodes`. */
function isIoredisCluster(client) {
  return client.isCluster === true && Array.isArray(client.startupNodes) && client.options !== null && typeof client.options === 'object';
}

function isIoredis(client) {
  // An ioredis Cluster has `duplicate` and socket-less `options` too, but no host or port of its own.
  return typeof client.duplicate === 'function' && client.options && typeof client.options === 'object' && !client.options.socket && client.isCluster !== true;
}

/** A node-redis cluster client (`createCluster()`): its options, root nodes included, are `_options`. */
function isNodeRedisCluster(client) {
  return typeof client.sendCommand === 'function' && client._options !== null && typeof client._options === 'object' && Array.isArray(client._options.rootNodes);
}

function isNodeRedis(client) {
  return typeof client.sendCommand === 'function' && client.options && typeof client.options === 'object';
}

/** Every PEM block of a text: its whole text and its label (`CERTIFICATE`, `PRIVATE KEY`, …). */
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

/**
 * One `ca` entry as PEM text, checked as Node's `tls` would read it: at least one certificate, and
 * nothing but certificates that parse (else redis-rs builds a store that trusts nothing, and every
 * connection fails later, less clearly).
 */
function caPem(field, part) {
  if (typeof part !== 'string' && !Buffer.isBuffer(part)) {
    throw new InvalidArgumentError(field, `must be PEM text (a string or a Buffer, or an array of them), got ${describe(part)}`);
  }
  const blocks = [...(typeof part === 'string' ? part : part.toString('latin1')).matchAll(PEM_BLOCK)];
  if (blocks.length === 0) {
    throw new InvalidArgumentError(field, 'must be PEM text holding at least one certificate (-----BEGIN CERTIFICATE-----), got no PEM block');
  }
  for (const [block, label] of blocks) {
    if (label !== 'CERTIFICATE') throw new InvalidArgumentError(field, `must hold only certificates, got a PEM ${label}`);
    try {
      new X509Certificate(block);
    } catch (error) {
      throw new InvalidArgumentError(field, `holds a certificate that does not parse (${error.message})`);
    }
  }
  return blocks.map(([block]) => block).join('\n');
}

/**
 * The `tls` option as the binding reads it: `false`, `true` (the system's trusted roots), or
 * `{ ca }` with the trusted root certificates as one PEM string. `ca` may be a string, a Buffer or
 * an array of them, as in Node's `tls.connect` (and so in ioredis and node-redis options); each
 * must hold PEM certificates (see `caPem`).
 */
function tlsTarget(field, tls) {
  if (tls === undefined || tls === null || tls === false) return false;
  if (tls === true) return true;
  if (typeof tls !== 'object') throw new InvalidArgumentError(field, `must be true, false or an options object, got ${describe(tls)}`);
  const { ca } = tls;
  if (ca === undefined || ca === null) return true;
  if (!Array.isArray(ca)) return { ca: caPem(`${field}.ca`, ca) };
  if (ca.length === 0) throw new InvalidArgumentError(`${field}.ca`, 'must hold at least one certificate, got an empty array');
  // Array.from visits holes (as undefined, refused), where map would skip them.
  return { ca: Array.from(ca, (part, i) => caPem(`${field}.ca[${i}]`, part)).join('\n') };
}

/** `redis: { url, tls? }` (`url` as read from it): a URL, and with a rediss:// one the CAs it trusts. */
function urlOptionsTarget(url, redis) {
  const { tls } = redis;
  if (typeof url !== 'string') throw new InvalidArgumentError('redis.url', `must be a string, got ${describe(url)}`);
  // Options a URL carries would be silently dropped beside it: refuse them.
  for (const name of ['host', 'port', 'username', 'password', 'db']) {
    if (redis[name] !== undefined) throw new InvalidArgumentError(`redis.${name}`, 'is not read with redis.url: give it in the URL');
  }
  const target = tlsTarget('redis.tls', tls);
  if (target !== false && !/^rediss:\/\//i.test(url)) {
    throw new InvalidArgumentError('redis.tls', 'is read only with a rediss:// URL (redis.url is not one)');
  }
  return { target: { url, tls: target } };
}

/** `host:port` as a URL authority: an IPv6 address goes in brackets. */
function authority(host, port) {
  return `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
}

/** A cluster node's URL, checked: `redis://` or `rediss://` and a host. */
function nodeUrl(field, url) {
  if (/^memory:/i.test(url)) {
    throw new InvalidArgumentError(field, "cannot be memory://: the in-process store is not a cluster (give redis: 'memory://' instead)");
  }
  if (!/^rediss?:\/\//i.test(url)) throw new InvalidArgumentError(field, `must be a redis:// or rediss:// URL, got ${describe(url)}`);
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidArgumentError(field, `must be a valid URL, got ${describe(url)}`);
  }
  if (!parsed.hostname) throw new InvalidArgumentError(field, `must name a host, got ${describe(url)}`);
  return url;
}

/** A `{ host?, port? }` cluster node as a URL (host 127.0.0.1 and port 6379 by default). */
function nodeObjectUrl(field, node, scheme) {
  const { host = '127.0.0.1', port = 6379 } = node;
  if (typeof host !== 'string' || host.length === 0) throw new InvalidArgumentError(`${field}.host`, `must be a non-empty string, got ${describe(host)}`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidArgumentError(`${field}.port`, `must be an integer from 1 to 65535, got ${typeof port === 'number' ? port : describe(port)}`);
  }
  return `${scheme}://${authority(host, port)}`;
}

/** Optional `username` / `password` of a cluster target: strings when given. */
function clusterCredentials(field, options) {
  const credentials = {};
  for (const name of ['username', 'password']) {
    const value = options[name];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') throw new InvalidArgumentError(`${field}.${name}`, `must be a string, got ${describe(value)}`);
    credentials[name] = value;
  }
  return credentials;
}

/** Node URLs from a list that must be a non-empty array without holes; `entry` reads one item. */
function clusterNodes(field, nodes, entry) {
  if (!Array.isArray(nodes)) throw new InvalidArgumentError(field, `must be an array of node URLs or { host, port } objects, got ${describe(nodes)}`);
  if (nodes.length === 0) throw new InvalidArgumentError(field, 'must name at least one node');
  const urls = [];
  // Indexes, not map/forEach: those skip the holes of a sparse array, which must be refused.
  for (let i = 0; i < nodes.length; i++) {
    if (!(i in nodes)) throw new InvalidArgumentError(`${field}[${i}]`, 'must be a node URL or a { host, port } object, got an empty slot');
    urls.push(entry(`${field}[${i}]`, nodes[i]));
  }
  return urls;
}

/** `redis: { cluster, username?, password? }`: node URLs or `{ host, port }` objects. */
function clusterOptionsTarget(redis) {
  // Options that single-node connections read would be silently dropped here: refuse them.
  for (const name of ['host', 'port', 'tls']) {
    if (redis[name] !== undefined) {
      throw new InvalidArgumentError(`redis.${name}`, "is not read with redis.cluster: give each node's host and port in redis.cluster (rediss:// URLs for TLS)");
    }
  }
  if (redis.db !== undefined && redis.db !== 0) throw new InvalidArgumentError('redis.db', `must be 0 with redis.cluster (a cluster has only database 0), got ${describe(redis.db)}`);
  const cluster = clusterNodes('redis.cluster', redis.cluster, (field, node) => {
    if (typeof node === 'string') return nodeUrl(field, node);
    if (node !== null && typeof node === 'object' && !Array.isArray(node)) return nodeObjectUrl(field, node, 'redis');
    throw new InvalidArgumentError(field, `must be a redis:// URL or a { host, port } object, got ${describe(node)}`);
  });
  return { target: { cluster, ...clusterCredentials('redis', redis) } };
}

/**
 * An ioredis `Cluster`: its startup nodes (`{ host, port }` objects, port numbers, URLs or
 * `host:port` strings, as ioredis takes them), the credentials of its `redisOptions`, and its key
 * prefix (ioredis copies `redisOptions.keyPrefix` into `options.keyPrefix`; both are read).
 */
function ioredisClusterTarget(client) {
  const o = client.options;
  const redisOptions = o.redisOptions && typeof o.redisOptions === 'object' ? o.redisOptions : {};
  const tls = redisOptions.tls;
  if (tls && typeof tls === 'object' && tls.ca !== undefined && tls.ca !== null) {
    // The cluster target has no CA field: connecting with the system's roots would fail later, and less clearly.
    throw new InvalidArgumentError('redis.options.redisOptions.tls.ca', 'is not supported for a cluster: only the system\'s trusted roots are');
  }
  // ioredis connects to every node with redisOptions, so its `tls` turns host:port nodes into rediss://.
  const scheme = tls ? 'rediss' : 'redis';
  const cluster = clusterNodes('redis.startupNodes', client.startupNodes, (field, node) => {
    if (typeof node === 'number') return nodeObjectUrl(field, { port: node }, scheme);
    if (typeof node === 'string') {
      if (/^\d+$/.test(node)) return nodeObjectUrl(field, { port: Number(node) }, scheme);
      if (node.startsWith('/')) throw new InvalidArgumentError(field, `must be a TCP node (a cluster is not reached over a Unix socket), got ${describe(node)}`);
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(node)) return nodeUrl(field, node);
      // `host:port` or a bare host, read as ioredis reads it (as if redis:// stood before it).
      const parsed = new URL(nodeUrl(field, `${scheme}://${node}`));
      return nodeObjectUrl(field, { host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'), port: parsed.port ? Number(parsed.port) : 6379 }, scheme);
    }
    if (node !== null && typeof node === 'object' && !Array.isArray(node)) {
      const port = typeof node.port === 'string' && /^\d+$/.test(node.port) ? Number(node.port) : node.port;
      return nodeObjectUrl(field, { host: node.host, port }, scheme);
    }
    throw new InvalidArgumentError(field, `must be a URL, a port or a { host, port } object, got ${describe(node)}`);
  });
  return {
    target: { cluster, ...clusterCredentials('redis.options.redisOptions', redisOptions) },
    keyPrefix: o.keyPrefix || redisOptions.keyPrefix || undefined,
  };
}

/**
 * A node-redis cluster client: its root nodes (`{ url }` or `{ socket: { host, port } }`) and the
 * credentials of its `defaults`; `defaults.socket.tls` turns socket nodes into rediss://.
 */
function nodeRedisClusterTarget(client) {
  const o = client._options;
  const defaults = o.defaults && typeof o.defaults === 'object' ? o.defaults : {};
  const scheme = defaults.socket && defaults.socket.tls ? 'rediss' : 'redis';
  const cluster = clusterNodes('redis.options.rootNodes', o.rootNodes, (field, node) => {
    if (node !== null && typeof node === 'object' && typeof node.url === 'string') return nodeUrl(`${field}.url`, node.url);
    if (node !== null && typeof node === 'object' && node.socket && typeof node.socket === 'object') {
      return nodeObjectUrl(`${field}.socket`, { host: node.socket.host, port: node.socket.port }, node.socket.tls ? 'rediss' : scheme);
    }
    throw new InvalidArgumentError(field, `must be { url } or { socket: { host, port } }, got ${describe(node)}`);
  });
  return { target: { cluster, ...clusterCredentials('redis.options.defaults', defaults) } };
}

/** A Sentinel's URL, checked: `redis://` or `rediss://` (TLS) and a host. */
function sentinelUrl(field, url) {
  if (/^memory:/i.test(url)) throw new InvalidArgumentError(field, "cannot be memory://: give redis: 'memory://' for the in-process store");
  return nodeUrl(field, url);
}

/** A Sentinel as ioredis takes one, `{ host, port }` (ioredis's defaults: localhost, 26379), as a URL. */
function sentinelObjectUrl(field, node, scheme) {
  return nodeObjectUrl(field, { host: node.host ?? 'localhost', port: node.port ?? 26379 }, scheme);
}

/**
 * The Sentinels' URLs and how they are reached: over TLS when `sentinelTls` is set (a
 * `{ host, port }` Sentinel becomes rediss://) or their URLs are rediss://; all the same way.
 */
function sentinelsOverTls(field, list, tlsField, tls, node) {
  const sentinelTls = tlsTarget(tlsField, tls);
  const urls = clusterNodes(field, list, (at, entry) => node(at, entry, sentinelTls ? 'rediss' : 'redis'));
  const secure = urls.map((url) => /^rediss:/i.test(url));
  const other = secure.findIndex((s) => s !== secure[0]);
  if (other > 0) {
    throw new InvalidArgumentError(`${field}[${other}]`, `must be ${secure[0] ? 'rediss://' : 'redis://'} like ${field}[0]: the router reaches every Sentinel the same way`);
  }
  if (sentinelTls !== false && !secure[0]) {
    throw new InvalidArgumentError(tlsField, `is read only with rediss:// Sentinel URLs (${field}[0] is redis://)`);
  }
  return { sentinels: urls, ...(secure[0] ? { sentinelTls: sentinelTls || true } : {}) };
}

/** Optional string fields of a Sentinel target, and its `db`. */
function sentinelCredentials(field, options) {
  const target = {};
  for (const name of ['username', 'password', 'sentinelUsername', 'sentinelPassword']) {
    const value = options[name];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') throw new InvalidArgumentError(`${field}.${name}`, `must be a string, got ${describe(value)}`);
    target[name] = value;
  }
  const { db } = options;
  if (db !== undefined && db !== null) {
    if (!Number.isInteger(db) || db < 0) throw new InvalidArgumentError(`${field}.db`, `must be a non-negative integer, got ${describe(db)}`);
    target.db = db;
  }
  return target;
}

/** The name of the primary a Sentinel target's Sentinels watch: a non-empty string. */
function sentinelName(field, name) {
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidArgumentError(field, `must name the primary the Sentinels watch (their \`sentinel monitor\` name), got ${describe(name)}`);
  }
  return name;
}

/**
 * `redis: { sentinels, name, username?, password?, sentinelUsername?, sentinelPassword?, db?, tls?,
 * sentinelTls? }`: `tls` is TLS to the primary, `sentinelTls` (or rediss:// URLs) to the Sentinels.
 */
function sentinelOptionsTarget(redis) {
  for (const name of ['url', 'host', 'port', 'path', 'cluster']) {
    if (redis[name] !== undefined) throw new InvalidArgumentError(`redis.${name}`, 'is not read with redis.sentinels: the Sentinels name the primary');
  }
  const sentinels = sentinelsOverTls('redis.sentinels', redis.sentinels, 'redis.sentinelTls', redis.sentinelTls, (field, node, scheme) => {
    if (typeof node === 'string') return sentinelUrl(field, node);
    if (node !== null && typeof node === 'object' && !Array.isArray(node)) return sentinelObjectUrl(field, node, scheme);
    throw new InvalidArgumentError(field, `must be a redis:// or rediss:// URL or a { host, port } object, got ${describe(node)}`);
  });
  return {
    target: { ...sentinels, name: sentinelName('redis.name', redis.name), ...sentinelCredentials('redis', redis), tls: tlsTarget('redis.tls', redis.tls) },
  };
}

/**
 * An ioredis client configured with `sentinels`: its Sentinels, the name they watch, its
 * credentials, and TLS as ioredis uses it: `sentinelTLS` to the Sentinels, and `tls` to the primary
 * only with `enableTLSForSentinelMode` (without it ioredis reaches the primary in plain TCP).
 * What the router cannot follow as ioredis would is refused, never guessed: a replica role (the
 * router writes), a NAT map.
 */
function ioredisSentinelTarget(o) {
  if (o.role !== undefined && o.role !== null && o.role !== 'master') {
    throw new InvalidArgumentError('redis.options.role', `must be 'master': the router writes, so it connects to the primary, got ${describe(o.role)}`);
  }
  if (o.natMap && Object.keys(o.natMap).length > 0) {
    throw new InvalidArgumentError('redis.options.natMap', 'is not supported: the router connects to the addresses the Sentinels give');
  }
  const sentinels = sentinelsOverTls('redis.options.sentinels', o.sentinels, 'redis.options.sentinelTLS', o.sentinelTLS, (field, node, scheme) => {
    if (node !== null && typeof node === 'object' && !Array.isArray(node)) return sentinelObjectUrl(field, node, scheme);
    throw new InvalidArgumentError(field, `must be a { host, port } object, got ${describe(node)}`);
  });
  return {
    target: {
      ...sentinels,
      name: sentinelName('redis.options.name', o.name),
      ...sentinelCredentials('redis.options', o),
      tls: o.enableTLSForSentinelMode ? tlsTarget('redis.options.tls', o.tls) : false,
    },
    keyPrefix: o.keyPrefix || undefined,
  };
}

/** A node-redis Sentinel client (`createSentinel()`): it keeps its options in private fields. */
function isNodeRedisSentinel(client) {
  return typeof client.getSentinelNode === 'function' && typeof client.getMasterNode === 'function';
}

/**
 * Reads the `redis` option: a URL, an options object (`{ url, tls }`, `{ cluster }` and
 * `{ sentinels, name }` too), or an ioredis / node-redis client.
 */
function redisTarget(redis) {
  if (redis === undefined || redis === null) return { target: { url: process.env.REDIS_URL || 'redis://127.0.0.1:6379' } };
  if (typeof redis === 'string') return { target: { url: redis } };
  if (typeof redis !== 'object') {
    throw new InvalidArgumentError('redis', `must be a URL, an options object or a Redis client, got ${describe(redis)}`);
  }
  if (isIoredisCluster(redis)) return ioredisClusterTarget(redis);
  if (isNodeRedisCluster(redis)) return nodeRedisClusterTarget(redis);
  if (isNodeRedisSentinel(redis)) {
    // Read as host and port it would be localhost:6379, whatever its Sentinels say.
    throw new InvalidArgumentError('redis', "is a node-redis Sentinel client, whose options cannot be read: give redis: { sentinels: ['redis://host:26379', ...], name } instead");
  }
  if (isIoredis(redis)) {
    const o = redis.options;
    // Its host and port are ioredis's defaults (localhost:6379), not the primary: the Sentinels name that.
    if (Array.isArray(o.sentinels) && o.sentinels.length > 0) return ioredisSentinelTarget(o);
    // With `path` (a Unix socket), its host and port are defaults too.
    const where = o.path ? { path: o.path } : { host: o.host, port: o.port };
    return {
      target: { ...where, username: o.username, password: o.password, db: o.db, tls: tlsTarget('redis.options.tls', o.tls) },
      keyPrefix: o.keyPrefix || undefined,
    };
  }
  if (isNodeRedis(redis)) {
    const o = redis.options;
    const socket = o.socket || {};
    // node-redis keeps `url` and merges what it parsed (rediss:// sets `socket.tls`) into `socket`.
    if (o.url) return { target: socket.tls ? { url: o.url, tls: tlsTarget('redis.options.socket', { ca: socket.ca }) } : { url: o.url } };
    return {
      target: {
        ...(socket.path ? { path: socket.path } : { host: socket.host, port: socket.port }),
        username: o.username,
        password: o.password,
        db: o.database,
        tls: socket.tls ? tlsTarget('redis.options.socket', { ca: socket.ca }) : false,
      },
    };
  }
  // After the clients: an ioredis client's `cluster` is its CLUSTER command.
  if (redis.sentinels !== undefined) return sentinelOptionsTarget(redis);
  if (redis.cluster !== undefined) return clusterOptionsTarget(redis);
  const url = redis.url;
  if (url !== undefined) return urlOptionsTarget(url, redis);
  const { host, port, path, username, password, db, tls } = redis;
  if (path !== undefined && (host !== undefined || port !== undefined)) {
    throw new InvalidArgumentError('redis.path', 'is a Unix socket: give it without host and port');
  }
  for (const [field, value, type] of [['host', host, 'string'], ['path', path, 'string'], ['username', username, 'string'], ['password', password, 'string']]) {
    if (value !== undefined && typeof value !== type) {
      throw new InvalidArgumentError(`redis.${field}`, `must be a ${type}, got ${describe(value)}`);
    }
  }
  for (const [field, value] of [['port', port], ['db', db]]) {
    if (value !== undefined && !Number.isInteger(value)) {
      throw new InvalidArgumentError(`redis.${field}`, `must be an integer, got ${describe(value)}`);
    }
  }
  return { target: { host, port, path, username, password, db, tls: tlsTarget('redis.tls', tls) } };
}

const CHECKS = { requireId, optionalId, toMillis, messageArgs, redisTarget };
const checksByFamily = new WeakMap();

/**
 * The checks a router makes, refusing in its error family (see `errorClasses` in ./errors): the
 * functions above as they are for the package's own classes, else each raising its refusal again
 * in the family's InvalidArgumentError.
 */
function checksIn(family) {
  if (family.InvalidArgumentError === InvalidArgumentError) return CHECKS;
  let checks = checksByFamily.get(family);
  if (!checks) {
    checks = {};
    for (const [name, check] of Object.entries(CHECKS)) {
      // Every check takes one or two arguments (fixed arity keeps the route path free of rest arrays).
      checks[name] = (a, b) => {
        try {
          return check(a, b);
        } catch (error) {
          throw adopt(error, family);
        }
      };
    }
    checksByFamily.set(family, checks);
  }
  return checks;
}

module.exports = { PRIORITY_VALUES, describe, checksIn, redisTarget, caPem };
