// The dashboard (`orchestrator-router dashboard`), run as a real process against the test server
// while routers work, and looked at in a real browser: Debian's headless Chromium, driven by
// playwright-core.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { OrchestratorRouterConfig } from '../index';
import { closeAll, keyOf, message, newRouter, plainClient, record, redisClusterUrls, redisUrl, uid, waitFor } from './support/helpers';
import { startRedis } from './support/redis-server';

const BIN = path.join(__dirname, '..', 'bin', 'orchestrator-router.js');
/** Debian's Chromium (.ci/run installs it); CHROMIUM_PATH names another. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

interface Dashboard {
  url: string;
  token: string | null;
  output: () => string;
  process: ChildProcess;
}

const dashboards: Dashboard[] = [];
let browser: Browser;

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`the dashboard tests need Chromium at ${CHROMIUM} (apt-get install chromium, as .ci/run does, or set CHROMIUM_PATH)`);
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

afterAll(async () => {
  await browser?.close();
});

/** Closes each page's context, checking it saw no error of its own. */
const afterPage: Array<() => Promise<void>> = [];

afterEach(async () => {
  try {
    for (const check of afterPage.splice(0)) await check();
  } finally {
    await Promise.all(dashboards.splice(0).map((d) => stop(d)));
    await closeAll();
  }
});

/** Starts `orchestrator-router dashboard` with `args` on a free port; resolves once it serves. */
async function startDashboard(args: string[]): Promise<Dashboard> {
  const child = spawn(process.execPath, [BIN, 'dashboard', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (chunk) => (out += chunk));
  child.stderr.on('data', (chunk) => (out += chunk));
  const dashboard: Dashboard = { url: '', token: null, output: () => out, process: child };
  dashboards.push(dashboard);
  // It prints its address and what the page may do (read-only, or the token) in one write.
  await waitFor(() => /(read-only[^\n]*|#token=\S+)\n/.test(out) || child.exitCode !== null, () => `the dashboard to start; it printed: ${out}`, 10_000);
  const url = / at (http:\S+)\n/.exec(out)?.[1];
  if (!url) throw new Error(`the dashboard did not start: ${out}`);
  dashboard.url = url;
  dashboard.token = /with the token (\S+)/.exec(out)?.[1] ?? null;
  return dashboard;
}

async function stop(dashboard: Dashboard): Promise<void> {
  if (dashboard.process.exitCode !== null) return;
  const exited = new Promise((resolve) => dashboard.process.once('exit', resolve));
  dashboard.process.kill('SIGTERM');
  await exited;
}

/** A page of the browser, failing the test on any error the page itself throws. */
async function openPage(url: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  // Well within the test's own limit, so that a wait that fails says which one.
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/status of 40[13]/.test(msg.text())) errors.push(msg.text());
  });
  afterPage.push(async () => {
    await context.close();
    expect(errors).toEqual([]);
  });
  await page.goto(url);
  return page;
}

/** The text of one cell of an orchestrator's row. */
function cell(page: Page, orchestratorId: string, field: string) {
  return page.locator(`tr[data-orchestrator="${orchestratorId}"] td[data-field="${field}"]`);
}

const receipts: OrchestratorRouterConfig = {
  deliveryReceipts: { enabled: true },
  deliveryTimeoutMs: 150,
  retry: { maxAttempts: 2, initialDelayMs: 10, backoffMultiplier: 2, maxDelayMs: 20 },
  drainIntervalMs: 20,
};

/**
 * Three orchestrators as routers leave them: `online` with two sessions; `queued`, offline with
 * 2 high, 3 normal and 1 low messages waiting; `dead`, offline with 2 dead letters (delivered,
 * never acknowledged). Resolves the router (its prefix names the keys) and the ids.
 */
async function deployment() {
  const router = newRouter({ ...receipts, sessions: { multiple: true } });
  const ids = { online: uid('online'), queued: uid('queued'), dead: uid('dead') };
  await router.registerSession(ids.online, { id: 's1', daemonId: uid('d'), status: 'active' });
  await router.registerSession(ids.online, { id: 's2', daemonId: uid('d'), status: 'active' });
  for (const [n, priority] of [[2, 'high'], [3, 'normal'], [1, 'low']] as const) {
    for (let i = 0; i < n; i++) await router.routeMessage(message(`${priority}_${i}`, { priority }), ids.queued);
  }
  const dead = record(router, 'message.dead_lettered');
  await router.registerSession(ids.dead, { id: 'silent', daemonId: uid('d'), status: 'active' });
  for (const id of ['never_1', 'never_2']) await router.routeMessage(message(id), ids.dead);
  await waitFor(() => dead.length === 2, () => `two dead letters, got ${dead.length}`, 10_000);
  await router.unregisterSession(ids.dead);
  return { router, ids, prefix: keyOf(router, '') };
}

