'use strict';
// The public JS surface of @neolith/orchestrator-router: the EventEmitter class and the exports,
// one method per call of the deployed API (its argument checks, its doc comment, its hand-over to
// the binding), which is why this file is longer than the others. What is not the API lives in
// lib/: the error classes (errors.js), argument checks (arguments.js), the message look-ups
// (message-service.js), the routes' Redis socket (redis-socket.js), the routing calls in flight
// (calls.js), loading the binary (native.js). Routing itself happens in the native binding (src/).

const { EventEmitter } = require('node:events');
const binding = require('./lib/native').loadBinding();

const { NativeRouter } = binding;
const {
  RouterBaseError,
  OrchestratorRoutingError,
  OrchestratorOfflineError,
  NoActiveSessionError,
  InvalidArgumentError,
  NotReplicatedError,
  errorClasses,
  fromNative,
} = require('./lib/errors');
const { PRIORITY_VALUES, describe, checksIn } = require('./lib/arguments');
const { serviceLookup, prismaLookup, isMessageService, isPrismaClient, forBinding } = require('./lib/message-service');
const { RedisSocket } = require('./lib/redis-socket');
const { CallRegistry } = require('./lib/calls');
const tracing = require('./lib/tracing');

// The events a router emits, as the binding names them (src/engine/events.rs).
const EVENT_NAMES = Object.freeze(binding.eventNames());
const WATCHED = new Set(EVENT_NAMES);

// What a native call leaves for JS to do, as bits of its return value (src/binding/crossing.rs):
// events to emit, routes to start or bytes to write (flush before this tick ends), the Redis socket
// is unusable (drop it), routing calls to settle, requests on the socket wait for replies.
const { EVENTS, OUTPUT, RESET, RESULTS, AWAITING } = binding;

/** Whether the presence service says the orchestrator is online: only `'ONLINE'` counts. */
async function saysOnline(presence, orchestratorId) {
  const answer = await presence.getVPPresence(orchestratorId);
  return answer !== null && typeof answer === 'object' && answer.status === 'ONLINE';
}

/** A session as the binding returns it, with `Date` fields. */
function sessionInfo(session) {
  return {
    sessionId: session.sessionId,
    daemonId: session.daemonId,
    status: session.status,
    lastActiveAt: new Date(session.lastActiveAt),
    createdAt: new Date(session.createdAt),
  };
}

/**
 * Routes chat messages to orchestrators' daemons through Redis, queues them while an
 * orchestrator is offline, and drains the queue when it returns.
 */
class OrchestratorRouter extends EventEmitter {
  constructor(options = {}) {
    super();
    if (options === null || typeof options !== 'object') {
      throw new InvalidArgumentError('config', `must be an object, got ${describe(options)}`);
    }
    // A copy, so that each option is read once (the binding reads the copy's JSON).
    const config = { ...options };
    // Every error this router raises is of this family: the package's classes, or the host's
    // hierarchy (`errorBase`, such as @neolith/core's GenesisError).
    this._errors = errorClasses(config.errorBase);
    this._check = checksIn(this._errors);
    const prisma = config.prisma ?? null;
    if (prisma !== null && !isPrismaClient(prisma)) {
      throw new this._errors.InvalidArgumentError('prisma', `must be a Prisma client with the message model (prisma.message.findMany), got ${describe(prisma)}`);
    }
    if (config.tls !== undefined) {
      // Not read here: a top-level tls would otherwise be dropped without a word.
      throw new this._errors.InvalidArgumentError('tls', "is read inside redis: give redis: { url: 'rediss://…', tls } or { host, port, tls }");
    }
    const { target, keyPrefix } = this._check.redisTarget(config.redis);
    const nativeConfig = { ...config, prisma: undefined, errorBase: undefined, redis: target, keyPrefix: config.keyPrefix ?? keyPrefix };
    try {
      // The binding's wake-up reaches the router through `link`, which close() empties: Node lets
      // go of the function only on a later turn of the event loop, and a loop that creates and
      // closes routers without one would keep every closed router's objects alive until then.
      const link = { router: this };
      this._link = link;
      this._native = new NativeRouter(JSON.stringify(nativeConfig), () => {
        if (link.router !== null) link.router._after(link.router._native.pump());
      });
    } catch (error) {
      throw fromNative(error, undefined, this._errors);
    }
    this._presence = null;
    // How drains re-read queued messages: the message service once set, else the Prisma client.
    this._prismaLookup = prisma === null ? null : prismaLookup(prisma);
    if (this._prismaLookup) this._native.setMessageSource(forBinding(this._prismaLookup));
    // Routing calls in flight: their promises are settled from the binding's completion batches.
    this._calls = new CallRegistry((held) => {
      this._native.hold(held);
      if (this._redis !== null) this._redis.hold(held);
    });
    this._closed = false;
    // The socket routing calls' Redis commands travel on (null when routes take the store's own
    // connection: TLS, a cluster, the in-process store).
    this._redis = this._native.pipeTarget() === null ? null : new RedisSocket(() => JSON.parse(this._native.pipeTarget()), {
      onData: (bytes) => this._after(this._native.feed(bytes)),
      onClose: (reason) => this._after(this._native.pipeClosed(reason)),
    });
    this._flushQueued = false;
    this._watchListeners();
    // Whether the binding reports drains and redeliveries for their spans (see _syncTracing).
    this._tracing = false;
    this._syncTracing();
  }

