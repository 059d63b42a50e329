// Public types of @neolith/orchestrator-router: the same API as @neolith/core's OrchestratorRouter.
// Every public type is here, in one file, as the package's `types` entry and @neolith/core's import
// of it expect; that, and a doc comment on each, is why it is long.
import { EventEmitter } from 'node:events';

/** Where a routed message ended up. */
export type MessageRoutingStatus = 'pending' | 'routing' | 'delivered' | 'failed' | 'offline';

/** Routing state a host may keep beside a message (the deployed module's type; the router itself does not read or write it). */
export interface MessageRoutingMetadata {
  /** Whether the message is directed to an orchestrator. */
  isForOrchestrator: boolean;
  /** The orchestrator it is for. */
  targetOrchestratorId?: string;
  /** Where routing stands. */
  routingStatus: MessageRoutingStatus;
  /** When it reached a daemon. */
  deliveredAt?: Date;
  /** Attempts made. */
  deliveryAttempts: number;
  /** The last error, if routing failed. */
  lastError?: string;
  /** The session it was delivered through. */
  sessionId?: string;
}

/** The status of a daemon session; only `'active'` sessions receive messages. */
export type DaemonSessionStatus = 'active' | 'idle' | 'expired' | 'revoked' | 'terminated';

/** Retry policy for deliveries that fail against Redis: delay = min(initial × multiplier^(n−1), max). */
export interface RoutingRetryConfig {
  /** Attempts in all, the first included (≥ 1). Default 3. */
  maxAttempts: number;
  /** Delay after the first failed attempt, in ms. Default 1000. */
  initialDelayMs: number;
  /** Factor applied to the delay after each further failure. Default 2. */
  backoffMultiplier: number;
  /** Ceiling of any one delay, in ms. Default 10000. */
  maxDelayMs: number;
}

/** How many replicas must confirm each write, and how long to wait for them (see `durability`). */
export interface DurabilityConfig {
  /** Replicas that must confirm each write (≥ 1). Required. */
  replicas: number;
  /**
   * How long one write waits for them, in ms (less than `deliveryTimeoutMs`, which bounds the
   * attempt, WAIT included). Default 1000, or half of `deliveryTimeoutMs` when that is shorter.
   */
  timeoutMs?: number;
}

/** The per-orchestrator queue kept while an orchestrator is offline. */
export interface OfflineQueueConfig {
  /** Most messages one orchestrator's queue holds; the oldest is dropped (and reported) past it. Default 100. */
  maxQueueSize: number;
  /** Lifetime of each queued message, counted from when it was queued, in seconds. Default 86400. */
  queueTtlSeconds: number;
  /** When false, messages for offline orchestrators fail instead of queuing. Default true. */
  enabled: boolean;
}

/** Limits on a daemon's event list (`daemon:events:<daemonId>`). */
export interface DaemonQueueConfig {
  /** Events the list may hold; past it, messages wait in the orchestrator's queue. Default 1000. */
  maxEvents: number;
}

/** Connection options for Redis. */
export interface RedisConnectionOptions {
  /** Host name. Default `'127.0.0.1'`. */
  host?: string;
  /** Port. Default 6379. */
  port?: number;
  /** A Unix socket's path, instead of host and port. */
  path?: string;
  /** ACL user name. */
  username?: string;
  /** Password. */
  password?: string;
  /** Database number. Default 0. */
  db?: number;
  /** Connect with TLS (see `RedisTlsOption`). */
  tls?: RedisTlsOption;
}

/**
 * TLS: `true` trusts the system's root certificates; `{ ca }` trusts these instead (PEM
 * certificates, as a string, a Buffer or an array of them, as in Node's `tls.connect`). A `ca`
 * that holds no certificate, or anything but certificates that parse, is refused at construction.
 */
export type RedisTlsOption = boolean | { ca?: string | Buffer | Array<string | Buffer> };

/** A URL, and with a `rediss://` one the certificates it trusts. */
export interface RedisUrlOptions {
  /** `redis://`, `rediss://`, `unix://` or `memory://` URL, as the `redis` option takes it. */
  url: string;
  /** With a `rediss://` URL: the certificates it trusts (see `RedisTlsOption`). */
  tls?: RedisTlsOption;
}

/**
 * A Redis Cluster: the router finds every master from these nodes (one reachable node is enough)
 * and follows MOVED and ASK redirections while slots move.
 *
 * In cluster mode every key of one orchestrator carries a hash tag of its id, so that the keys a
 * routing step touches together share a slot: `routing:queue:{orch_1}`, not `routing:queue:orch_1`
 * (behind `keyPrefix`, if any). The daemon event lists (`daemon:events:<daemonId>`) and the pub/sub
 * channels keep their deployed names, so daemons read them unchanged.
 */
