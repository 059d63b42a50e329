#!/usr/bin/env node
'use strict';
// orchestrator-router: what an operator would otherwise read with redis-cli — one orchestrator's
// sessions, queue and receipts (`inspect`), or every orchestrator with a queue (`stats`). It only
// reads; it never drains, promotes a session or writes anything.

const { parseArgs } = require('node:util');
const { inspectOrchestrator, queueStats } = require('../lib/native').loadBinding();
const fs = require('node:fs');
const { caPem } = require('../lib/arguments');
const { fromNative } = require('../lib/errors');

const USAGE = `Usage:
  orchestrator-router inspect <orchestratorId> [options]
  orchestrator-router stats [options]

Commands:
  inspect <orchestratorId>  sessions, online state, queue depth by priority, age of the oldest
                            queued message, pending receipts, dead letters, daemon event lists
  stats                     every orchestrator with a queue, deepest first

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
  --json              print JSON instead of text
  -h, --help          show this help`;

/** Exit codes: 0 done, 1 Redis could not be read, 2 the command line is wrong. */
const EXIT = { ok: 0, redis: 1, usage: 2 };

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

  if (command === 'inspect') {
    if (rest.length !== 1 || rest[0] === '') return usage('inspect takes one orchestrator id');
    return read(shown, () => inspectOrchestrator(redis, values.prefix, rest[0], timeout), print ?? formatInspection);
  }
  if (command === 'stats') {
    if (rest.length !== 0) return usage('stats takes no arguments');
    return read(shown, () => queueStats(redis, values.prefix, timeout), print ?? formatStats);
  }
  return usage(command === undefined ? 'a command is required' : `unknown command: ${command}`);
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
  process.stdout.write(format(JSON.parse(json)));
  return EXIT.ok;
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