  /**
   * The tracer of the registered tracer provider, or null; while there is one, the binding
   * reports drains and redeliveries for their spans. Looked at by every call that routes, queues
   * or may start a drain: background drains and redeliveries are traced as the last such call found.
   */
  _syncTracing() {
    const tracer = tracing.activeTracer();
    if ((tracer !== null) !== this._tracing) {
      this._tracing = tracer !== null;
      for (const name of tracing.RECORDS) this._native.setListening(name, this._tracing);
    }
    return tracer;
  }

  /** Acts on what a native call left to do: hand out events and results, write to Redis. */
  _after(flags) {
    if (this._redis !== null) {
      if (flags & RESET) this._redis.drop();
      this._redis.watch((flags & AWAITING) !== 0);
    }
    if (flags & (EVENTS | RESULTS)) this._deliverEvents(flags);
    if (flags & OUTPUT && !this._flushQueued) {
      // Once per tick: every route started in this tick goes out in one write.
      this._flushQueued = true;
      process.nextTick(() => this._flush());
    }
  }

  _flush() {
    this._flushQueued = false;
    // The routeMessage calls of this tick start here, together.
    const flags = this._native.dispatch();
    if (flags & (EVENTS | RESULTS)) this._deliverEvents(flags);
    if (this._redis === null) return;
    // The routes' target moved (a Sentinel failover): the socket reconnects to the new primary.
    if (flags & RESET) this._redis.drop();
    if (!(flags & OUTPUT)) return;
    // A new socket first: its opening commands (AUTH, SELECT) go out ahead of the rest, which the
    // binding holds back until they succeeded (then `feed` reports OUTPUT again).
    if (!this._redis.isOpen) {
      this._redis.open();
      this._native.pipeOpened();
      // Requests wait from the start (the ones about to be written): a connect that hangs counts too.
      this._redis.watch(true);
    }
    const bytes = this._native.takeOutput();
    if (bytes !== null) this._redis.write(bytes);
  }

  /** Tells the binding which events have listeners, so that no other event is built. */
  _watchListeners() {
    this.on('newListener', (name) => {
      if (WATCHED.has(name)) this._native.setListening(name, true);
    });
    this.on('removeListener', (name) => {
      if (WATCHED.has(name)) this._native.setListening(name, this.listenerCount(name) > 0);
    });
  }

  /**
   * Emits every event the binding has waiting, then settles every routing call that finished
   * (only what `flags` names, when given: each take is a crossing into the binding).
   */
  _deliverEvents(flags = EVENTS | RESULTS) {
    const batch = flags & EVENTS ? this._native.takeEvents() : null;
    if (batch !== null) {
      for (const event of JSON.parse(batch)) {
        // A drain's or a redelivery's span, never an event of the router's.
        if (tracing.RECORDS.has(event.type)) {
          tracing.record(event, this._native);
          continue;
        }
        event.timestamp = new Date(event.timestamp);
        this.emit(event.type, event);
      }
    }
    const done = flags & RESULTS ? this._native.takeCompletions() : null;
    if (done !== null) this._calls.settle(JSON.parse(done), (error, orchestratorId) => fromNative(error, orchestratorId, this._errors));
  }

  /** Starts a routing call in the binding; its promise settles when its completion arrives. */
  _submit(orchestratorId, start) {
    if (this._closed) {
      return Promise.reject(new this._errors.OrchestratorRoutingError('OrchestratorRouter is closed', orchestratorId ? { orchestratorId } : undefined));
    }
    return this._calls.start(orchestratorId, (id) => {
      let flags;
      try {
        flags = start(id);
      } catch (error) {
        // The binding refused the call outright (an argument it could not convert).
        throw fromNative(error, orchestratorId, this._errors);
      }
      this._after(flags);
    });
  }