export interface RedisClusterOptions {
  /**
   * Nodes to start from: `redis://host:port` or `rediss://host:port` URLs (TLS with the system's
   * trusted roots), or `{ host, port }` objects (host `'127.0.0.1'`, port 6379 by default).
   * At least one.
   */
  cluster: Array<string | { host?: string; port?: number }>;
  /** ACL user name, for every node. */
  username?: string;
  /** Password, for every node. */
  password?: string;
}

/**
 * A primary watched by Redis Sentinel: the router asks the Sentinels for the primary named `name`,
 * connects every connection it holds to it, and after a failover (a connection to it fails, or it
 * answers READONLY) asks again and carries on with the primary they promoted. Over TLS, to the
 * Sentinels (`rediss://` URLs, or `sentinelTls`) and to the primary (`tls`), each with its own
 * trusted CAs; routes then take the store's own connection, as over TLS to one server.
 */
export interface RedisSentinelOptions {
  /**
   * Sentinels to ask, in order: `redis://host:port` or `rediss://host:port` URLs (all alike), or
   * `{ host, port }` objects (host `'localhost'`, port 26379 by default, as in ioredis; reached over
   * TLS with `sentinelTls`). At least one. Credentials in a URL stand for `sentinelUsername` and
   * `sentinelPassword`: the router logs in to every Sentinel the same way, so they must agree.
   */
  sentinels: Array<string | { host?: string; port?: number }>;
  /** The primary's name, as the Sentinels' `sentinel monitor` gives it. */
  name: string;
  /** ACL user name on the primary. */
  username?: string;
  /** Password on the primary. */
  password?: string;
  /** ACL user name on the Sentinels (with `sentinelPassword`). */
  sentinelUsername?: string;
  /** Password on the Sentinels (their `requirepass`), for each Sentinel whose URL gives none. */
  sentinelPassword?: string;
  /** Database number. Default 0. */
  db?: number;
  /** Connect to the primary with TLS (see `RedisTlsOption`; ioredis: `tls` with `enableTLSForSentinelMode`). */
  tls?: RedisTlsOption;
  /**
   * Connect to the Sentinels with TLS: with `{ ca }`, the CAs that sign their certificates (see
   * `RedisTlsOption`; ioredis: `sentinelTLS`). Implied by `rediss://` Sentinel URLs; refused with
   * `redis://` ones.
   */
  sentinelTls?: RedisTlsOption;
}

/**
 * Anything with Redis connection options: an ioredis client (`options.host`, `options.keyPrefix`, …;
 * with `options.sentinels`, read as `RedisSentinelOptions`), an ioredis `Cluster` (its startup
 * nodes, `redisOptions` credentials and `keyPrefix`; read as `RedisClusterOptions`), or a node-redis
 * client (`options.url` or `options.socket`; a node-redis Sentinel client is refused, since its
 * options cannot be read: give `RedisSentinelOptions`). The router
 * opens its own connections (a Node socket for routing calls, and one for drains, sessions and
 * receipts).
 */
export interface RedisClientLike {
  /** The client's connection options. */
  options: object;
}

/** Delivery receipts: delivered messages await `acknowledge` and are redelivered without it. */
export interface DeliveryReceiptsConfig {
  /** Turns receipts on. Default false (the deployed behaviour). */
  enabled: boolean;
}

/** What a router has done since it was created (this process only), as `getMetrics()` returns it. */
export interface RouterMetrics {
  /** Routing calls settled: each `routeMessage`, each `routeMessages` item, each `queueMessageForOffline`. */
  routed: number;
  /** Messages pushed to a daemon's event list, by a route or a drain. */
  delivered: number;
  /** Of those, pushed by a drain. */
  drained: number;
  /** Messages put in an orchestrator's queue. */
  queued: number;
  /** Messages that failed: routing calls that resolved `failed`, and messages dead-lettered (receipts); each reported by `message.routing_failed`. */
  failed: number;
  /** Attempts made again after a failed one (Redis unreachable or slow). */
  retries: number;
  /** Deliveries made again for want of a receipt (delivery receipts). */
  redeliveries: number;
  /** Messages their daemon acknowledged. */
  acknowledged: number;
  /** Messages dead-lettered after their last delivery went unacknowledged. */
  deadLettered: number;
  /** Drains that failed against Redis (each a `queue.processing_failed` event, then retried). */
  drainFailures: number;
  /** Messages that left a queue undelivered, by reason. */
  dropped: { queue_full: number; expired: number; deleted: number; invalid: number; too_large: number };
  /**
   * Milliseconds from when the router took a message (the call, or its queuing) to its push to the
   * daemon; percentiles estimated from a histogram, `null` until something was delivered.
   */
  deliveryLatencyMs: { count: number; mean: number | null; p50: number | null; p90: number | null; p99: number | null };
}

