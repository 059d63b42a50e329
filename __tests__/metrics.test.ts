import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { closeAll, keyOf, message, newRouter, plainClient, uid } from './support/helpers';

afterEach(closeAll);

describe('metrics', () => {
  it('count routes, deliveries, queuing, drains, drops and failures, with the delivery latency', async () => {
    const router = newRouter({ offlineQueue: { maxQueueSize: 2 }, retry: { maxAttempts: 1 } });
    const online = uid('on');
    const offline = uid('off');
    await router.registerSession(online, { id: 's', daemonId: uid('daemon'), status: 'active' });
    await router.routeMessage(message('d1'), online);
    await router.routeMessages([{ message: message('d2'), orchestratorId: online }, { message: message('q1'), orchestratorId: offline }]);
    await router.routeMessage(message('q2'), offline);
    await router.routeMessage(message('q3'), offline); // the queue holds 2: q1 is dropped
    await router.queueMessageForOffline(message('q4'), offline); // and q2
    expect(await router.getQueueDepth(offline)).toBe(2);
    await router.registerSession(offline, { id: 's2', daemonId: uid('daemon'), status: 'active' }); // drains q3, q4

    const m = router.getMetrics();
    expect(m).toMatchObject({
      routed: 6,
      delivered: 4,
      drained: 2,
      queued: 4,
      failed: 0,
      retries: 0,
      dropped: { queue_full: 2, expired: 0, deleted: 0, invalid: 0, too_large: 0 },
    });
    expect(m.deliveryLatencyMs.count).toBe(4);
    for (const p of [m.deliveryLatencyMs.p50, m.deliveryLatencyMs.p90, m.deliveryLatencyMs.p99]) {
      expect(p).toBeGreaterThan(0);
      expect(p).toBeLessThan(60_000);
    }
    expect(await router.getQueueDepth(offline)).toBe(0);
  });

  it('count failed calls and retries', async () => {
    // A key of the wrong type where the daemon list goes makes every attempt fail.
    const router = newRouter({ retry: { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 1 } });
    const orch = uid('orch');
    const daemon = uid('daemon');
    await router.registerSession(orch, { id: 's', daemonId: daemon, status: 'active' });
    await plainClient().set(keyOf(router, `daemon:events:${daemon}`), 'not a list');
    expect((await router.routeMessage(message('x'), orch)).status).toBe('failed');
    expect(router.getMetrics()).toMatchObject({ routed: 1, failed: 1, retries: 2, delivered: 0 });
  });

  it('expose them in the Prometheus text format, as a Prometheus parser reads it', async () => {
    const router = newRouter();
    const orch = uid('orch');
    await router.registerSession(orch, { id: 's', daemonId: uid('daemon'), status: 'active' });
    for (let i = 0; i < 5; i++) await router.routeMessage(message(`p${i}`), orch);
    const families = parsePrometheusTextFormat(router.metrics());
    const family = (name: string) => families.find((f) => f.name === name);
    for (const f of families) expect(f.name.startsWith('orchestrator_router_')).toBe(true);
    expect(family('orchestrator_router_delivered_total')).toMatchObject({ type: 'COUNTER', metrics: [{ value: '5' }] });
    expect(family('orchestrator_router_dropped_total')?.metrics.map((s) => s.labels?.reason).sort()).toEqual(['deleted', 'expired', 'invalid', 'queue_full', 'too_large']);
    const latency = family('orchestrator_router_delivery_latency_seconds');
    expect(latency?.type).toBe('HISTOGRAM');
    expect(latency?.metrics[0].count).toBe('5');
    expect(latency?.metrics[0].buckets?.['+Inf']).toBe('5');
    expect(Number(latency?.metrics[0].sum)).toBeGreaterThan(0);
  });
});