  /** Runs a binding call, emits the events it produced before its result, and maps errors. */
  async _call(orchestratorId, promise) {
    try {
      return await promise;
    } catch (error) {
      throw fromNative(error, orchestratorId, this._errors);
    } finally {
      this._deliverEvents();
    }
  }

  /**
   * Emits as `EventEmitter` does, except that each listener of a router event is called on its
   * own: one that throws does not keep the event from the listeners after it, and its exception
   * surfaces as `uncaughtException`, as any exception thrown from an event listener would.
   */
  emit(eventName, ...args) {
    if (!WATCHED.has(eventName)) return super.emit(eventName, ...args);
    // A copy: a listener that adds or removes listeners changes the next event, not this one.
    const listeners = this.rawListeners(eventName);
    for (const listener of listeners) {
      try {
        Reflect.apply(listener, this, args);
      } catch (error) {
        process.nextTick(() => {
          throw error;
        });
      }
    }
    return listeners.length > 0;
  }

  /** Removes listeners (all, or of one event) and keeps listener tracking in place. */
  removeAllListeners(eventName) {
    // Called with no argument, every event's listeners go (`undefined` would name an event).
    if (arguments.length === 0) super.removeAllListeners();
    else super.removeAllListeners(eventName);
    if (arguments.length === 0 || eventName === 'newListener' || eventName === 'removeListener') {
      super.removeAllListeners('newListener');
      super.removeAllListeners('removeListener');
      this._watchListeners();
    }
    for (const name of EVENT_NAMES) this._native.setListening(name, this.listenerCount(name) > 0);
    return this;
  }

  /** Returns the router itself: it is the event emitter. */
  getEventEmitter() {
    return this;
  }

  /**
   * Sets (or, with null, removes) the presence service: `routeMessage` queues for an orchestrator
   * it does not say is ONLINE, and each drain asks it once before delivering.
   */
  setPresenceService(presenceService) {
    if (presenceService !== null && presenceService !== undefined && (typeof presenceService !== 'object' || typeof presenceService.getVPPresence !== 'function')) {
      throw new this._errors.InvalidArgumentError('presenceService', `must have getVPPresence(orchestratorId), got ${describe(presenceService)}`);
    }
    this._presence = presenceService ?? null;
    const presence = this._presence;
    this._native.setPresenceSource(presence === null ? null : (orchestratorId) => saysOnline(presence, orchestratorId));
  }

  /**
   * Sets (or, with null, removes) the message service a drain re-reads queued messages through
   * just before delivering them: `getMessagesByIds(ids)` when it has one, else `getMessage(id)`.
   * Without one, the Prisma client given as `prisma` is read instead, if any.
   */
  setMessageService(messageService) {
    if (messageService !== null && messageService !== undefined && !isMessageService(messageService)) {
      const paging = typeof messageService === 'object' && typeof messageService.getMessages === 'function';
      const hint = paging ? ' (its getMessages is not used: in Neolith it pages a channel)' : '';
      throw new this._errors.InvalidArgumentError('messageService', `must have getMessage(id) or getMessagesByIds(ids)${hint}, got ${describe(messageService)}`);
    }
    const lookup = messageService ? serviceLookup(messageService) : this._prismaLookup;
    this._native.setMessageSource(lookup ? forBinding(lookup) : null);
  }

  /** Presence's answer (`true`/`false`), or `undefined` when there is no presence service or it failed. */
  async _presenceSaysOnline(orchestratorId) {
    if (!this._presence) return undefined;
    try {
      return await saysOnline(this._presence, orchestratorId);
    } catch {
      return undefined;
    }
  }

  /** Routes a message to the orchestrator's active daemon, or queues it; never rejects for a routing failure. */
  async routeMessage(message, orchestratorId) {
    const args = this._check.messageArgs(message);
    this._check.requireId('orchestratorId', orchestratorId);
    const tracer = this._syncTracing();
    if (tracer !== null) return this._routeTraced(tracer, args, orchestratorId);
    const offline = this._presence ? (await this._presenceSaysOnline(orchestratorId)) === false : false;
    return this._submit(orchestratorId, (id) => this._native.route(id, orchestratorId, ...args, offline));
  }