/** A message that was delivered `retry.maxAttempts` times and never acknowledged. */
export interface DeadLetter {
  /** Message id. */
  messageId: string;
  /** Channel id. */
  channelId: string;
  /** Author's user id. */
  authorId?: string;
  /** Text content. */
  content: string;
  /** When the message was created. */
  createdAt?: Date;
  /** When it was queued or first routed. */
  queuedAt: Date;
  /** Deliveries made. */
  attempts: number;
  /** Why it was dead-lettered. */
  lastError: string;
  /** When it was dead-lettered. */
  deadLetteredAt: Date;
}

/** Router configuration; every field is optional and merged over the defaults. */
export interface OrchestratorRouterConfig {
  /**
   * A URL (alone, or as `{ url, tls }` to give a `rediss://` URL its CA), connection options, a
   * Redis Cluster's nodes (`{ cluster: [...] }`), Redis Sentinels (`{ sentinels: [...], name }`),
   * or a client to copy them from. Default `process.env.REDIS_URL`, else `redis://127.0.0.1:6379`.
   */
  redis?: string | RedisUrlOptions | RedisConnectionOptions | RedisClusterOptions | RedisSentinelOptions | RedisClientLike;
  /**
   * A Prisma client (@neolith/core's database client). Until a message service is set, each drain
   * step re-reads the messages it is about to deliver with one
   * `prisma.message.findMany({ where: { id: { in: ids } } })`: a message no longer found, or
   * deleted (`isDeleted`, or `deletedAt` set), is dropped (`deleted`); an edited one is delivered
   * as edited; a failed query leaves the messages queued (see `ProcessQueueResult.deferred`).
   */
  prisma?: PrismaClientLike | null;
  /**
   * The class every error the router raises extends, constructed as
   * `new errorBase(message, code, statusCode, metadata)`: @neolith/core's `GenesisError`, so that
   * core's `isGenesisError` and `wrapError` keep each error's code, status and metadata. The
   * classes are those `errorClasses(errorBase)` returns. Default: the package's `RouterBaseError`.
   */
  errorBase?: ErrorBaseConstructor;
  /** Retry policy for deliveries. */
  retry?: Partial<RoutingRetryConfig>;
  /** The offline queue. */
  offlineQueue?: Partial<OfflineQueueConfig>;
  /** Bound on one attempt against Redis, in ms. Default 5000. */
  deliveryTimeoutMs?: number;
  /**
   * Writes count only once replicas have them (default off): each route, drain step,
   * registration, heartbeat and acknowledgement is followed by `WAIT replicas timeoutMs` on the
   * connection that wrote it, so that what resolved survives the primary's loss (a Sentinel
   * failover). Writes not confirmed in time are retried as failed attempts; after the last one a
   * route resolves `{ success: false, status: 'failed', durable: false }` and other calls reject
   * with `NotReplicatedError`. One server or Sentinel only (refused on a cluster and in memory);
   * the Redis user needs `+wait`.
   */
  durability?: DurabilityConfig;
  /** Limits on daemons' event lists. */
  daemonQueue?: Partial<DaemonQueueConfig>;
  /** How often a running router looks for backlogs it can drain, in ms. Default 250. */
  drainIntervalMs?: number;
  /** Largest message content accepted, in UTF-8 bytes. Default 1 MiB. */
  maxMessageBytes?: number;
  /** Prefix put before every Redis key (not pub/sub channels). Default: the ioredis client's `keyPrefix`, else none. */
  keyPrefix?: string;
  /** Delivery receipts. Default off. */
  deliveryReceipts?: Partial<DeliveryReceiptsConfig>;
  /** How long a delivered marker keeps a message id from being pushed to a daemon again, in seconds. Default 3600. */
  deliveredMarkerTtlSeconds?: number;
  /** How an orchestrator's daemon sessions are kept. */
  sessions?: Partial<SessionsConfig>;
}

/** How an orchestrator's daemon sessions are kept. */
export interface SessionsConfig {
  /**
   * `registerSession` with a new session id adds a session beside the orchestrator's others
   * instead of replacing its one session. Default `false` (the deployed behaviour). Every router
   * of one deployment must agree on it.
   */
  multiple: boolean;
  /**
   * With several sessions: `primary` delivers to the most recently active living session (the
   * next one when it expires); `broadcast` delivers to every living active session's daemon, each
   * daemon once. Default `'primary'`.
   */
  routing: 'primary' | 'broadcast';
  /** How long a session lives without a heartbeat, in seconds. Default 3600 (the deployed 1 h). */
  ttlSeconds: number;
}

