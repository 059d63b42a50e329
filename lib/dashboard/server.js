'use strict';
// The dashboard (`orchestrator-router dashboard`): a fastify server that reads every orchestrator
// from Redis every `intervalMs` through one Observer (the binding's read handle), keeps the last
// read and a history of queue depth, and serves one page (lib/dashboard/page, with uPlot for the
// chart) plus the JSON it polls. Each browser asks only for the page of rows it shows, sorted and
// searched here, so the page stays small with 10,000 orchestrators. Actions (requeue dead
// letters, drop a queue) are refused unless the dashboard was started with them allowed, and
// then need the token it printed; each is one atomic script in Redis.

const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const Fastify = require('fastify');
const { fromNative } = require('../errors');

/** The files the page is made of: what the server answers at each path, read once at start. */
function pageFiles() {
  const page = (name) => path.join(__dirname, 'page', name);
  const uplot = path.dirname(require.resolve('uplot/package.json'));
  const files = {
    '/': [page('index.html'), 'text/html; charset=utf-8'],
    '/app.js': [page('app.js'), 'text/javascript; charset=utf-8'],
    '/style.css': [page('style.css'), 'text/css; charset=utf-8'],
    '/uPlot.iife.min.js': [path.join(uplot, 'dist', 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
    '/uPlot.min.css': [path.join(uplot, 'dist', 'uPlot.min.css'), 'text/css; charset=utf-8'],
  };
  return Object.entries(files).map(([url, [file, type]]) => ({ url, type, body: fs.readFileSync(file) }));
}

/** The queue levels, and their sum, as the rows and the history count them. */
const LEVELS = ['high', 'normal', 'low', 'total'];

/** The most points the queue-depth history keeps. */
const HISTORY_POINTS = 600;

/** The orders the table can be sorted in: each compares two rows, larger first ("desc"). */
const BY_DEPTH = (a, b) => b.queue.total - a.queue.total || (b.oldestAgeMs ?? -1) - (a.oldestAgeMs ?? -1);
const SORTS = {
  depth: BY_DEPTH,
  age: (a, b) => (b.oldestAgeMs ?? -1) - (a.oldestAgeMs ?? -1) || BY_DEPTH(a, b),
  dead: (a, b) => b.deadLetters - a.deadLetters || BY_DEPTH(a, b),
  receipts: (a, b) => b.pendingReceipts - a.pendingReceipts || BY_DEPTH(a, b),
  sessions: (a, b) => b.sessions - a.sessions || BY_DEPTH(a, b),
  id: (a, b) => (a.orchestratorId < b.orchestratorId ? 1 : a.orchestratorId > b.orchestratorId ? -1 : 0),
};

/**
 * Reads every orchestrator every `intervalMs` (the next read starts that long after the last one
 * ended, so a slow Redis is never asked twice at once), keeping the last good read, the last
 * failure, and the total queue depth of each read over `historyMs`.
 */
class Sampler {
  constructor(observer, { intervalMs, historyMs, now = Date.now }) {
    this.observer = observer;
    this.intervalMs = intervalMs;
    this.historyMs = historyMs;
    this.now = now;
    this.rows = [];
    this.unreadable = [];
    this.totals = totalsOf([]);
    this.readAt = null;
    this.readMs = 0;
    this.error = null;
    this.history = { t: [], high: [], normal: [], low: [], total: [] };
    this.sorted = new Map();
    this.timer = null;
    this.reading = null;
    this.stopped = false;
  }

  /** Starts reading, now and every `intervalMs` after each read. */
  start() {
    const loop = () => {
      if (this.stopped) return;
      this.refresh().finally(() => {
        if (!this.stopped) this.timer = setTimeout(loop, this.intervalMs);
      });
    };
    loop();
  }

  /** Reads Redis now (after the read under way, if one is); resolves when that read is done. */
  refresh() {
    if (this.stopped) return Promise.resolve();
    const next = (this.reading ?? Promise.resolve()).then(() => this.read());
    this.reading = next;
    return next.finally(() => {
      if (this.reading === next) this.reading = null;
    });
  }

  async read() {
    if (this.stopped) return;
    const started = this.now();
    try {
      const { orchestrators, unreadable } = JSON.parse(await this.observer.overview());
      const at = this.now();
      Object.assign(this, { rows: orchestrators, unreadable, totals: totalsOf(orchestrators), readAt: at, readMs: at - started, error: null });
      this.sorted.clear();
      this.record(at, this.totals.queue);
    } catch (error) {
      const failure = fromNative(error);
      this.error = { message: `cannot read Redis: ${failure.message.replace(/^Redis error: /, '')}`, since: this.error?.since ?? this.now() };
    }
  }

  /**
   * Adds a read's depths to the history: one point per HISTORY_POINTS-th of `historyMs` (a later
   * read in the same span takes the place of the earlier one), so that what each poll carries
   * stays small however short the interval.
   */
  record(at, queue) {
    const h = this.history;
    const span = this.historyMs / HISTORY_POINTS;
    const last = h.t.length - 1;
    if (last >= 0 && Math.floor((h.t[last] * 1000) / span) === Math.floor(at / span)) {
      for (const series of Object.values(h)) series.pop();
    }
    h.t.push(Math.round(at) / 1000);
    for (const level of LEVELS) h[level].push(queue[level]);
    const oldest = (at - this.historyMs) / 1000;
    let drop = 0;
    while (drop < h.t.length && h.t[drop] < oldest) drop += 1;
    if (drop > 0) for (const series of Object.values(h)) series.splice(0, drop);
  }

  /** The rows in one order (computed once per read and order). */
  rowsBy(sort, order) {
    const key = `${sort}:${order}`;
    let rows = this.sorted.get(key);
    if (!rows) {
      rows = [...this.rows].sort((a, b) => SORTS[sort](a, b) || (a.orchestratorId < b.orchestratorId ? -1 : 1));
      if (order === 'asc') rows.reverse();
      this.sorted.set(key, rows);
    }
    return rows;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    return this.reading ?? Promise.resolve();
  }
}

/** Sums over every orchestrator. */
function totalsOf(rows) {
  const totals = { orchestrators: rows.length, online: 0, queue: { high: 0, normal: 0, low: 0, total: 0 }, pendingReceipts: 0, deadLetters: 0 };
  for (const row of rows) {
    if (row.online) totals.online += 1;
    for (const level of LEVELS) totals.queue[level] += row.queue[level];
    totals.pendingReceipts += row.pendingReceipts;
    totals.deadLetters += row.deadLetters;
  }
  return totals;
}

const OVERVIEW_QUERY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    page: { type: 'integer', minimum: 1, default: 1 },
    size: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
    search: { type: 'string', maxLength: 500, default: '' },
    sort: { type: 'string', enum: Object.keys(SORTS), default: 'depth' },
    order: { type: 'string', enum: ['asc', 'desc'], default: 'desc' },
  },
};