  /** `routeMessage` inside a PRODUCER span, whose `traceparent` the message carries to its daemon. */
  async _routeTraced(tracer, args, orchestratorId) {
    const span = tracing.startSpan(tracer, 'route', args[0], orchestratorId);
    let result;
    try {
      const offline = this._presence ? (await this._presenceSaysOnline(orchestratorId)) === false : false;
      const traceparent = tracing.traceparentOf(span);
      result = await this._submit(orchestratorId, (id) => this._native.route(id, orchestratorId, ...args, offline, traceparent));
    } catch (error) {
      tracing.endSpan(span, error);
      throw error;
    }
    return tracing.endRoute(span, this._native, orchestratorId, args[5], result);
  }

  /**
   * Routes many messages in one call (one crossing into Rust, one pipelined round of Redis work),
   * with the same guarantees as `routeMessage` for each; results in input order. Rejects the whole
   * batch, writing nothing, if any item is invalid.
   */
  async routeMessages(items) {
    if (!Array.isArray(items)) throw new this._errors.InvalidArgumentError('items', `must be an array, got ${describe(items)}`);
    // One column per field (the binding reads 8 arrays instead of 8 properties of every item).
    const n = items.length;
    const batch = {
      orchestratorIds: new Array(n),
      ids: new Array(n),
      channelIds: new Array(n),
      authorIds: new Array(n),
      contents: new Array(n),
      createdAts: new Array(n),
      priorities: new Array(n),
      presenceOffline: new Array(n).fill(false),
    };
    for (let i = 0; i < n; i++) {
      const item = items[i];
      if (item === null || typeof item !== 'object') throw new this._errors.InvalidArgumentError(`items[${i}]`, `must be { message, orchestratorId }, got ${describe(item)}`);
      // Each field is read once, outside the try: an exception from the caller's own getter or
      // Proxy passes through as it is, as it does from routeMessage.
      const { message, orchestratorId } = item;
      let args;
      try {
        args = this._check.messageArgs(message);
        batch.orchestratorIds[i] = this._check.requireId('orchestratorId', orchestratorId);
      } catch (error) {
        // A refusal of the checks names the item; anything else is the caller's own (a getter's).
        if (!(error instanceof this._errors.InvalidArgumentError)) throw error;
        throw new this._errors.InvalidArgumentError(`items[${i}].${error.metadata.field}`, error.message.replace(/^Invalid [^:]*: /, ''));
      }
      [batch.ids[i], batch.channelIds[i], batch.authorIds[i], batch.contents[i], batch.createdAts[i], batch.priorities[i]] = args;
      batch.authorIds[i] = batch.authorIds[i] ?? null;
    }
    // One PRODUCER span per message, each its own traceparent, started before the presence look-up
    // as routeMessage's is.
    const tracer = this._syncTracing();
    const spans = tracer === null ? null : batch.ids.map((messageId, i) => tracing.startSpan(tracer, 'route', messageId, batch.orchestratorIds[i]));
    if (this._presence) {
      const distinct = [...new Set(batch.orchestratorIds)];
      const answers = await Promise.all(distinct.map((id) => this._presenceSaysOnline(id)));
      const offlineIds = new Set(distinct.filter((_, i) => answers[i] === false));
      batch.presenceOffline = batch.orchestratorIds.map((id) => offlineIds.has(id));
    }
    if (spans === null) return this._submit(undefined, (id) => this._native.routeMany(id, batch));
    batch.traceparents = spans.map(tracing.traceparentOf);
    let results;
    try {
      results = await this._submit(undefined, (id) => this._native.routeMany(id, batch));
    } catch (error) {
      for (const span of spans) tracing.endSpan(span, error);
      throw error;
    }
    return results.map((result, i) => tracing.endRoute(spans[i], this._native, batch.orchestratorIds[i], batch.priorities[i], result));
  }

  /** Queues a message for later delivery to the orchestrator. */
  async queueMessageForOffline(message, orchestratorId) {
    const args = this._check.messageArgs(message);
    this._check.requireId('orchestratorId', orchestratorId);
    const tracer = this._syncTracing();
    if (tracer === null) {
      await this._submit(orchestratorId, (id) => this._native.queue(id, orchestratorId, ...args));
      return;
    }
    const span = tracing.startSpan(tracer, 'queue', args[0], orchestratorId);
    span.setAttribute('messaging.destination.name', this._native.queueKey(orchestratorId, args[5]));
    try {
      await this._submit(orchestratorId, (id) => this._native.queue(id, orchestratorId, ...args, tracing.traceparentOf(span)));
    } catch (error) {
      tracing.endSpan(span, error);
      throw error;
    }
    tracing.endSpan(span);
  }