/** The result of `routeMessage`. */
export interface RouteMessageResult {
  /** True when the message was delivered or queued. */
  success: boolean;
  /** `delivered`, `offline` (queued), `pending` (queued behind a backlog or a full daemon list) or `failed`. */
  status: MessageRoutingStatus;
  /** The session it was delivered through. */
  sessionId?: string;
  /** Why it failed. */
  error?: string;
  /** Attempts made against Redis. */
  attempts: number;
  /**
   * Only with `durability`: `true` when the route succeeded, which then means `durability.replicas`
   * replicas confirmed its writes; `false` when it failed because they did not confirm them in
   * time (after every attempt: `error` says so). The message then reached the primary and may be
   * delivered, or lost if the primary fails before it replicates; routing it again with the same
   * id does not deliver it twice (a delivered id is marked). Absent on other failures.
   */
  durable?: boolean;
}

/** An orchestrator's active daemon session. */
export interface OrchestratorSessionInfo {
  /** The session's id. */
  sessionId: string;
  /** The daemon instance the session belongs to. */
  daemonId: string;
  /** The session's status. */
  status: DaemonSessionStatus;
  /** Last registration or heartbeat. */
  lastActiveAt: Date;
  /** When the daemon created the session. */
  createdAt: Date;
}

/** A daemon session as `registerSession` takes it. */
export interface DaemonSessionInput {
  /** The session's id. */
  id: string;
  /** The daemon instance the session belongs to. */
  daemonId: string;
  /** The session's status. Default `'active'`. */
  status?: DaemonSessionStatus;
  /** When the daemon created the session. Default now. */
  createdAt?: Date | string | number;
}

/** The part of a Neolith message record the router reads. */
export interface RoutableMessage {
  /** Message id. */
  id: string;
  /** Channel id. */
  channelId: string;
  /** Author's user id. */
  authorId?: string | null;
  /** Text content (at most `maxMessageBytes` UTF-8 bytes). */
  content: string;
  /** When the message was created. Default now. */
  createdAt?: Date | string | number;
  /**
   * How important the message is. Default `normal`. Queued messages are delivered high first,
   * then normal, then low (each level oldest first); a full queue gives up the oldest message of
   * its lowest level, and refuses a message that every queued message outranks. The daemon event
   * carries it as a number in `priority` (see `PRIORITY_VALUES`).
   */
  priority?: MessagePriority;
}

/** What a daemon reads from its event list (`daemon:events:<daemonId>`) and channel. */
export interface DaemonEvent {
  /** `evt_<ms since epoch>_<8 hex>`; every delivery of one message (redeliveries, broadcast copies) carries the same id. */
  id: string;
  type: 'message.received';
  daemonId: string;
  orchestratorId: string;
  payload: {
    messageId: string;
    channelId: string;
    content: string;
    authorId?: string;
    /** The message's `createdAt`, ISO-8601. */
    timestamp?: string;
  };
  /** When it was delivered (ISO-8601 in Redis; a `Date` as `readDaemonEvents` returns it). */
  timestamp: Date;
  requiresAck: true;
  /** 3 high, 2 normal, 1 low (`PRIORITY_VALUES`). */
  priority: 1 | 2 | 3;
  /**
   * The W3C trace context (`00-<trace id>-<span id>-<flags>`) of the producer span of the call that
   * routed or queued the message, when an OpenTelemetry tracer provider was registered then: the
   * daemon continues the trace from it. Absent otherwise.
   */
  traceparent?: string;
}

/** A message's priority level. */
export type MessagePriority = 'high' | 'normal' | 'low';

/** The number a daemon event's `priority` holds for each level: higher is more important. */
export declare const PRIORITY_VALUES: Readonly<{ high: 3; normal: 2; low: 1 }>;

/** The result of `processQueuedMessages`. */
export interface ProcessQueueResult {
  /** Messages that left the queue delivered (a message whose delivered marker says it reached the daemon already counts, and is not pushed again). */
  processed: number;
  /** Messages that left the queue undelivered (expired, deleted or unreadable), each reported by `message.dropped`. */
  failed: number;
  /** Messages still queued. */
  remaining: number;
  /**
   * Set when messages the drain could deliver stay queued, in order, for a later look (within
   * max(1 s, 4 × `drainIntervalMs`), or the next heartbeat or registration) to try again.
   */
  deferred?: DrainDeferral;
}

