#!/usr/bin/env node
'use strict';
// orchestrator-router: what an operator would otherwise read with redis-cli — one orchestrator's
// sessions, queue and receipts (`inspect`), or every orchestrator with a queue (`stats`) — and a
// live web dashboard over every orchestrator (`dashboard`). It only reads; it never drains,
// promotes a session or writes anything, except for the dashboard's actions, which must be
// allowed with --allow-actions and then need the token it prints.

const { parseArgs } = require('node:util');
const { inspectOrchestrator, queueStats, Observer } = require('../lib/native').loadBinding();
const fs = require('node:fs');
const { caPem } = require('../lib/arguments');
const { fromNative } = require('../lib/errors');

const USAGE = `Usage:
  orchestrator-router inspect <orchestratorId> [options]
  orchestrator-router stats [options]
  orchestrator-router dashboard [options] [dashboard options]

Commands:
  inspect <orchestratorId>  sessions, online state, queue depth by priority, age of the oldest
                            queued message, pending receipts, dead letters, daemon event lists
  stats                     every orchestrator with a queue, deepest first
  dashboard                 a web page, updating live, of every orchestrator: sessions, queue depth
                            by priority, oldest message, receipts, dead letters, and a chart of
                            queue depth over the last 10 minutes

Options:
  --redis <url>       Redis to read (default: $REDIS_URL, else redis://127.0.0.1:6379)
  --cluster <urls>    a Redis Cluster to read instead: node URLs, comma-separated (one is enough)
  --sentinel <urls>   read the primary Redis Sentinel names instead: Sentinel URLs, comma-separated
                      (one is enough), with --sentinel-name; the primary's credentials are read from
                      $REDIS_USERNAME and $REDIS_PASSWORD, the Sentinels' from their URLs
  --sentinel-name <name>  the primary's name at the Sentinels (default: mymaster)
  --tls               with --sentinel: reach the primary over TLS (rediss:// Sentinel URLs are
                      reached over TLS)
  --tls-ca <file>     trust the CA certificates in this PEM file for TLS (a rediss:// --redis URL,
                      rediss:// Sentinels, the primary with --tls) instead of the system's roots
  --prefix <prefix>   the routers' keyPrefix (default: none)
  --timeout <ms>      give up on Redis after this long (default: 3000)
  --json              print JSON instead of text (inspect, stats)
  -h, --help          show this help

Dashboard options:
  --port <port>       the port to serve on (default: 8080; 0 picks a free one)
  --host <address>    the address to serve on (default: 127.0.0.1; anything else exposes the
                      dashboard, and its actions when allowed, to whoever can reach it)
  --interval <ms>     how often to read Redis (default: 2000; each read inspects every orchestrator)
  --allow-actions     allow requeueing dead letters and dropping queues from the page; each action
                      needs the token printed at start
  --queue-ttl <s>     how long a requeued dead letter stays queued: the routers'
                      offlineQueue.queueTtlSeconds (default: 86400)`;

/** The options only the dashboard reads. */
const DASHBOARD_OPTIONS = ['port', 'host', 'interval', 'allow-actions', 'queue-ttl'];

/**
 * Exit codes: 0 done, 1 Redis could not be read, 2 the command line is wrong, 3 the dashboard
 * cannot serve (its port is taken, or its optional dependencies are not installed).
 */
const EXIT = { ok: 0, redis: 1, usage: 2, serve: 3 };