  /** The orchestrator's active daemon session (the primary one, with several), or `null`. */
  async getOrchestratorSession(orchestratorId) {
    this._check.requireId('orchestratorId', orchestratorId);
    const session = await this._call(orchestratorId, this._native.getSession(orchestratorId));
    if (session === null || session === undefined) return null;
    return sessionInfo(session);
  }

  /**
   * Every living session of the orchestrator, whatever its status: the primary (most recently
   * active) first, then the others, most recently active first.
   */
  async getOrchestratorSessions(orchestratorId) {
    this._check.requireId('orchestratorId', orchestratorId);
    const sessions = await this._call(orchestratorId, this._native.getSessions(orchestratorId));
    return sessions.map(sessionInfo);
  }

  /** Whether the orchestrator is online: presence when set, else whether it has an active session. */
  async isOrchestratorOnline(orchestratorId) {
    this._check.requireId('orchestratorId', orchestratorId);
    const online = await this._presenceSaysOnline(orchestratorId);
    if (online !== undefined) return online;
    return (await this.getOrchestratorSession(orchestratorId)) !== null;
  }

  /** Registers a daemon session, then drains the orchestrator's queue before resolving. */
  async registerSession(orchestratorId, session) {
    this._check.requireId('orchestratorId', orchestratorId);
    this._syncTracing();
    if (session === null || typeof session !== 'object') {
      throw new this._errors.InvalidArgumentError('session', `must be an object, got ${describe(session)}`);
    }
    // Each field read once, then checked and used as read.
    const { id: rawId, daemonId: rawDaemonId, status = 'active', createdAt: rawCreatedAt } = session;
    const id = this._check.requireId('session.id', rawId);
    const daemonId = this._check.requireId('session.daemonId', rawDaemonId);
    if (typeof status !== 'string') throw new this._errors.InvalidArgumentError('session.status', `must be a string, got ${describe(status)}`);
    const createdAt = this._check.toMillis('session.createdAt', rawCreatedAt);
    await this._call(orchestratorId, this._native.registerSession(orchestratorId, id, daemonId, status, createdAt));
  }

  /**
   * Deletes one session of the orchestrator (its daemon disconnected), or every session when no
   * `sessionId` is given. When the primary goes, the most recently active other one takes its place.
   */
  async unregisterSession(orchestratorId, sessionId) {
    this._check.requireId('orchestratorId', orchestratorId);
    const id = this._check.optionalId('sessionId', sessionId);
    await this._call(orchestratorId, this._native.unregisterSession(orchestratorId, id));
  }

  /**
   * The heartbeat: refreshes an existing session (the primary, or the one named, which then
   * becomes the primary) and drains a waiting backlog; never recreates a session.
   */
  async updateSessionActivity(orchestratorId, sessionId) {
    this._check.requireId('orchestratorId', orchestratorId);
    this._syncTracing();
    const id = this._check.optionalId('sessionId', sessionId);
    await this._call(orchestratorId, this._native.touchSession(orchestratorId, id));
  }

  /** Drains the orchestrator's queue now; resolves what was delivered, dropped and left. */
  async processQueuedMessages(orchestratorId) {
    this._check.requireId('orchestratorId', orchestratorId);
    this._syncTracing();
    return this._call(orchestratorId, this._native.processQueue(orchestratorId));
  }

  /**
   * What this router has done since it was created: counters (routed, delivered, drained, queued,
   * failed, retries, redeliveries, acknowledged, deadLettered, drainFailures, dropped by reason) and the delivery
   * latency (ms, from when the router took a message to its push to the daemon) with p50/p90/p99
   * estimated from a histogram. Counts are this process's, not the cluster's.
   */
  getMetrics() {
    return JSON.parse(this._native.metricsJson());
  }

  /**
   * The same figures in the Prometheus text exposition format (names prefixed
   * `orchestrator_router_`), for a server to serve on its `/metrics`.
   */
  metrics() {
    return this._native.metricsText();
  }

  /** How many messages wait in the orchestrator's queue. */
  async getQueueDepth(orchestratorId) {
    this._check.requireId('orchestratorId', orchestratorId);
    return this._call(orchestratorId, this._native.queueDepth(orchestratorId));
  }