/** Why a drain left deliverable messages queued. */
export type DrainDeferral =
  /** The presence service does not say the orchestrator is ONLINE. */
  | { reason: 'offline' }
  /** The message service or the Prisma client failed, or answered something that is not a message or null; `error` says which call and what. */
  | { reason: 'lookup_failed'; error: string };

/** What the router uses of a Prisma client: the `message` model's `findMany`. */
export interface PrismaClientLike {
  message: { findMany(args: { where: { id: { in: string[] } } }): PromiseLike<unknown[]> };
}

/** Neolith's presence service, as far as the router uses it. */
export interface PresenceServiceLike {
  /** The orchestrator's presence; only `'ONLINE'` counts as online. */
  getVPPresence(orchestratorId: string): Promise<{ status: 'ONLINE' | 'AWAY' | 'BUSY' | 'OFFLINE' | string } | null>;
}

/** A message as the message service (or Prisma) returns it now. */
export interface CurrentMessage {
  /** Message id. */
  id: string;
  /** Text content to deliver. */
  content: string;
  /** Channel id. */
  channelId?: string;
  /** Author's user id. */
  authorId?: string | null;
  /** When the message was created. */
  createdAt?: Date | string | number;
  /** True when the message was soft-deleted (Neolith's way); it is then dropped with reason `'deleted'`. */
  isDeleted?: boolean;
  /** Set when the message was deleted; such a message is dropped with reason `'deleted'`. */
  deletedAt?: Date | string | null;
}

/**
 * Neolith's message service, as far as a drain uses it: `getMessage(id)` (as @neolith/core's
 * `MessageServiceImpl` has it), or a batch `getMessagesByIds(ids)` answering the messages found,
 * in any order. A channel-paging `getMessages(channelId, options)` is never called.
 */
export type MessageServiceLike =
  | { getMessage(id: string): Promise<CurrentMessage | null | undefined> }
  | { getMessagesByIds(ids: string[]): Promise<Array<CurrentMessage | null | undefined>> };

/** Fields every event has. */
export interface RouterEventBase<T extends string> {
  /** The event name. */
  type: T;
  /** When it happened. */
  timestamp: Date;
}

/** Why a message left the system undelivered. */
export type DropReason = 'queue_full' | 'expired' | 'deleted' | 'invalid' | 'too_large';

/** Every event the router emits, by name. */
export interface OrchestratorRouterEvents {
  /** A message reached a daemon's event list. */
  'message.routed': RouterEventBase<'message.routed'> & { messageId: string; orchestratorId: string; sessionId: string; attempts: number };
  /** A message was neither delivered nor queued. */
  'message.routing_failed': RouterEventBase<'message.routing_failed'> & { messageId: string; orchestratorId: string; attempts: number; error: string };
  /** One attempt against Redis failed (it may be retried). */
  'message.routing_error': RouterEventBase<'message.routing_error'> & { messageId: string; orchestratorId: string; error: string };
  /** A message was queued. */
  'message.queued': RouterEventBase<'message.queued'> & { messageId: string; orchestratorId: string; queueSize: number };
  /** A message left the queue without being delivered. */
  'message.dropped': RouterEventBase<'message.dropped'> & { messageId: string; orchestratorId: string; reason: DropReason };
  /** A delivered message was acknowledged (delivery receipts). */
  'message.acknowledged': RouterEventBase<'message.acknowledged'> & { messageId: string; orchestratorId: string };
  /** A message not acknowledged in time was delivered again, with the same event id. */
  'message.redelivered': RouterEventBase<'message.redelivered'> & { messageId: string; orchestratorId: string; sessionId: string; attempts: number };
  /** A message delivered `retry.maxAttempts` times without a receipt moved to the dead-letter list. */
  'message.dead_lettered': RouterEventBase<'message.dead_lettered'> & { messageId: string; orchestratorId: string; attempts: number; error: string };
  /**
   * A drain failed against Redis (a refused command, out of memory, the connection lost): the
   * backlog stays queued as it was and the drain is tried again in `retryInMs` (the `retry`
   * policy's delay after `attempts` failures in a row).
   */
  'queue.processing_failed': RouterEventBase<'queue.processing_failed'> & { orchestratorId: string; error: string; attempts: number; retryInMs: number };
  /** A daemon session was registered. */
  'session.registered': RouterEventBase<'session.registered'> & { orchestratorId: string; sessionId: string };
  /** A daemon session was unregistered. */
  'session.unregistered': RouterEventBase<'session.unregistered'> & { orchestratorId: string; /** The one session removed; absent when all were. */ sessionId?: string };
  /** A drain of an orchestrator's queue started. */
  'queue.processing_started': RouterEventBase<'queue.processing_started'> & { orchestratorId: string; queueSize: number };
  /** A drain of an orchestrator's queue finished. */
  'queue.processing_completed': RouterEventBase<'queue.processing_completed'> & {
    orchestratorId: string;
    processed: number;
    failed: number;
    /** Set when messages it could deliver stay queued for a later look: presence says offline, or the message look-up failed. */
    deferred?: DrainDeferral;
  };
}

