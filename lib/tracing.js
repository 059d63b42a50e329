'use strict';
// OpenTelemetry spans of routing calls, through `@opentelemetry/api` when the application has it
// (an optional peer dependency). While no tracer provider is registered nothing is made: each call
// costs one look at the global provider.
//
// Each message routed or queued gets a PRODUCER span, a child of the caller's active context,
// named and attributed by OpenTelemetry's messaging semantic conventions; its W3C `traceparent`
// goes to the binding with the message, which writes it into the message's queue item and into
// every daemon event made of it, so that the trace continues at the daemon.

let api = null;
try {
  api = require('@opentelemetry/api');
} catch {
  // Not installed: tracing stays off.
}

const TRACER_NAME = '@neolith/orchestrator-router';
const TRACER_VERSION = require('../package.json').version;
/** The provider the global proxy delegates to while none is registered (a shared singleton). */
const NO_PROVIDER = api === null ? null : new api.ProxyTracerProvider().getDelegate();

let lastProvider = null;
let lastTracer = null;

/** The tracer of the registered tracer provider, or `null` when none is registered. */
function activeTracer() {
  if (api === null) return null;
  const global = api.trace.getTracerProvider();
  const provider = typeof global.getDelegate === 'function' ? global.getDelegate() : global;
  if (provider === NO_PROVIDER) return null;
  if (provider !== lastProvider) {
    lastProvider = provider;
    lastTracer = provider.getTracer(TRACER_NAME, TRACER_VERSION);
  }
  return lastTracer;
}

/**
 * A started PRODUCER span for one message (`operation`: `route` or `queue`), a child of the
 * active context, with the attributes known before Redis answers.
 */
function startSpan(tracer, operation, messageId, orchestratorId) {
  return tracer.startSpan(
    operation,
    {
      kind: api.SpanKind.PRODUCER,
      attributes: {
        'messaging.system': 'redis',
        'messaging.operation.type': 'send',
        'messaging.operation.name': operation,
        'messaging.message.id': messageId,
        'neolith.orchestrator.id': orchestratorId,
      },
    },
    api.context.active(),
  );
}

/** The span's W3C `traceparent` (`00-<trace id>-<span id>-<flags>`), or `null` if it has no valid context. */
function traceparentOf(span) {
  const context = span.spanContext();
  if (!api.isSpanContextValid(context)) return null;
  return `00-${context.traceId}-${context.spanId}-${(context.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/**
 * The key names of the spans' destinations, as the store names them (the binding's router answers
 * them: `queueKey(orchestratorId, priority)`, `daemonListKey(daemonId)`).
 * @typedef {{ queueKey(orchestratorId: string, priority: number): string, daemonListKey(daemonId: string): string }} KeyNames
 */

/**
 * Ends a route's span with where the message went: its destination (the daemon's event list, or
 * the orchestrator's queue of the message's `priority` level), status and attempts, and the error
 * when it failed. `result` is the binding's, `daemonId` included for a delivered message; returns
 * it as the caller gets it (without `daemonId`), whatever the tracer does.
 * @param {KeyNames} names
 */
function endRoute(span, names, orchestratorId, priority, result) {
  const { daemonId } = result;
  try {
    const attributes = { 'neolith.route.status': result.status, 'neolith.route.attempts': result.attempts };
    if (result.durable !== undefined) attributes['neolith.route.durable'] = result.durable;
    if (result.sessionId !== undefined) attributes['neolith.session.id'] = result.sessionId;
    if (daemonId !== undefined) attributes['messaging.destination.name'] = names.daemonListKey(daemonId);
    else if (result.status === 'offline' || result.status === 'pending') attributes['messaging.destination.name'] = names.queueKey(orchestratorId, priority);
    span.setAttributes(attributes);
    if (!result.success) markFailed(span, result.error);
    span.end();
  } catch {
    // The application's tracer failed: the span is lost, never the result.
  }
  if (daemonId === undefined) return result;
  // The caller's result is as without tracing.
  const visible = { success: result.success, status: result.status, sessionId: result.sessionId, attempts: result.attempts };
  if (result.durable !== undefined) visible.durable = result.durable;
  return visible;
}

/** Ends `span`, as failed with `error` when given; a tracer that fails loses the span, nothing else. */
function endSpan(span, error) {
  try {
    if (error !== undefined) markFailed(span, error);
    span.end();
  } catch {
    // As in endRoute.
  }
}

/** Marks `span` failed with `error` (an Error, whose code is its type, or a message). */
function markFailed(span, error) {
  const message = error instanceof Error ? error.message : String(error);
  span.setAttribute('error.type', error instanceof Error && error.code ? error.code : 'routing_failed');
  span.setStatus({ code: api.SpanStatusCode.ERROR, message });
}

/** The binding's span records (src/engine/events.rs): asked for while a provider is registered. */
const RECORDS = new Set(['trace.drain', 'trace.redelivery']);

/** The span context a W3C `traceparent` names (from another process, so remote), or null if malformed. */
function contextOf(traceparent) {
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(traceparent);
  if (match === null) return null;
  const context = { traceId: match[1], spanId: match[2], traceFlags: parseInt(match[3], 16), isRemote: true };
  return api.isSpanContextValid(context) ? context : null;
}

/** Links to the producer spans `traceparents` name. */
function linksTo(traceparents) {
  const links = [];
  for (const traceparent of traceparents) {
    const context = contextOf(traceparent);
    if (context !== null) links.push({ context });
  }
  return links;
}

/**
 * Makes the span a binding record describes, after the fact (its start and end times are the
 * record's): a drain step's (PRODUCER, linked to the producer span of each traced message it
 * delivered) or a redelivery's (PRODUCER, linked to the producer span its first delivery carried).
 * Both are roots: they run in the background, not in a caller's context.
 * @param {KeyNames} names
 */
function record(event, names) {
  try {
    recordSpan(event, names);
  } catch {
    // The application's tracer failed: the span is lost, never the router's events or results.
  }
}

function recordSpan(event, names) {
  const tracer = activeTracer();
  if (tracer === null) return;
  const attributes = {
    'messaging.system': 'redis',
    'messaging.operation.type': 'send',
    'neolith.orchestrator.id': event.orchestratorId,
  };
  if (event.daemonId !== undefined) attributes['messaging.destination.name'] = names.daemonListKey(event.daemonId);
  let name;
  let links;
  if (event.type === 'trace.drain') {
    name = 'drain';
    attributes['messaging.operation.name'] = 'drain';
    attributes['messaging.batch.message_count'] = event.delivered;
    links = linksTo(event.traceparents);
  } else {
    name = 'redeliver';
    attributes['messaging.operation.name'] = 'redeliver';
    attributes['messaging.message.id'] = event.messageId;
    attributes['neolith.delivery.attempts'] = event.attempts;
    links = event.traceparent === undefined ? [] : linksTo([event.traceparent]);
  }
  const span = tracer.startSpan(name, { kind: api.SpanKind.PRODUCER, startTime: event.startedAt, attributes, links, root: true });
  if (event.error !== undefined) markFailed(span, event.error);
  span.end(Math.max(event.timestamp, event.startedAt));
}

module.exports = { RECORDS, activeTracer, startSpan, traceparentOf, endRoute, endSpan, record };