  /**
   * Up to `max` (default 100) events of a daemon's event list, oldest first, as objects: what an
   * in-process daemon (with `redis: 'memory://'`) or a test reads of what was delivered to it.
   */
  async readDaemonEvents(daemonId, options = {}) {
    this._check.requireId('daemonId', daemonId);
    if (options === null || typeof options !== 'object') throw new this._errors.InvalidArgumentError('options', `must be an object, got ${describe(options)}`);
    const max = options.max === undefined ? 100 : options.max;
    if (!Number.isInteger(max) || max < 1 || max > 0xffffffff) throw new this._errors.InvalidArgumentError('options.max', `must be a positive integer, got ${describe(max)}`);
    const events = await this._call(undefined, this._native.readDaemonEvents(daemonId, max));
    return events.map((json) => {
      const event = JSON.parse(json);
      // A Date, as @neolith/core's DaemonEvent has it (the payload's `timestamp` stays a string).
      if (typeof event.timestamp === 'string') event.timestamp = new Date(event.timestamp);
      return event;
    });
  }

  /** Removes these events (by `id`) from a daemon's event list, as the daemon API does on an ack; resolves how many went. */
  async acknowledgeDaemonEvents(daemonId, eventIds) {
    this._check.requireId('daemonId', daemonId);
    if (!Array.isArray(eventIds)) throw new this._errors.InvalidArgumentError('eventIds', `must be an array of event ids, got ${describe(eventIds)}`);
    for (let i = 0; i < eventIds.length; i++) this._check.requireId(`eventIds[${i}]`, eventIds[i]);
    return this._call(undefined, this._native.acknowledgeDaemonEvents(daemonId, eventIds));
  }

  /** Acknowledges delivered messages (delivery receipts); resolves how many were awaiting a receipt. */
  async acknowledge(orchestratorId, messageIds) {
    this._check.requireId('orchestratorId', orchestratorId);
    if (!Array.isArray(messageIds)) {
      throw new this._errors.InvalidArgumentError('messageIds', `must be an array of message ids, got ${describe(messageIds)}`);
    }
    for (let i = 0; i < messageIds.length; i++) this._check.requireId(`messageIds[${i}]`, messageIds[i]);
    return this._call(orchestratorId, this._native.acknowledge(orchestratorId, messageIds));
  }

  /** The orchestrator's dead letters (never acknowledged), oldest first, with attempts and last error. */
  async getDeadLetters(orchestratorId) {
    this._check.requireId('orchestratorId', orchestratorId);
    const letters = await this._call(orchestratorId, this._native.deadLetters(orchestratorId));
    return letters.map((l) => {
      const letter = { messageId: l.messageId, channelId: l.channelId };
      if (l.authorId !== undefined && l.authorId !== null) letter.authorId = l.authorId;
      letter.content = l.content;
      if (l.createdAt !== undefined && l.createdAt !== null) letter.createdAt = new Date(l.createdAt);
      letter.queuedAt = new Date(l.queuedAt);
      letter.attempts = l.attempts;
      letter.lastError = l.lastError;
      letter.deadLetteredAt = new Date(l.deadLetteredAt);
      return letter;
    });
  }

  /** Puts the orchestrator's dead letters back at the head of its queue, in order; resolves how many. */
  async requeueDeadLetters(orchestratorId) {
    this._check.requireId('orchestratorId', orchestratorId);
    return this._call(orchestratorId, this._native.requeueDeadLetters(orchestratorId));
  }

  /** Stops background work and closes the Redis connection; the process can exit right after. */
  async close() {
    this._closed = true;
    this._after(this._native.close());
    if (this._redis !== null) this._redis.drop();
    await this._calls.settled();
    this._deliverEvents();
    this._native.release();
    this._link.router = null;
  }
}

/** Creates a router; the same as `new OrchestratorRouter(config)`. */
function createOrchestratorRouter(config) {
  return new OrchestratorRouter(config);
}

let defaultRouter;
module.exports = {
  OrchestratorRouter,
  createOrchestratorRouter,
  OrchestratorRoutingError,
  OrchestratorOfflineError,
  NoActiveSessionError,
  InvalidArgumentError,
  NotReplicatedError,
  RouterBaseError,
  errorClasses,
  EVENT_NAMES,
  PRIORITY_VALUES,
};
// The deployed module's default instance; built on first access, connecting on first use.
Object.defineProperty(module.exports, 'orchestratorRouter', {
  enumerable: true,
  get() {
    if (!defaultRouter) defaultRouter = new OrchestratorRouter();
    return defaultRouter;
  },
});