/** The name of a router event. */
export type OrchestratorRouterEventName = keyof OrchestratorRouterEvents;

/** The listener of event `E`: typed for a router event; for any other name, any listener (as EventEmitter takes). */
export type RouterListener<E extends string | symbol> = E extends OrchestratorRouterEventName
  ? (event: OrchestratorRouterEvents[E]) => void
  : (...args: any[]) => void;

/** Routes messages to orchestrators' daemons through Redis; emits the events of `OrchestratorRouterEvents`. */
export declare class OrchestratorRouter extends EventEmitter {
  /** Creates a router; throws `InvalidArgumentError` naming the field of an invalid configuration. */
  constructor(config?: OrchestratorRouterConfig);
  /** Routes a message to the orchestrator's active daemon, or queues it; rejects only for invalid arguments. */
  routeMessage(message: RoutableMessage, orchestratorId: string): Promise<RouteMessageResult>;
  /** Routes many messages in one call, each with `routeMessage`'s guarantees; results in input order. */
  routeMessages(items: Array<{ message: RoutableMessage; orchestratorId: string }>): Promise<RouteMessageResult[]>;
  /** The orchestrator's active daemon session (the primary one, with several), or null. */
  getOrchestratorSession(orchestratorId: string): Promise<OrchestratorSessionInfo | null>;
  /** Every living session of the orchestrator, whatever its status: the primary first, then the others, most recently active first. */
  getOrchestratorSessions(orchestratorId: string): Promise<OrchestratorSessionInfo[]>;
  /** Whether the orchestrator is online: presence when set, else whether it has an active session. */
  isOrchestratorOnline(orchestratorId: string): Promise<boolean>;
  /** Queues a message for later delivery; rejects with `OrchestratorRoutingError` on failure. */
  queueMessageForOffline(message: RoutableMessage, orchestratorId: string): Promise<void>;
  /** Registers a daemon session, then drains the orchestrator's queue before resolving. */
  registerSession(orchestratorId: string, session: DaemonSessionInput): Promise<void>;
  /** Deletes one session of the orchestrator, or all of them without `sessionId`; the primary's place goes to the most recently active other one. */
  unregisterSession(orchestratorId: string, sessionId?: string): Promise<void>;
  /** The heartbeat: refreshes an existing session (the primary, or the one named, which becomes the primary; never recreating one) and starts draining a waiting backlog in the background: it never waits for a drain. */
  updateSessionActivity(orchestratorId: string, sessionId?: string): Promise<void>;
  /** Drains the orchestrator's queue now. */
  processQueuedMessages(orchestratorId: string): Promise<ProcessQueueResult>;
  /** Sets the presence service: routes queue for an orchestrator it does not say is ONLINE, and each drain asks it once before delivering. */
  setPresenceService(presenceService: PresenceServiceLike | null): void;
  /** Sets the message service drains re-read queued messages through (instead of `prisma`); throws `InvalidArgumentError` for an object with neither method. */
  setMessageService(messageService: MessageServiceLike | null): void;
  /** Returns the router itself: it is the event emitter. */
  getEventEmitter(): this;
  /** Acknowledges delivered messages (delivery receipts); resolves how many were awaiting a receipt. */
  acknowledge(orchestratorId: string, messageIds: string[]): Promise<number>;
  /** The orchestrator's dead letters, oldest first. */
  getDeadLetters(orchestratorId: string): Promise<DeadLetter[]>;
  /** Puts the dead letters back at the head of the queue, in order; resolves how many. */
  requeueDeadLetters(orchestratorId: string): Promise<number>;
  /** Counters and delivery latency since this router was created (this process only). */
  getMetrics(): RouterMetrics;
  /** The same in the Prometheus text exposition format, names prefixed `orchestrator_router_`. */
  metrics(): string;
  /** How many messages wait in the orchestrator's queue. */
  getQueueDepth(orchestratorId: string): Promise<number>;
  /** Up to `max` (default 100) events of a daemon's event list, oldest first: how an in-process daemon (`redis: 'memory://'`) consumes its events. */
  readDaemonEvents(daemonId: string, options?: { max?: number }): Promise<DaemonEvent[]>;
  /** Removes these events (by `id`) from a daemon's event list, as the daemon API does on an ack; resolves how many went. */
  acknowledgeDaemonEvents(daemonId: string, eventIds: string[]): Promise<number>;
  /** Stops background work and closes the Redis connections; the process can exit right after. */
  close(): Promise<void>;