describe('orchestrator-router dashboard', () => {
  it('shows what Redis holds: sessions, online state, queue depth by priority, the oldest message, receipts, dead letters, deepest first', async () => {
    const { router, ids, prefix } = await deployment();
    const dashboard = await startDashboard(['--redis', redisUrl(), '--prefix', prefix, '--interval', '200']);
    const page = await openPage(dashboard.url);
    const redis = plainClient();

    await cell(page, ids.queued, 'total').waitFor();
    const lengths = await Promise.all(['queue-high', 'queue', 'queue-low'].map((k) => redis.llen(keyOf(router, `routing:${k}:${ids.queued}`))));
    expect(lengths).toEqual([2, 3, 1]);
    expect(await cell(page, ids.queued, 'high').textContent()).toBe('2');
    expect(await cell(page, ids.queued, 'normal').textContent()).toBe('3');
    expect(await cell(page, ids.queued, 'low').textContent()).toBe('1');
    expect(await cell(page, ids.queued, 'total').textContent()).toBe('6');
    expect(await cell(page, ids.queued, 'online').textContent()).toBe('offline');
    expect(await cell(page, ids.queued, 'oldest').textContent()).toMatch(/^\d+ s$|^\d+ m \d+ s$/);
    expect(await cell(page, ids.online, 'online').textContent()).toBe('online');
    expect(await cell(page, ids.online, 'sessions').textContent()).toBe('2');
    expect(await cell(page, ids.online, 'total').textContent()).toBe('0');
    expect(await redis.llen(keyOf(router, `routing:dead:${ids.dead}`))).toBe(2);
    expect(await cell(page, ids.dead, 'dead').textContent()).toBe('2');
    expect(await cell(page, ids.dead, 'online').textContent()).toBe('offline');
    // Deepest first.
    expect(await page.locator('tr[data-orchestrator]').first().getAttribute('data-orchestrator')).toBe(ids.queued);
    expect(await page.locator('#totals [data-total="orchestrators"]').textContent()).toBe('3');
    expect(await page.locator('#totals [data-total="queued"]').textContent()).toBe('6');
    expect(await page.locator('#totals [data-total="dead"]').textContent()).toBe('2');
    // The chart is uPlot's, and read-only means no action is offered.
    await page.locator('#chart .uplot canvas').waitFor();
    expect(await page.locator('button[data-action]').count()).toBe(0);
    expect(await page.locator('#token').count()).toBe(0);

    // The detail of one orchestrator lists its sessions.
    await page.locator(`tr[data-orchestrator="${ids.online}"] td[data-field="id"] button`).click();
    await page.locator('#detail:not([hidden])').waitFor();
    await page.locator('#detail-sessions').filter({ hasText: 's2' }).waitFor();
    expect(await page.locator('#detail-sessions').textContent()).toContain('s1');
  });

  it('updates when a queue changes, and its chart follows the total', async () => {
    const { router, ids, prefix } = await deployment();
    const dashboard = await startDashboard(['--redis', redisUrl(), '--prefix', prefix, '--interval', '200', '--allow-actions']);
    const page = await openPage(`${dashboard.url}#token=${dashboard.token}`);
    await cell(page, ids.queued, 'total').filter({ hasText: /^6$/ }).waitFor();

    for (let i = 0; i < 4; i++) await router.routeMessage(message(`more_${i}`, { priority: 'low' }), ids.queued);
    await cell(page, ids.queued, 'total').filter({ hasText: /^10$/ }).waitFor();
    expect(await cell(page, ids.queued, 'low').textContent()).toBe('5');
    // The history keeps a point a second, the last read of each second: the 10 stays in it once a
    // later second has begun (until then a later read of the same second could take its place).
    const history = async () => page.evaluate(async () => (await (await fetch('/api/overview')).json()).history as { t: number[]; total: number[] });
    await waitFor(async () => {
      const { total } = await history();
      const at = total.indexOf(10);
      return at >= 0 && at < total.length - 1;
    }, 'a point of 10 in the history, followed by a later one');

    // A new orchestrator appears, and one whose daemon comes back is drained to nothing.
    const fresh = uid('fresh');
    await router.routeMessage(message('first'), fresh);
    await cell(page, fresh, 'total').filter({ hasText: /^1$/ }).waitFor();
    await router.registerSession(ids.queued, { id: 'back', daemonId: uid('d'), status: 'active' });
    await cell(page, ids.queued, 'online').filter({ hasText: 'online' }).waitFor();
    await cell(page, ids.queued, 'total').filter({ hasText: /^0$/ }).waitFor();

    // The chart draws the server's history of the total depth (a point a second): 1 now (fresh's).
    const { t, total } = await history();
    expect(total.at(-1)).toBe(1);
    expect(total).toContain(10);
    expect(t.length).toBe(total.length);
    // At most a point a second, however often the dashboard reads (here every 200 ms).
    expect(t.slice(1).every((time, i) => Math.floor(time) > Math.floor(t[i]))).toBe(true);
    await page.locator('#chart .u-legend .u-series:last-child .u-value').filter({ hasText: /^1$/ }).waitFor();
    // The README's picture (DASHBOARD_SCREENSHOT=docs/images/dashboard.png), cropped to what the page shows.
    if (process.env.DASHBOARD_SCREENSHOT) {
      const height = await page.evaluate(() => Math.ceil(document.querySelector('main')!.getBoundingClientRect().bottom) + 16);
      await page.screenshot({ path: process.env.DASHBOARD_SCREENSHOT, clip: { x: 0, y: 0, width: 1280, height } });
    }
  });

  it('pages and searches 10,000 orchestrators', async () => {
    const router = newRouter();
    const redis = plainClient();
    const prefix = keyOf(router, '');
    // Written straight into Redis as a queue of one message each (routing 10,000 would only be slower).
    const pipeline = redis.pipeline();
    for (let i = 0; i < 10_000; i++) {
      const id = `fleet_${String(i).padStart(5, '0')}`;
      pipeline.rpush(`${prefix}routing:queue:${id}`, JSON.stringify({ messageId: `m${i}`, queuedAt: new Date().toISOString() }));
      pipeline.zadd(`${prefix}routing:pending`, Date.now() + 3_600_000, id);
    }
    pipeline.rpush(`${prefix}routing:queue:fleet_deep`, 'a', 'b', 'c');
    await pipeline.exec();
    try {
      await pagesAndSearches(prefix);
    } finally {
      // The other suites share this server: its keyspace goes back to what it was.
      const fleet = await redis.keys(`${prefix}*`);
      for (let i = 0; i < fleet.length; i += 1000) await redis.unlink(...fleet.slice(i, i + 1000));
    }
  });

  async function pagesAndSearches(prefix: string): Promise<void> {
    const dashboard = await startDashboard(['--redis', redisUrl(), '--prefix', prefix, '--interval', '500']);
    const page = await openPage(dashboard.url);
    await page.locator('#totals [data-total="orchestrators"]').filter({ hasText: '10,001' }).waitFor({ timeout: 15_000 });
    expect(await page.locator('tr[data-orchestrator]').count()).toBe(50);
    expect(await page.locator('tr[data-orchestrator]').first().getAttribute('data-orchestrator')).toBe('fleet_deep');
    await expect(page.locator('#page-info').textContent()).resolves.toMatch(/page 1 of 201/);
    await page.locator('#next').click();
    await page.locator('#page-info').filter({ hasText: /page 2 of 201/ }).waitFor();

    await page.locator('#search').fill('fleet_0424');
    await page.locator('#page-info').filter({ hasText: /page 1 of 1 · 10 matching/ }).waitFor();
    const shown = await page.locator('tr[data-orchestrator]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-orchestrator')));
    expect(shown.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `fleet_0424${i}`));
    // What one poll carries stays small: a page of rows, not the fleet.
    const body = await page.evaluate(async () => (await fetch('/api/overview?search=fleet_&size=50')).text());
    expect(body.length).toBeLessThan(30_000);
  }

  it('refuses an action without the token and performs it with the token, each in one step, reported on the page and in its output', async () => {
    const { router, ids, prefix } = await deployment();
    const redis = plainClient();
    const dashboard = await startDashboard(['--redis', redisUrl(), '--prefix', prefix, '--interval', '200', '--allow-actions']);
    expect(dashboard.token).toMatch(/^[\w-]{20,}$/);

    // Without the token: refused, and Redis is as it was.
    const page = await openPage(dashboard.url);
    page.on('dialog', (dialog) => dialog.accept());
    await cell(page, ids.queued, 'total').filter({ hasText: /^6$/ }).waitFor();
    await page.locator(`tr[data-orchestrator="${ids.queued}"] button[data-action="drop-queue"]`).click();
    await page.locator('#action-status[data-outcome="refused"]').waitFor();
    expect(await page.locator('#action-status').textContent()).toContain('401');
    const queueKeys = ['queue-high', 'queue', 'queue-low'].map((k) => keyOf(router, `routing:${k}:${ids.queued}`));
    expect(await redis.exists(...queueKeys)).toBe(3);
    // A wrong token is refused the same way.
    await page.locator('#token').fill('not-the-token');
    await page.locator(`tr[data-orchestrator="${ids.dead}"] button[data-action="requeue-dead-letters"]`).click();
    await page.locator('#action-status[data-outcome="refused"]').filter({ hasText: 'wrong token' }).waitFor();
    expect(await redis.llen(keyOf(router, `routing:dead:${ids.dead}`))).toBe(2);

    // With the token (as the printed address gives it): both actions happen.
    const withToken = await openPage(`${dashboard.url}#token=${dashboard.token}`);
    withToken.on('dialog', (dialog) => dialog.accept());
    await cell(withToken, ids.dead, 'dead').filter({ hasText: /^2$/ }).waitFor();
    await withToken.locator(`tr[data-orchestrator="${ids.dead}"] button[data-action="requeue-dead-letters"]`).click();
    await withToken.locator('#action-status[data-outcome="ok"]').filter({ hasText: `requeued 2 dead letters of ${ids.dead}` }).waitFor();
    expect(await redis.llen(keyOf(router, `routing:dead:${ids.dead}`))).toBe(0);
    const requeued = (await redis.lrange(keyOf(router, `routing:queue:${ids.dead}`), 0, -1)).map((i) => JSON.parse(i).messageId);
    expect(requeued).toEqual(['never_1', 'never_2']);
    await cell(withToken, ids.dead, 'total').filter({ hasText: /^2$/ }).waitFor();

    await withToken.locator(`tr[data-orchestrator="${ids.queued}"] button[data-action="drop-queue"]`).click();
    await withToken.locator('#action-status[data-outcome="ok"]').filter({ hasText: `dropped 6 queued messages of ${ids.queued} (high 2, normal 3, low 1)` }).waitFor();
    expect(await redis.exists(...queueKeys)).toBe(0);
    expect(await redis.zscore(keyOf(router, 'routing:pending'), ids.queued)).toBeNull();
    // It held nothing else (no session, receipt or dead letter): it leaves the list.
    await withToken.locator(`tr[data-orchestrator="${ids.queued}"]`).waitFor({ state: 'detached' });
    await waitFor(() => dashboard.output().includes(`dropped 6 queued messages of "${ids.queued}" (high 2, normal 3, low 1)`), () => `the drop reported; output: ${dashboard.output()}`);
    expect(dashboard.output()).toContain(`requeued 2 dead letters of "${ids.dead}"`);

    // The requeued letters are the routers' again: back online, the orchestrator receives them.
    const daemon = uid('d');
    await router.registerSession(ids.dead, { id: 'back', daemonId: daemon, status: 'active' });
    const delivered = async () => new Set((await redis.lrange(keyOf(router, `daemon:events:${daemon}`), 0, -1)).map((e) => JSON.parse(e).payload.messageId));
    await waitFor(async () => (await delivered()).has('never_1') && (await delivered()).has('never_2'), 'the requeued letters delivered');
  });

  it('answers actions with 403 when they are not allowed, and only requests addressed to the loopback', async () => {
    const { prefix, ids } = await deployment();
    const dashboard = await startDashboard(['--redis', redisUrl(), '--prefix', prefix]);
    const port = new URL(dashboard.url).port;
    const request = (method: string, pathname: string, host: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, method, path: pathname, headers: { Host: host, Authorization: 'Bearer x', 'Content-Type': 'application/json' } }, (res) => {
          let body = '';
          res.on('data', (chunk) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end(method === 'POST' ? '{}' : undefined);
      });
    const refused = await request('POST', `/api/orchestrators/${ids.queued}/drop-queue`, `127.0.0.1:${port}`);
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body).error).toMatch(/--allow-actions/);
    expect((await request('GET', '/api/overview', `localhost:${port}`)).status).toBe(200);
    expect((await request('GET', '/api/overview', `[::1]:${port}`)).status).toBe(200);
    // Ids have no length limit, nor does the detail route.
    const long = `o${'x'.repeat(300)}`;
    const detail = await request('GET', `/api/orchestrators/${long}`, `127.0.0.1:${port}`);
    expect({ status: detail.status, id: JSON.parse(detail.body).orchestratorId }).toEqual({ status: 200, id: long });
    const rebound = await request('GET', '/api/overview', `evil.example:${port}`);
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body).error).toMatch(/only requests addressed to 127.0.0.1 or localhost/);
    const bad = await request('GET', '/api/overview?size=100000', `127.0.0.1:${port}`);
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error).toMatch(/size/);
  });

  it('shows that Redis cannot be read, keeps trying, and shows it again once it can', async () => {
    const server = await startRedis();
    await server.kill();
    const dashboard = await startDashboard(['--redis', server.url, '--interval', '200', '--timeout', '500']);
    const page = await openPage(dashboard.url);
    await page.locator('#error:not([hidden])').waitFor();
    expect(await page.locator('#error-message').textContent()).toMatch(/cannot read Redis/);
    try {
      await server.start();
      const router = newRouter({ redis: server.url, keyPrefix: '' });
      await router.routeMessage(message('m1'), 'back');
      await cell(page, 'back', 'total').filter({ hasText: /^1$/ }).waitFor();
      await page.locator('#error').waitFor({ state: 'hidden' });
    } finally {
      await server.kill();
    }
  });

  it('refuses wrong options and a port in use, and ends cleanly on SIGTERM', async () => {
    const exit = (args: string[]) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (chunk) => (stderr += chunk));
        child.once('exit', (code) => resolve({ code, stderr }));
      });
    expect(await exit(['dashboard', '--port', '0x1F90'])).toEqual({ code: 2, stderr: expect.stringContaining('--port must be a whole number from 0 to 65535, got 0x1F90') });
    expect(await exit(['stats', '--allow-actions'])).toEqual({ code: 2, stderr: expect.stringContaining('--allow-actions is read by dashboard only') });
    expect(await exit(['inspect', 'o', '--port', '1'])).toEqual({ code: 2, stderr: expect.stringContaining('--port is read by dashboard only') });
    const first = await startDashboard(['--redis', redisUrl()]);
    const port = new URL(first.url).port;
    expect(await exit(['dashboard', '--redis', redisUrl(), '--port', port])).toEqual({ code: 3, stderr: expect.stringContaining(`port ${port} is in use on 127.0.0.1: give another with --port`) });
    const exited = new Promise((resolve) => first.process.once('exit', (code) => resolve(code)));
    first.process.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('reads a Redis Cluster, and drops a queue there in one step', async () => {
    const router = newRouter({ redis: { cluster: redisClusterUrls() } });
    const prefix = keyOf(router, '');
    const ids = [uid('a'), uid('b'), uid('c')];
    for (const [n, id] of ids.entries()) {
      for (let i = 0; i <= n; i++) await router.routeMessage(message(`m${i}`), id);
    }
    const dashboard = await startDashboard(['--cluster', redisClusterUrls().join(','), '--prefix', prefix, '--interval', '200', '--allow-actions']);
    const page = await openPage(`${dashboard.url}#token=${dashboard.token}`);
    page.on('dialog', (dialog) => dialog.accept());
    for (const [n, id] of ids.entries()) await cell(page, id, 'total').filter({ hasText: new RegExp(`^${n + 1}$`) }).waitFor();
    await page.locator(`tr[data-orchestrator="${ids[2]}"] button[data-action="drop-queue"]`).click();
    await page.locator('#action-status[data-outcome="ok"]').filter({ hasText: 'dropped 3 queued messages' }).waitFor();
    await waitFor(() => dashboard.output().includes(`dropped 3 queued messages of "${ids[2]}" (high 0, normal 3, low 0)`), () => `the drop reported; output: ${dashboard.output()}`);
    expect(await router.getQueueDepth(ids[2])).toBe(0);
    expect(await router.getQueueDepth(ids[1])).toBe(2);
  });
});