function main(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        redis: { type: 'string' },
        cluster: { type: 'string' },
        sentinel: { type: 'string' },
        'sentinel-name': { type: 'string', default: 'mymaster' },
        tls: { type: 'boolean', default: false },
        'tls-ca': { type: 'string' },
        prefix: { type: 'string', default: '' },
        timeout: { type: 'string', default: '3000' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        port: { type: 'string' },
        host: { type: 'string' },
        interval: { type: 'string' },
        'allow-actions': { type: 'boolean' },
        'queue-ttl': { type: 'string' },
      },
    });
  } catch (error) {
    return usage(error.message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return Promise.resolve(EXIT.ok);
  }
  const [command, ...rest] = positionals;
  const timeout = Number(values.timeout);
  if (!Number.isInteger(timeout) || timeout < 1 || timeout > 3_600_000) {
    return usage(`--timeout must be a whole number of ms from 1 to 3600000, got ${values.timeout}`);
  }
  const targets = ['redis', 'cluster', 'sentinel'].filter((name) => values[name] !== undefined);
  if (targets.length > 1) return usage(`give one of --redis, --cluster and --sentinel, not ${targets.map((t) => `--${t}`).join(' and ')}`);
  const list = (option) => {
    const urls = values[option]?.split(',').map((entry) => entry.trim());
    return urls?.some((entry) => entry === '') ? null : urls;
  };
  const nodes = list('cluster');
  if (nodes === null) return usage(`--cluster takes node URLs separated by commas, got ${JSON.stringify(values.cluster)}`);
  const sentinels = list('sentinel');
  if (sentinels === null) return usage(`--sentinel takes Sentinel URLs separated by commas, got ${JSON.stringify(values.sentinel)}`);
  if (values.tls && !sentinels) return usage('--tls is read with --sentinel (give --redis a rediss:// URL instead)');
  let ca;
  if (values['tls-ca'] !== undefined) {
    if (nodes) return usage("--tls-ca is not read with --cluster: a cluster's nodes are trusted with the system's root certificates");
    try {
      ca = caPem('--tls-ca', fs.readFileSync(values['tls-ca']));
    } catch (error) {
      return usage(`--tls-ca ${values['tls-ca']}: ${error.message.replace(/^Invalid --tls-ca: /, '')}`);
    }
  }
  const url = values.redis ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const rediss = (entry) => /^rediss:/i.test(entry);
  let shown = redact(url);
  let redis = { url, ...(ca && rediss(url) ? { tls: { ca } } : {}) };
  if (nodes) {
    shown = nodes.map(redact).join(',');
    redis = { cluster: nodes };
  } else if (sentinels) {
    shown = `the primary ${JSON.stringify(values['sentinel-name'])} of the Sentinels ${sentinels.map(redact).join(',')}`;
    const { REDIS_USERNAME: username, REDIS_PASSWORD: password } = process.env;
    redis = {
      sentinels,
      name: values['sentinel-name'],
      ...(username ? { username } : {}),
      ...(password ? { password } : {}),
      ...(values.tls ? { tls: ca ? { ca } : true } : {}),
      ...(ca && rediss(sentinels[0]) ? { sentinelTls: { ca } } : {}),
    };
    if (ca && !values.tls && !rediss(sentinels[0])) return usage('--tls-ca is read with rediss:// Sentinel URLs or --tls: nothing here is reached over TLS');
  } else if (ca && !rediss(url)) {
    return usage(`--tls-ca is read with a rediss:// URL, not ${shown}`);
  }
  redis = JSON.stringify(redis);
  const print = values.json ? (value) => `${JSON.stringify(value, null, 2)}\n` : undefined;

  const misplaced = DASHBOARD_OPTIONS.find((name) => values[name] !== undefined);
  if (misplaced && (command === 'inspect' || command === 'stats')) return usage(`--${misplaced} is read by dashboard only`);
  if (command === 'inspect') {
    if (rest.length !== 1 || rest[0] === '') return usage('inspect takes one orchestrator id');
    return read(shown, () => inspectOrchestrator(redis, values.prefix, rest[0], timeout), print ?? formatInspection);
  }
  if (command === 'stats') {
    if (rest.length !== 0) return usage('stats takes no arguments');
    return read(shown, () => queueStats(redis, values.prefix, timeout), print ?? formatStats);
  }
  if (command === 'dashboard') {
    if (rest.length !== 0) return usage('dashboard takes no arguments');
    if (values.json) return usage('--json is read by inspect and stats, not dashboard');
    return dashboard(values, redis, shown, timeout);
  }
  return usage(command === undefined ? 'a command is required' : `unknown command: ${command}`);
}

/** A whole number option from `min` to `max`, or the problem with it. */
function wholeNumber(name, text, fallback, min, max) {
  if (text === undefined) return { value: fallback };
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    return { problem: `--${name} must be a whole number from ${min} to ${max}, got ${text}` };
  }
  return { value };
}

/**
 * Serves the dashboard until SIGINT or SIGTERM; resolves the exit code. Startup failures (a port
 * in use, an option Redis cannot take) end it at once with the reason.
 */