  // The router is an EventEmitter: a router event's name types its listener's event; any other
  // name (a string variable, an event of the caller's own) takes any listener, as EventEmitter does.
  /** Adds a listener for a router event, its listener typed. */
  on<E extends OrchestratorRouterEventName>(event: E, listener: (event: OrchestratorRouterEvents[E]) => void): this;
  /** Adds a listener, as `EventEmitter.on` (typed when `event` names a router event). */
  on<E extends string | symbol>(event: E, listener: RouterListener<E>): this;
  /** Adds a one-time listener for a router event, its listener typed. */
  once<E extends OrchestratorRouterEventName>(event: E, listener: (event: OrchestratorRouterEvents[E]) => void): this;
  /** Adds a one-time listener, as `EventEmitter.once` (typed when `event` names a router event). */
  once<E extends string | symbol>(event: E, listener: RouterListener<E>): this;
  /** Removes a listener for a router event, its listener typed. */
  off<E extends OrchestratorRouterEventName>(event: E, listener: (event: OrchestratorRouterEvents[E]) => void): this;
  /** Removes a listener, as `EventEmitter.off` (typed when `event` names a router event). */
  off<E extends string | symbol>(event: E, listener: RouterListener<E>): this;
  /** Adds a listener for a router event, its listener typed. */
  addListener<E extends OrchestratorRouterEventName>(event: E, listener: (event: OrchestratorRouterEvents[E]) => void): this;
  /** Adds a listener, as `EventEmitter.addListener` (typed when `event` names a router event). */
  addListener<E extends string | symbol>(event: E, listener: RouterListener<E>): this;
  /** Removes a listener for a router event, its listener typed. */
  removeListener<E extends OrchestratorRouterEventName>(event: E, listener: (event: OrchestratorRouterEvents[E]) => void): this;
  /** Removes a listener, as `EventEmitter.removeListener` (typed when `event` names a router event). */
  removeListener<E extends string | symbol>(event: E, listener: RouterListener<E>): this;
  /** Adds a listener ahead of the others for a router event, its listener typed. */
  prependListener<E extends OrchestratorRouterEventName>(event: E, listener: (event: OrchestratorRouterEvents[E]) => void): this;
  /** Adds a listener ahead of the others, as `EventEmitter.prependListener` (typed when `event` names a router event). */
  prependListener<E extends string | symbol>(event: E, listener: RouterListener<E>): this;
  /** Adds a one-time listener ahead of the others for a router event, its listener typed. */
  prependOnceListener<E extends OrchestratorRouterEventName>(event: E, listener: (event: OrchestratorRouterEvents[E]) => void): this;
  /** Adds a one-time listener ahead of the others, as `EventEmitter.prependOnceListener` (typed when `event` names a router event). */
  prependOnceListener<E extends string | symbol>(event: E, listener: RouterListener<E>): this;
  /** Removes every listener, or every listener of one event. */
  removeAllListeners(event?: string | symbol): this;
}

/** Creates a router; the same as `new OrchestratorRouter(config)`. */
export declare function createOrchestratorRouter(config?: OrchestratorRouterConfig): OrchestratorRouter;

/** The deployed module's default instance (built on first access, connecting on first use). */
export declare const orchestratorRouter: OrchestratorRouter;

/** Every event name, in a fixed order. */
export declare const EVENT_NAMES: readonly OrchestratorRouterEventName[];

/**
 * Neolith's base error shape, as @neolith/core's GenesisError has it. `instanceof` any of the
 * package's error classes also holds for the same error raised in a host's hierarchy
 * (`errorBase`), so either import catches it.
 */
export declare class RouterBaseError extends Error {
  /** Creates an error with its code, HTTP status (default 500) and metadata. */
  constructor(message: string, code: string, statusCode?: number, metadata?: Record<string, unknown>);
  /** Stable error code. */
  readonly code: string;
  /** HTTP status the error maps to. */
  readonly statusCode: number;
  /** Extra context. */
  readonly metadata?: Record<string, unknown>;
  /** `{ name, message, code, statusCode, metadata }`. */
  toJSON(): Record<string, unknown>;
}

/** A host's base error class, constructed as `new Base(message, code, statusCode, metadata)` (@neolith/core's GenesisError). */
export type ErrorBaseConstructor = new (message: string, code: string, statusCode?: number, metadata?: Record<string, unknown>) => Error;

