'use strict';
// Argument checks that need JavaScript types (strings, Dates, clients), turning what callers pass
// into the flat values the binding takes. Refusals are InvalidArgumentErrors naming the field.

const { InvalidArgumentError } = require('./errors');

/** A short description of a value for an error message. */
function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  return typeof value;
}

/** Refuses a string that is not well-formed UTF-16 (an unpaired surrogate cannot be stored as UTF-8). */
function wellFormed(field, value) {
  if (!value.isWellFormed()) {
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
  const id = requireId('message.id', message.id);
  const channelId = requireId('message.channelId', message.channelId);
  if (typeof message.content !== 'string') {
    throw new InvalidArgumentError('message.content', `must be a string, got ${describe(message.content)}`);
  }
  wellFormed('message.content', message.content);
  const authorId = message.authorId;
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
    message.content,
    toMillis('message.createdAt', message.createdAt),
    priorityValue(message.priority),
  ];
}

function isIoredis(client) {
  return typeof client.duplicate === 'function' && client.options && typeof client.options === 'object' && !client.options.socket;
}

function isNodeRedis(client) {
  return typeof client.sendCommand === 'function' && client.options && typeof client.options === 'object';
}

/**
 * The `tls` option as the binding reads it: `false`, `true` (the system's trusted roots), or
 * `{ ca }` with the trusted root certificates as one PEM string. `ca` may be a string, a Buffer or
 * an array of them, as in Node's `tls.connect` (and so in ioredis and node-redis options).
 */
function tlsTarget(field, tls) {
  if (tls === undefined || tls === null || tls === false) return false;
  if (tls === true) return true;
  if (typeof tls !== 'object') throw new InvalidArgumentError(field, `must be true, false or an options object, got ${describe(tls)}`);
  if (tls.ca === undefined || tls.ca === null) return true;
  const parts = Array.isArray(tls.ca) ? tls.ca : [tls.ca];
  const pems = parts.map((part, i) => {
    if (typeof part === 'string') return part;
    if (Buffer.isBuffer(part)) return part.toString('utf8');
    throw new InvalidArgumentError(`${field}.ca`, `must be PEM text (a string or a Buffer, or an array of them), got ${describe(part)}${Array.isArray(tls.ca) ? ` at [${i}]` : ''}`);
  });
  return { ca: pems.join('\n') };
}

/** Reads the `redis` option: a URL, an options object, or an ioredis / node-redis client. */
function redisTarget(redis) {
  if (redis === undefined || redis === null) return { target: { url: process.env.REDIS_URL || 'redis://127.0.0.1:6379' } };
  if (typeof redis === 'string') return { target: { url: redis } };
  if (typeof redis !== 'object') {
    throw new InvalidArgumentError('redis', `must be a URL, an options object or a Redis client, got ${describe(redis)}`);
  }
  if (isIoredis(redis)) {
    const o = redis.options;
    return {
      target: { host: o.host, port: o.port, username: o.username, password: o.password, db: o.db, tls: tlsTarget('redis.options.tls', o.tls) },
      keyPrefix: o.keyPrefix || undefined,
    };
  }
  if (isNodeRedis(redis)) {
    const o = redis.options;
    if (o.url) return { target: { url: o.url } };
    const socket = o.socket || {};
    return {
      target: {
        host: socket.host,
        port: socket.port,
        username: o.username,
        password: o.password,
        db: o.database,
        tls: socket.tls ? tlsTarget('redis.options.socket', { ca: socket.ca }) : false,
      },
    };
  }
  const { host, port, username, password, db, tls } = redis;
  for (const [field, value, type] of [['host', host, 'string'], ['username', username, 'string'], ['password', password, 'string']]) {
    if (value !== undefined && typeof value !== type) {
      throw new InvalidArgumentError(`redis.${field}`, `must be a ${type}, got ${describe(value)}`);
    }
  }
  for (const [field, value] of [['port', port], ['db', db]]) {
    if (value !== undefined && !Number.isInteger(value)) {
      throw new InvalidArgumentError(`redis.${field}`, `must be an integer, got ${describe(value)}`);
    }
  }
  return { target: { host, port, username, password, db, tls: tlsTarget('redis.tls', tls) } };
}

module.exports = { PRIORITY_VALUES, describe, requireId, optionalId, toMillis, messageArgs, redisTarget };