async function dashboard(values, redis, shown, timeout) {
  const port = wholeNumber('port', values.port, 8080, 0, 65535);
  const interval = wholeNumber('interval', values.interval, 2000, 100, 3_600_000);
  const ttl = wholeNumber('queue-ttl', values['queue-ttl'], 86400, 1, 365 * 86400);
  const problem = port.problem ?? interval.problem ?? ttl.problem;
  if (problem) return usage(problem);
  const host = values.host ?? '127.0.0.1';
  if (host.trim() === '') return usage('--host must be an address, got an empty one');
  const unmet = dashboardUnmet();
  if (unmet) {
    process.stderr.write(`orchestrator-router: the dashboard needs ${unmet}\n`);
    return EXIT.serve;
  }
  let observer;
  try {
    observer = new Observer(redis, values.prefix, timeout);
  } catch (error) {
    return failed(shown, error);
  }
  const { createDashboard, LOOPBACK_NAMES } = require('../lib/dashboard/server');
  const token = values['allow-actions'] ? require('node:crypto').randomBytes(18).toString('base64url') : null;
  const named = host.includes(':') ? `[${host}]` : host;
  const everywhere = ['0.0.0.0', '::', '[::]'].includes(host);
  let app;
  let sampler;
  try {
    ({ app, sampler } = createDashboard({
      observer,
      source: shown,
      prefix: values.prefix,
      intervalMs: interval.value,
      token,
      queueTtlMs: ttl.value * 1000,
      // Bound to every address, it cannot know the names it is reached by.
      hosts: everywhere ? null : [...new Set([...LOOPBACK_NAMES, named])],
      log: (line) => process.stdout.write(`${line}\n`),
    }));
    await app.listen({ port: port.value, host });
  } catch (error) {
    observer.close();
    const reason = error.code === 'EADDRINUSE' ? `port ${port.value} is in use on ${host}: give another with --port` : error.message;
    process.stderr.write(`orchestrator-router: cannot serve the dashboard: ${reason}\n`);
    return EXIT.serve;
  }
  sampler.start();
  const url = `http://${named}:${app.server.address().port}/`;
  // One write, so that whoever reads the output finds the address and the token together.
  process.stdout.write([
    `dashboard of ${shown}${values.prefix ? ` (prefix ${JSON.stringify(values.prefix)})` : ''} at ${url}`,
    ...(everywhere ? [`answering requests addressed to any name, on every address ${host} reaches`] : []),
    ...(token === null
      ? ['read-only: start with --allow-actions to requeue dead letters and drop queues from the page']
      : [`actions allowed with the token ${token}`, `open ${url}#token=${token}`]),
    '',
  ].join('\n'));
  return new Promise((resolve) => {
    const stop = async () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      // No read starts any more, requests in flight finish, and a read under way is cut short by
      // closing its connection.
      sampler.stop();
      try {
        await app.close();
      } catch (error) {
        process.stderr.write(`orchestrator-router: closing the dashboard: ${error.message}\n`);
      } finally {
        observer.close();
      }
      resolve(EXIT.ok);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/**
 * What the dashboard lacks to run here, if anything: fastify 5 and uplot 1 (optional peer
 * dependencies), and Node.js 20 or later (fastify 5's own requirement).
 */
function dashboardUnmet() {
  const install = 'npm install fastify@5 uplot@1';
  const version = (name) => {
    try {
      return require(`${name}/package.json`).version;
    } catch {
      return null;
    }
  };
  const versions = { fastify: version('fastify'), uplot: version('uplot') };
  const missing = Object.keys(versions).filter((name) => versions[name] === null);
  if (missing.length > 0) {
    return `${missing.join(' and ')}, optional peer dependencies of @neolith/orchestrator-router that are not installed: ${install}`;
  }
  if (!versions.fastify.startsWith('5.')) return `fastify 5, not ${versions.fastify}: ${install}`;
  if (Number(process.versions.node.split('.')[0]) < 20) return `Node.js 20 or later (for fastify 5), not ${process.version}`;
  return null;
}

function usage(problem) {
  process.stderr.write(`orchestrator-router: ${problem}\n\n${USAGE}\n`);
  return Promise.resolve(EXIT.usage);
}

/** Runs one read and prints it; a Redis that cannot be read is reported with its URL (`shown`,
 * its password masked), or its Sentinels'. */
async function read(shown, call, format) {
  let json;
  try {
    json = await call();
  } catch (error) {
    return failed(shown, error);
  }
  process.stdout.write(format(JSON.parse(json)));
  return EXIT.ok;
}

/**
 * Reports an error of the binding's and resolves the exit code: an option it refused as a wrong
 * command line (naming the option), else Redis that could not be read (at `shown`).
 */
function failed(shown, error) {
  const failure = fromNative(error);
  if (failure.code === 'INVALID_ARGUMENT') {
    const problem = failure.message.replace(/^Invalid (redis|keyPrefix): /, '');
    const option = failure.message.startsWith('Invalid keyPrefix')
      ? '--prefix'
      : problem.startsWith('cluster')
        ? '--cluster'
        : problem.startsWith('sentinels')
          ? '--sentinel'
          : problem.startsWith('name')
            ? '--sentinel-name'
            : '--redis';
    return usage(`${option} ${problem.replace(/^(cluster|sentinels|name)/, '')}`.replace(/ {2,}/g, ' '));
  }
  const reason = failure.message.replace(/^Redis error: /, '');
  process.stderr.write(`orchestrator-router: cannot read Redis at ${shown}: ${reason}\n`);
  return EXIT.redis;
}

/** The URL without its password (in the user info, or a `password`/`pass` query parameter). */
function redact(url) {
  return url
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*:)[^/?#@]*@/i, '$1***@')
    .replace(/([?&](?:password|pass)=)[^&#]*/gi, '$1***');
}

/** A duration in ms as `1 h 2 m`, `3 m 4 s` or `5 s`. */
function age(ms) {
  if (ms === null || ms === undefined) return '-';
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} m ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} m`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

function formatInspection(i) {
  const lines = [`orchestrator  ${i.orchestratorId}`];
  const primary = i.sessions.find((s) => s.primary);
  lines.push(`online        ${i.online ? `yes (session ${primary.sessionId}, daemon ${primary.daemonId})` : 'no'}`);
  if (i.sessions.length === 0) {
    lines.push('sessions      none');
  } else {
    lines.push(`sessions      ${i.sessions.length}`);
    lines.push(...table(
      ['', 'SESSION', 'DAEMON', 'STATUS', 'LAST ACTIVE', 'DAEMON EVENTS'],
      i.sessions.map((s) => [s.primary ? '*' : '', s.sessionId, s.daemonId, s.status, s.lastActiveAt, String(s.daemonEvents)]),
    ).map((line) => `  ${line}`));
  }
  const q = i.queue;
  lines.push(`queue         ${q.total} (high ${q.high}, normal ${q.normal}, low ${q.low})`);
  lines.push(`oldest        ${i.oldestQueuedAt ? `${i.oldestQueuedAt} (${age(i.oldestAgeMs)} ago)` : '-'}`);
  lines.push(`receipts      ${i.pendingReceipts} pending`);
  lines.push(`dead letters  ${i.deadLetters}`);
  return `${lines.join('\n')}\n`;
}

function formatStats({ orchestrators: rows, unreadable }) {
  const problems = unreadable.map((u) => `could not read orchestrator ${u.orchestratorId}: ${u.error}`);
  if (rows.length === 0) return [...(problems.length ? [] : ['no orchestrator has a queue']), ...problems, ''].join('\n');
  const lines = table(
    ['ORCHESTRATOR', 'QUEUED', 'HIGH', 'NORMAL', 'LOW', 'OLDEST', 'ONLINE'],
    rows.map((r) => [r.orchestratorId, String(r.queue.total), String(r.queue.high), String(r.queue.normal), String(r.queue.low), age(r.oldestAgeMs), r.online ? 'yes' : 'no']),
  );
  const total = rows.reduce((n, r) => n + r.queue.total, 0);
  lines.push('', `${rows.length} orchestrator${rows.length === 1 ? '' : 's'} with a queue, ${total} message${total === 1 ? '' : 's'} in all`);
  return `${[...lines, ...problems].join('\n')}\n`;
}

/** Left-aligned columns two spaces apart. */
function table(header, rows) {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  return [header, ...rows].map((row) => row.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd());
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