/** The router's five error classes, built on the base class `B`. */
export interface RouterErrorClasses<B extends Error = RouterBaseError> {
  /** A routing failure: code `ORCHESTRATOR_ROUTING_ERROR`, status 500. */
  OrchestratorRoutingError: new (message: string, metadata?: Record<string, unknown>) => B & { readonly code: 'ORCHESTRATOR_ROUTING_ERROR'; readonly statusCode: number; readonly metadata?: Record<string, unknown> };
  /** The orchestrator is offline: code `ORCHESTRATOR_OFFLINE`, status 503, metadata `{ orchestratorId }`. */
  OrchestratorOfflineError: new (orchestratorId: string) => B & { readonly code: 'ORCHESTRATOR_OFFLINE'; readonly statusCode: number; readonly metadata: { orchestratorId: string } };
  /** No active session: code `NO_ACTIVE_SESSION`, status 404, metadata `{ orchestratorId }`. */
  NoActiveSessionError: new (orchestratorId: string) => B & { readonly code: 'NO_ACTIVE_SESSION'; readonly statusCode: number; readonly metadata: { orchestratorId: string } };
  /** Bad input refused before anything was written: code `INVALID_ARGUMENT`, status 400, metadata `{ field }`. */
  InvalidArgumentError: new (field: string, problem: string) => B & { readonly code: 'INVALID_ARGUMENT'; readonly statusCode: number; readonly metadata: { field: string } };
  /** Writes not confirmed by enough replicas (`durability`): code `NOT_REPLICATED`, status 503. */
  NotReplicatedError: new (message: string, metadata?: Record<string, unknown>) => B & { readonly code: 'NOT_REPLICATED'; readonly statusCode: number; readonly metadata?: Record<string, unknown> };
}

/**
 * The router's error classes built on a host's base class (such as @neolith/core's GenesisError):
 * the classes a router given the same `errorBase` raises. The same base always gives the same
 * classes. Without a base, the package's own classes.
 */
export declare function errorClasses<B extends ErrorBaseConstructor>(base: B): RouterErrorClasses<InstanceType<B>>;
export declare function errorClasses(): RouterErrorClasses;

/** A routing failure: code `ORCHESTRATOR_ROUTING_ERROR`, status 500. */
export declare class OrchestratorRoutingError extends RouterBaseError {
  /** Creates the error with its message and optional metadata. */
  constructor(message: string, metadata?: Record<string, unknown>);
  /** Always `'ORCHESTRATOR_ROUTING_ERROR'`. */
  readonly code: 'ORCHESTRATOR_ROUTING_ERROR';
}

/** The orchestrator is offline: code `ORCHESTRATOR_OFFLINE`, status 503, message `Orchestrator is offline: <id>`. */
export declare class OrchestratorOfflineError extends RouterBaseError {
  /** Creates the error for an orchestrator. */
  constructor(orchestratorId: string);
  /** Always `'ORCHESTRATOR_OFFLINE'`. */
  readonly code: 'ORCHESTRATOR_OFFLINE';
  /** The orchestrator concerned. */
  readonly metadata: { orchestratorId: string };
}

/**
 * With `durability`: the Redis primary has the call's writes, but fewer replicas than
 * `durability.replicas` confirmed them within `durability.timeoutMs` (after every attempt), so they
 * may be lost if the primary fails before they replicate. Code `NOT_REPLICATED`, status 503. The
 * call may be repeated: registrations, heartbeats and acknowledgements are idempotent.
 */
export declare class NotReplicatedError extends RouterBaseError {
  /** Creates the error with its message and optional metadata (`{ orchestratorId }`). */
  constructor(message: string, metadata?: Record<string, unknown>);
  /** Always `'NOT_REPLICATED'`. */
  readonly code: 'NOT_REPLICATED';
}

/** No active session: code `NO_ACTIVE_SESSION`, status 404, message `No active session found for orchestrator: <id>`. */
export declare class NoActiveSessionError extends RouterBaseError {
  /** Creates the error for an orchestrator. */
  constructor(orchestratorId: string);
  /** Always `'NO_ACTIVE_SESSION'`. */
  readonly code: 'NO_ACTIVE_SESSION';
  /** The orchestrator concerned. */
  readonly metadata: { orchestratorId: string };
}

/** Bad input refused before anything was written: code `INVALID_ARGUMENT`, status 400; the message names the field. */
export declare class InvalidArgumentError extends RouterBaseError {
  /** Creates the error for a field and what is wrong with it. */
  constructor(field: string, problem: string);
  /** Always `'INVALID_ARGUMENT'`. */
  readonly code: 'INVALID_ARGUMENT';
  /** The refused field, e.g. `'message.channelId'` or `'retry.maxAttempts'`. */
  readonly metadata: { field: string };
}