const ID_PARAMS = { type: 'object', properties: { id: { type: 'string', minLength: 1 } }, required: ['id'] };

/** Host names a dashboard on this machine answers to, whatever its address (others would be a DNS-rebinding page's). */
const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

/**
 * Builds the dashboard's server (not yet listening).
 * @param {object} options
 * @param {import('../../binding').Observer} options.observer what reads and changes Redis
 * @param {string} options.source what is read, as shown (password masked)
 * @param {string} options.prefix the routers' keyPrefix
 * @param {number} options.intervalMs how often Redis is read
 * @param {number} [options.historyMs] how much queue-depth history the chart shows (10 minutes)
 * @param {string|null} options.token the actions' token, or null when actions are not allowed
 * @param {number} options.queueTtlMs how long a requeued dead letter is kept (the routers' queue TTL)
 * @param {string[] | null} options.hosts the host names requests may be addressed to (with any
 *   port), or null for any (a server bound to every address cannot know its names)
 * @param {(line: string) => void} options.log where each action is reported
 */
function createDashboard({ observer, source, prefix, intervalMs, historyMs = 600_000, token, queueTtlMs, hosts, log }) {
  const sampler = new Sampler(observer, { intervalMs, historyMs });
  // Orchestrator ids have no length limit; fastify's router caps a path parameter at 100 characters.
  const app = Fastify({ logger: false, routerOptions: { maxParamLength: 10_000 } });
  const allowed = hosts === null ? null : new Set(hosts.map((name) => name.toLowerCase()));
  const expected = token === null ? null : Buffer.from(token);

  app.addHook('onRequest', async (request, reply) => {
    if (allowed !== null && !allowed.has(request.hostname.toLowerCase())) {
      return reply.code(403).send({ error: `this dashboard answers only requests addressed to ${[...allowed].join(' or ')}, not ${request.hostname}` });
    }
    reply.header('Cache-Control', 'no-store');
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('Content-Security-Policy', "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
    return undefined;
  });

  app.setErrorHandler((error, request, reply) => {
    const status = error.validation ? 400 : error.statusCode ?? 500;
    reply.code(status).send({ error: error.validation ? `bad query: ${error.message}` : error.message });
  });
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: `no such page: ${request.method} ${request.url}` }));

  for (const { url, type, body } of pageFiles()) {
    app.get(url, (request, reply) => reply.type(type).send(body));
  }

  app.get('/api/overview', { schema: { querystring: OVERVIEW_QUERY } }, async (request) => {
    const { page, size, search, sort, order } = request.query;
    const needle = search.toLowerCase();
    const all = sampler.rowsBy(sort, order);
    const matching = needle === '' ? all : all.filter((row) => row.orchestratorId.toLowerCase().includes(needle));
    const pages = Math.max(1, Math.ceil(matching.length / size));
    const shown = Math.min(page, pages);
    return {
      source,
      prefix,
      readAt: sampler.readAt,
      readMs: sampler.readMs,
      intervalMs,
      error: sampler.error,
      actions: token !== null,
      totals: sampler.totals,
      matched: matching.length,
      page: shown,
      pages,
      size,
      sort,
      order,
      rows: matching.slice((shown - 1) * size, shown * size),
      unreadable: sampler.unreadable,
      history: sampler.history,
    };
  });

  app.get('/api/orchestrators/:id', { schema: { params: ID_PARAMS } }, async (request, reply) => {
    try {
      return JSON.parse(await observer.inspect(request.params.id));
    } catch (error) {
      return refusal(reply, error);
    }
  });

  /** Checks that actions are allowed and the token is given; answers the refusal if not. */
  const authorised = async (request, reply) => {
    if (expected === null) {
      return reply.code(403).send({ error: 'actions are off: start the dashboard with --allow-actions to requeue dead letters or drop queues' });
    }
    const given = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    if (given === undefined) {
      return reply.code(401).send({ error: 'this action needs the token the dashboard printed when it started (Authorization: Bearer <token>)' });
    }
    const buffer = Buffer.from(given);
    if (buffer.length !== expected.length || !crypto.timingSafeEqual(buffer, expected)) {
      return reply.code(401).send({ error: 'wrong token: give the one the dashboard printed when it started' });
    }
    return undefined;
  };

  const action = (name, perform) => app.post(`/api/orchestrators/:id/${name}`, { schema: { params: ID_PARAMS }, preHandler: authorised }, async (request, reply) => {
    const { id } = request.params;
    let result;
    try {
      result = await perform(id);
    } catch (error) {
      log(`${new Date().toISOString()} ${name} ${JSON.stringify(id)} failed: ${fromNative(error).message}`);
      return refusal(reply, error);
    }
    log(`${new Date().toISOString()} ${result.report}`);
    await sampler.refresh();
    return result.body;
  });

  action('requeue-dead-letters', async (id) => {
    const requeued = await observer.requeueDeadLetters(id, queueTtlMs);
    return { body: { requeued }, report: `requeued ${requeued} dead letter${requeued === 1 ? '' : 's'} of ${JSON.stringify(id)}` };
  });
  action('drop-queue', async (id) => {
    const dropped = JSON.parse(await observer.dropQueue(id));
    const { high, normal, low, total } = dropped;
    return { body: { dropped }, report: `dropped ${total} queued message${total === 1 ? '' : 's'} of ${JSON.stringify(id)} (high ${high}, normal ${normal}, low ${low})` };
  });

  return { app, sampler };
}

/** Answers a failed read or action: 400 for an id Redis cannot hold, else 502 (Redis failed). */
function refusal(reply, error) {
  const failure = fromNative(error);
  const status = failure.code === 'INVALID_ARGUMENT' ? 400 : 502;
  return reply.code(status).send({ error: failure.message });
}

module.exports = { createDashboard, LOOPBACK_NAMES };
