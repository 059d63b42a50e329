// OpenTelemetry: with a tracer provider registered (the SDK's own, exporting to memory), each
// message routed or queued gets a PRODUCER span, a child of the caller's active context, and its
// daemon events carry the span's W3C traceparent (when drained and redelivered too); without one,
// nothing is made and the events keep the deployed fields.
import { context, HrTime, Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OrchestratorRouter } from '..';
import { closeAll, keyOf, message, newRouter, plainClient, record, redisClusterUrls, uid, waitFor } from './support/helpers';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

beforeEach(() => {
  trace.setGlobalTracerProvider(provider);
  exporter.reset();
});
afterEach(async () => {
  await closeAll();
  trace.disable();
});
afterAll(() => context.disable());

/** The fields of the deployed service's daemon events, in its order. */
const DEPLOYED_EVENT_FIELDS = ['id', 'type', 'daemonId', 'orchestratorId', 'payload', 'timestamp', 'requiresAck', 'priority'];

/** The daemon events in a daemon's list, oldest first. */
async function events(router: OrchestratorRouter, daemonId: string): Promise<Array<Record<string, unknown>>> {
  return (await plainClient().lrange(keyOf(router, `daemon:events:${daemonId}`), 0, -1)).reverse().map((e) => JSON.parse(e));
}

/** The raw items of an orchestrator's normal-priority queue, oldest first. */
async function queueItems(router: OrchestratorRouter, orchestratorId: string, queue = 'routing:queue:'): Promise<Array<Record<string, unknown>>> {
  return (await plainClient().lrange(keyOf(router, `${queue}${orchestratorId}`), 0, -1)).map((e) => JSON.parse(e));
}

/** The traceparent a span's context makes (sampled). */
function traceparentOf(span: ReadableSpan | Span): string {
  const { traceId, spanId, traceFlags } = span.spanContext();
  return `00-${traceId}-${spanId}-${traceFlags.toString(16).padStart(2, '0')}`;
}

/** The finished spans named `name`. */
const finished = (name: string) => exporter.getFinishedSpans().filter((s) => s.name === name);

/** The spans named `name` once at least one has finished (they are made after the fact, from the binding's records). */
async function awaitSpans(name: string): Promise<ReadableSpan[]> {
  await waitFor(() => finished(name).length > 0, `a span named ${name}`);
  return finished(name);
}

const milliseconds = ([seconds, nanoseconds]: HrTime) => seconds * 1000 + nanoseconds / 1e6;

describe('OpenTelemetry traces', () => {
  it('without a tracer provider makes no span, and events and queue items keep the deployed fields', async () => {
    trace.disable();
    const r = newRouter();
    const orch = uid('orch');
    await r.queueMessageForOffline(message('q1'), orch);
    expect(Object.keys((await queueItems(r, orch))[0])).not.toContain('traceparent');
    await r.registerSession(orch, { id: 's1', daemonId: `${orch}_d` });
    expect(await r.routeMessage(message('m1'), orch)).toEqual({ success: true, status: 'delivered', sessionId: 's1', attempts: 1 });
    await waitFor(async () => (await events(r, `${orch}_d`)).length === 2, 'the drained and the routed message');
    for (const event of await events(r, `${orch}_d`)) expect(Object.keys(event)).toEqual(DEPLOYED_EVENT_FIELDS);
    expect(exporter.getFinishedSpans()).toEqual([]);
  });

  it("makes a PRODUCER span per routeMessage, a child of the caller's span, whose traceparent the daemon event carries", async () => {
    const r = newRouter();
    const orch = uid('orch');
    await r.registerSession(orch, { id: 's1', daemonId: `${orch}_d` });
    const caller = trace.getTracer('test');
    const [result, parent] = await caller.startActiveSpan('caller', async (span) => {
      const routed = await r.routeMessage(message('m1'), orch);
      span.end();
      return [routed, span] as const;
    });
    // The result is as without tracing: what the span needed stays out of it.
    expect(result).toEqual({ success: true, status: 'delivered', sessionId: 's1', attempts: 1 });
    const [span] = finished('route');
    expect(span.kind).toBe(SpanKind.PRODUCER);
    expect(span.spanContext().traceId).toBe(parent.spanContext().traceId);
    expect(span.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(span.attributes).toEqual({
      'messaging.system': 'redis',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'route',
      'messaging.message.id': 'm1',
      'messaging.destination.name': keyOf(r, `daemon:events:${orch}_d`),
      'neolith.orchestrator.id': orch,
      'neolith.route.status': 'delivered',
      'neolith.route.attempts': 1,
      'neolith.session.id': 's1',
    });
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    const [event] = await events(r, `${orch}_d`);
    expect(Object.keys(event)).toEqual([...DEPLOYED_EVENT_FIELDS, 'traceparent']);
    expect(event.traceparent).toBe(traceparentOf(span));
    expect(event.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it('continues the trace through the queue: the drained event carries the producer span of the route that queued it', async () => {
    const r = newRouter();
    const orch = uid('orch');
    expect(await r.routeMessage(message('m1'), orch)).toEqual({ success: true, status: 'offline', attempts: 1 });
    await r.queueMessageForOffline(message('m2'), orch);
    const [routed] = finished('route');
    const [queued] = finished('queue');
    expect(routed.attributes).toMatchObject({ 'messaging.destination.name': keyOf(r, `routing:queue:${orch}`), 'neolith.route.status': 'offline' });
    expect(queued.kind).toBe(SpanKind.PRODUCER);
    expect(queued.attributes).toMatchObject({ 'messaging.operation.name': 'queue', 'messaging.message.id': 'm2', 'messaging.destination.name': keyOf(r, `routing:queue:${orch}`) });
    expect((await queueItems(r, orch)).map((item) => item.traceparent)).toEqual([traceparentOf(routed), traceparentOf(queued)]);

    await r.registerSession(orch, { id: 's1', daemonId: `${orch}_d` });
    await waitFor(async () => (await events(r, `${orch}_d`)).length === 2, 'the queue to drain');
    const drained = await events(r, `${orch}_d`);
    expect(drained.map((e) => [(e.payload as { messageId: string }).messageId, e.traceparent])).toEqual([
      ['m1', traceparentOf(routed)],
      ['m2', traceparentOf(queued)],
    ]);
    // The drain has a span of its own: a root (it runs in the background), linked to the
    // producer span of each message it delivered.
    const [drain] = await awaitSpans('drain');
    expect(drain.kind).toBe(SpanKind.PRODUCER);
    expect(drain.parentSpanContext).toBeUndefined();
    expect(drain.attributes).toEqual({
      'messaging.system': 'redis',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'drain',
      'messaging.destination.name': keyOf(r, `daemon:events:${orch}_d`),
      'messaging.batch.message_count': 2,
      'neolith.orchestrator.id': orch,
    });
    expect(drain.links.map(({ context: linked }) => `00-${linked.traceId}-${linked.spanId}-0${linked.traceFlags}`)).toEqual([traceparentOf(routed), traceparentOf(queued)]);
    expect(drain.status.code).toBe(SpanStatusCode.UNSET);
    // It starts when the step was planned and ends once Redis took it.
    expect(milliseconds(drain.endTime)).toBeGreaterThanOrEqual(milliseconds(drain.startTime));
  });

  it("marks a drain that failed against Redis with Redis's error", async () => {
    const r = newRouter();
    const orch = uid('orch');
    await r.queueMessageForOffline(message('m1'), orch);
    // The daemon list holds a string: the drain's push is refused (WRONGTYPE).
    await plainClient().set(keyOf(r, `daemon:events:${orch}_d`), 'not a list');
    const failed = record(r, 'queue.processing_failed');
    await r.registerSession(orch, { id: 's1', daemonId: `${orch}_d` });
    await waitFor(() => failed.length >= 1, 'the drain to fail');
    const [drain] = await awaitSpans('drain');
    expect(drain.status.code).toBe(SpanStatusCode.ERROR);
    expect(drain.status.message).toMatch(/WRONGTYPE/);
    expect(drain.attributes).toMatchObject({ 'messaging.operation.name': 'drain', 'messaging.batch.message_count': 0, 'neolith.orchestrator.id': orch });
  });

  it('makes one span per message of routeMessages, each event with its own traceparent', async () => {
    const r = newRouter();
    const [online, offline] = [uid('orch'), uid('orch')];
    await r.registerSession(online, { id: 's1', daemonId: `${online}_d` });
    const results = await r.routeMessages([
      { message: message('a'), orchestratorId: online },
      { message: message('b', { priority: 'low' }), orchestratorId: offline },
      { message: message('c'), orchestratorId: online },
    ]);
    expect(results).toEqual([
      { success: true, status: 'delivered', sessionId: 's1', attempts: 1 },
      { success: true, status: 'offline', attempts: 1 },
      { success: true, status: 'delivered', sessionId: 's1', attempts: 1 },
    ]);
    const spans = new Map(finished('route').map((s) => [s.attributes['messaging.message.id'], s]));
    expect([...spans.keys()].sort()).toEqual(['a', 'b', 'c']);
    // Queued at its level: the low-priority queue.
    expect(spans.get('b')!.attributes['messaging.destination.name']).toBe(keyOf(r, `routing:queue-low:${offline}`));
    expect((await events(r, `${online}_d`)).map((e) => e.traceparent)).toEqual([traceparentOf(spans.get('a')!), traceparentOf(spans.get('c')!)]);
    expect((await queueItems(r, offline, 'routing:queue-low:'))[0].traceparent).toBe(traceparentOf(spans.get('b')!));
  });

  it('names the destinations as the store names its keys: with hash tags on a Redis Cluster', async () => {
    const r = newRouter({ redis: { cluster: redisClusterUrls() } });
    const orch = uid('orch');
    await r.registerSession(orch, { id: 's1', daemonId: `${orch}_d`, status: 'active' });
    await r.routeMessage(message('a'), orch);
    await r.queueMessageForOffline(message('h', { priority: 'high' }), `${orch}_off`);
    expect(finished('route')[0].attributes['messaging.destination.name']).toBe(keyOf(r, `daemon:events:${orch}_d`));
    expect(finished('queue')[0].attributes['messaging.destination.name']).toBe(keyOf(r, `routing:queue-high:{${orch}_off}`));
  });

  it('marks the span of a route that failed with its error', async () => {
    const r = newRouter({ offlineQueue: { enabled: false } });
    const orch = uid('orch');
    const result = await r.routeMessage(message('m1'), orch);
    expect(result).toMatchObject({ success: false, status: 'failed', error: `Orchestrator is offline: ${orch}` });
    const [span] = finished('route');
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: `Orchestrator is offline: ${orch}` });
    expect(span.attributes).toMatchObject({ 'neolith.route.status': 'failed', 'neolith.route.attempts': 1, 'error.type': 'routing_failed' });
    await expect(r.queueMessageForOffline(message('m2'), orch)).rejects.toThrow(/queue/i);
    const [queued] = finished('queue');
    expect(queued.status.code).toBe(SpanStatusCode.ERROR);
    expect(queued.attributes['error.type']).toEqual(expect.any(String));
  });

  it('redelivers an unacknowledged message with the traceparent of its first delivery', async () => {
    const r = newRouter({ deliveryReceipts: { enabled: true }, deliveryTimeoutMs: 150, drainIntervalMs: 20, retry: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 40 } });
    const redelivered = record(r, 'message.redelivered');
    const orch = uid('orch');
    await r.registerSession(orch, { id: 's1', daemonId: `${orch}_d` });
    await r.routeMessage(message('m1'), orch);
    await waitFor(() => redelivered.length >= 1, 'a redelivery');
    const list = await events(r, `${orch}_d`);
    expect(list.length).toBeGreaterThanOrEqual(2);
    const [span] = finished('route');
    for (const event of list) expect(event.traceparent).toBe(traceparentOf(span));
    // The redelivery's span links to the first delivery's.
    const [redelivery] = await awaitSpans('redeliver');
    expect(redelivery.kind).toBe(SpanKind.PRODUCER);
    expect(redelivery.attributes).toMatchObject({
      'messaging.operation.name': 'redeliver',
      'messaging.message.id': 'm1',
      'messaging.destination.name': keyOf(r, `daemon:events:${orch}_d`),
      'neolith.delivery.attempts': 2,
    });
    expect(redelivery.links).toHaveLength(1);
    expect(redelivery.links[0].context).toMatchObject({ traceId: span.spanContext().traceId, spanId: span.spanContext().spanId });
  });

  it('carries the traceparents and makes the drain span on the in-process store too', async () => {
    const r = newRouter({ redis: `memory://${uid('mem')}` });
    const orch = uid('orch');
    expect(await r.routeMessage(message('m1'), orch)).toMatchObject({ status: 'offline' });
    await r.registerSession(orch, { id: 's1', daemonId: `${orch}_d` });
    expect(await r.routeMessage(message('m2'), orch)).toMatchObject({ status: 'delivered' });
    await waitFor(async () => (await r.readDaemonEvents(`${orch}_d`)).length === 2, 'the drained and the routed message');
    const spans = new Map(finished('route').map((s) => [s.attributes['messaging.message.id'], s]));
    const carried = Object.fromEntries((await r.readDaemonEvents(`${orch}_d`)).map((e) => [e.payload.messageId, e.traceparent]));
    expect(carried).toEqual({ m1: traceparentOf(spans.get('m1')!), m2: traceparentOf(spans.get('m2')!) });
    const [drain] = await awaitSpans('drain');
    expect(drain.links.map(({ context: linked }) => linked.spanId)).toEqual([spans.get('m1')!.spanContext().spanId]);
  });

  it("loses only the span when the application's tracer throws: results, drains and events carry on", async () => {
    trace.disable();
    const throwing = new BasicTracerProvider({
      spanProcessors: [
        {
          onStart: () => undefined,
          onEnd: () => {
            throw new Error('the exporter broke');
          },
          forceFlush: () => Promise.resolve(),
          shutdown: () => Promise.resolve(),
        },
      ],
    });
    trace.setGlobalTracerProvider(throwing);
    const r = newRouter();
    const processed = record(r, 'queue.processing_completed');
    const orch = uid('orch');
    expect(await r.routeMessage(message('m1'), orch)).toEqual({ success: true, status: 'offline', attempts: 1 });
    await r.queueMessageForOffline(message('m2'), orch);
    await r.registerSession(orch, { id: 's1', daemonId: `${orch}_d` });
    await waitFor(() => processed.length === 1, 'the drain to complete');
    expect(await r.routeMessage(message('m3'), orch)).toEqual({ success: true, status: 'delivered', sessionId: 's1', attempts: 1 });
    expect(await r.routeMessages([{ message: message('m4'), orchestratorId: orch }])).toEqual([{ success: true, status: 'delivered', sessionId: 's1', attempts: 1 }]);
    expect((await events(r, `${orch}_d`)).map((e) => (e.payload as { messageId: string }).messageId)).toEqual(['m1', 'm2', 'm3', 'm4']);
  });

  it('follows the provider: registered after the router was made it is used, and once removed nothing is made', async () => {
    trace.disable();
    const r = newRouter();
    const orch = uid('orch');
    await r.routeMessage(message('before'), orch);
    trace.setGlobalTracerProvider(provider);
    await r.routeMessage(message('during'), orch);
    trace.disable();
    await r.routeMessage(message('after'), orch);
    expect(finished('route').map((s) => s.attributes['messaging.message.id'])).toEqual(['during']);
    expect((await queueItems(r, orch)).map((item) => item.traceparent === undefined)).toEqual([true, false, true]);
  });
});
