#!/usr/bin/env node
'use strict';
// Mutation testing of the routing engine and its Lua scripts: each mutant is one small, plausible
// change at one place in the source; the addon is rebuilt with it and a broad set of jest files
// runs against real Redis. A mutant that no test notices (SURVIVED) points at behaviour the suite
// does not pin down. See reliability/mutants.md for the latest results and what was done about
// the survivors. One file, longer than most: the two mutant sources (Lua rules, cargo-mutants)
// share every step after generation (apply, build, test, restore, journal, report).
//
//   node scripts/mutants.js lua  [--list] [--only S]... [--limit N] [--ids L3,L7] [--tests F...]
//   node scripts/mutants.js rust [--list] [--file P]... [--function RE] [--limit N] [--ids R1,R9] [--tests F...]
//
// lua:  mutants of src/store/lua/**/*.lua made by the rules in LUA_RULES below.
// rust: mutants of src/engine/ and src/store/ as cargo-mutants generates them (`cargo mutants
//       --list --json --diff`), applied with `git apply`. cargo-mutants runs only `cargo test`,
//       and the engine is tested through jest, so cargo-mutants names the mutants and jest gives
//       the verdict.
// Common options:
//   --list           print the mutants (id, place, change) and stop
//   --only S         keep mutants whose "file:line rule change" contains S (repeatable: any of them)
//   --limit N        run at most N: a sample spread over the code (Lua: each rule its share, evenly
//                    spaced over the files; Rust: one per function in turn, the functions
//                    with the most mutants first, operator changes before whole-body ones)
//   --ids A,B        run exactly these ids (as --list shows them)
//   --tests F...     the jest files (default: DEFAULT_TESTS); every argument after --tests goes
//                    to jest (so `-t <name pattern>` may follow the files)
//   --no-bail        run every test file even after one failed (default: stop at the first)
//   --no-baseline    skip the run on the unmutated build that checks the tests pass and times them
//   --fresh          forget earlier results of this kind instead of merging into them
// Every outcome goes to reliability/mutants.json (merged by mutant, so a run of a few ids updates
// only those) and reliability/mutants.md (the text above its marker line is kept as written).
// The source is always restored: after each mutant, on error, on Ctrl-C and SIGTERM, and at the
// next start if this process was killed outright (the original text is journaled in
// target/mutants-journal.json before a file is touched). The addon is rebuilt from the original
// source at the end. Run it pinned and niced on a shared machine, e.g.
//   CARGO_BUILD_JOBS=1 taskset -c 1 nice -n 10 npm run mutants -- lua --limit 40

const { spawn, spawnSync, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const LUA_DIR = 'src/store/lua';
const RESULTS = 'reliability/mutants.json';
const REPORT = 'reliability/mutants.md';
const JOURNAL = 'target/mutants-journal.json';
const LOG_DIR = 'target/mutants';
const MARKER = '<!-- scripts/mutants.js writes everything below this line -->';

// Broad but fast (about a minute on one core): every script runs, on one server, as the
// least-privilege ACL user, over TLS and on a cluster (contract), each feature has its file, and
// the files holding the tests written for survivors (faults, promises) are in.
const DEFAULT_TESTS = [
  'contract', 'routing', 'drain', 'queue', 'priority', 'receipts', 'multi-session', 'batch', 'sessions', 'acl', 'refusals',
  'faults', 'hostile-input', 'promises',
].map((name) => `__tests__/${name}.test.ts`);

// The Rust files mutated by default: the engine and the stores, not the N-API binding.
const RUST_DIRS = ['src/engine/', 'src/store/'];

// ---------------------------------------------------------------------------------------------
// Restoring the source whatever happens.

let journal = null; // { file, text } while a file holds a mutant
let child = null; // the running build or test process (its own process group)

function writeJournal(file, text) {
  fs.mkdirSync(path.join(ROOT, path.dirname(JOURNAL)), { recursive: true });
  fs.writeFileSync(path.join(ROOT, JOURNAL), JSON.stringify({ file, text }));
  journal = { file, text };
}

function restore() {
  if (!journal) return false;
  fs.writeFileSync(path.join(ROOT, journal.file), journal.text);
  fs.rmSync(path.join(ROOT, JOURNAL), { force: true });
  journal = null;
  return true;
}

/** A journal left by a run that was killed outright: put its file back before anything else. */
function recoverJournal() {
  const file = path.join(ROOT, JOURNAL);
  if (!fs.existsSync(file)) return;
  const saved = JSON.parse(fs.readFileSync(file, 'utf8'));
  journal = saved;
  restore();
  console.log(`restored ${saved.file} from the journal of an interrupted run`);
}

function killChild() {
  if (child && child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

let stopping = false;
function onSignal(signal) {
  if (stopping) return;
  stopping = true;
  killChild();
  const restored = restore();
  console.log(`\n${signal}: ${restored ? 'source restored; ' : ''}rebuilding the addon from the original source`);
  const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' });
  if (build.status !== 0) console.log('the rebuild did not finish: run `npm run build` before using the addon');
  process.exit(130);
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => onSignal(signal));
process.on('exit', () => {
  killChild();
  restore();
});
process.on('uncaughtException', (error) => {
  killChild();
  restore();
  console.error(error);
  process.exit(1);
});

// ---------------------------------------------------------------------------------------------
// Lua mutants.

/** A Lua line split into code, string and comment segments ({ kind, start, end }). */
function segments(line) {
  const out = [];
  let i = 0;
  let start = 0;
  const push = (kind, end) => {
    if (end > start) out.push({ kind, start, end });
    start = end;
  };
  while (i < line.length) {
    const ch = line[i];
    if (ch === '-' && line[i + 1] === '-') {
      push('code', i);
      push('comment', line.length);
      return out;
    }
    if (ch === "'" || ch === '"') {
      push('code', i);
      let j = i + 1;
      while (j < line.length && line[j] !== ch) j += line[j] === '\\' ? 2 : 1;
      i = j + 1;
      push('string', Math.min(i, line.length));
      continue;
    }
    i += 1;
  }
  push('code', line.length);
  return out;
}

const COMPARISONS = { '>=': '>', '>': '>=', '<=': '<', '<': '<=', '==': '~=', '~=': '==' };
const BOOLEANS = { and: 'or', or: 'and', true: 'false', false: 'true' };
const SIDES = { "'LPUSH'": "'RPUSH'", "'RPUSH'": "'LPUSH'", "'LPOP'": "'RPOP'", "'RPOP'": "'LPOP'" };
const OPTIONS = ["'NX'", "'XX'", "'LT'", "'GT'"];
// Commands a deleted `redis.call(...)` statement may be: the ones that write.
const WRITES = new Set(['SET', 'DEL', 'LPUSH', 'RPUSH', 'LPOP', 'RPOP', 'LTRIM', 'LREM', 'ZADD', 'ZREM', 'ZREMRANGEBYSCORE', 'HSET',
  'HDEL', 'EXPIRE', 'PEXPIRE', 'PEXPIREAT', 'PUBLISH']);

/** The index just past the parenthesis that closes the one at `open` (strings skipped), or -1. */
function closingParen(line, open) {
  let depth = 0;
  for (const seg of segments(line)) {
    if (seg.end <= open || seg.kind !== 'code') continue;
    for (let i = Math.max(seg.start, open); i < seg.end; i += 1) {
      if (line[i] === '(') depth += 1;
      if (line[i] === ')') {
        depth -= 1;
        if (depth === 0) return i + 1;
      }
    }
  }
  return -1;
}

/**
 * The Lua mutants of one file. Each is one textual change at one place of one line:
 * { file, line (1-based), col (1-based), rule, change, start, end, replacement }.
 */
function luaMutantsOf(file) {
  const lines = fs.readFileSync(path.join(ROOT, file), 'utf8').split('\n');
  const mutants = [];
  const add = (n, start, end, rule, replacement, change) =>
    mutants.push({ file, line: n + 1, col: start + 1, rule, change, start, end, replacement });

  // Command lists that a script checks (refused(...)) before writing: each element removed.
  const text = lines.join('\n');
  const listStarts = /refused\('[^']*',\s*\{|\b[A-Z_]+_COMMANDS = \{|ipairs\(\{(?=')/g;
  const commandStrings = new Set(); // "line:col" of the command names in those lists
  for (let m; (m = listStarts.exec(text));) {
    const open = m.index + m[0].length - 1;
    const close = text.indexOf('}', open);
    const before = text.slice(0, open);
    let n = before.split('\n').length - 1;
    let col = open - (before.lastIndexOf('\n') + 1) + 1;
    for (let i = open + 1; i < close; i += 1, col += 1) {
      if (text[i] === '\n') {
        n += 1;
        col = -1;
        continue;
      }
      if (text[i] !== "'") continue;
      const end = text.indexOf("'", i + 1);
      const name = text.slice(i + 1, end);
      const line = lines[n];
      const s = col;
      let e = col + (end - i) + 1;
      let from = s;
      if (line.slice(e, e + 1) === ',') {
        e += 1;
        while (line[e] === ' ') e += 1;
      } else if (line.slice(0, s).trimEnd().endsWith(',')) {
        from = line.slice(0, s).trimEnd().length - 1;
      }
      commandStrings.add(`${n}:${s}`);
      add(n, from, e, 'refused-list', '', `'${name}' left out of the command list checked before writing`);
      col += end - i;
      i = end;
    }
  }

  lines.forEach((line, n) => {
    const segs = segments(line);
    for (const seg of segs) {
      const part = line.slice(seg.start, seg.end);
      if (seg.kind === 'string') {
        if (OPTIONS.includes(part)) {
          const before = line.slice(0, seg.start);
          const comma = before.trimEnd();
          if (comma.endsWith(',')) add(n, comma.length - 1, seg.end, 'drop-option', '', `${part} dropped`);
        }
        if (SIDES[part] && !commandStrings.has(`${n}:${seg.start}`)) add(n, seg.start, seg.end, 'push-side', SIDES[part], `${part} -> ${SIDES[part]}`);
        continue;
      }
      if (seg.kind !== 'code') continue;
      for (const m of part.matchAll(/>=|<=|==|~=|>|</g)) {
        const at = seg.start + m.index;
        add(n, at, at + m[0].length, 'comparison', COMPARISONS[m[0]], `${m[0]} -> ${COMPARISONS[m[0]]}`);
      }
      for (const m of part.matchAll(/\b(and|or|true|false)\b/g)) {
        const at = seg.start + m.index;
        if (/[.:]\s*$/.test(line.slice(0, at))) continue; // a field named so
        add(n, at, at + m[0].length, m[0] === 'and' || m[0] === 'or' ? 'logic' : 'boolean', BOOLEANS[m[0]], `${m[0]} -> ${BOOLEANS[m[0]]}`);
      }
      for (const m of part.matchAll(/\+ 1\b/g)) {
        const at = seg.start + m.index;
        add(n, at, at + 3, 'plus-one', '- 1', '+ 1 -> - 1');
      }
      const down = /\bfor (\w+) = ([^,]+), 1, -1 do\b/.exec(part);
      if (down) {
        const at = seg.start + down.index;
        add(n, at, at + down[0].length, 'reverse-loop', `for ${down[1]} = 1, ${down[2]} do`, `loop reversed: ${down[0]} -> for ${down[1]} = 1, ${down[2]} do`);
      }
      const up = /\bfor (\w+) = 1, ([^,]+) do\b/.exec(part);
      if (up) {
        const at = seg.start + up.index;
        add(n, at, at + up[0].length, 'reverse-loop', `for ${up[1]} = ${up[2]}, 1, -1 do`, `loop reversed: ${up[0]} -> for ${up[1]} = ${up[2]}, 1, -1 do`);
      }
    }
    // A redis.call(...) that writes, as a statement of its own: deleted.
    for (const m of line.matchAll(/redis\.call\('([A-Z]+)'/g)) {
      const at = m.index;
      if (!WRITES.has(m[1]) || !segs.some((seg) => seg.kind === 'code' && seg.start <= at && at < seg.end)) continue;
      const before = line.slice(0, at).trimEnd();
      if (!(before === '' || /\b(then|do|else)$/.test(before))) continue;
      if (before === '' && n > 0 && /(=|\(|,|\band|\bor|\.\.)\s*$/.test(lines[n - 1].replace(/--.*$/, ''))) continue;
      const end = closingParen(line, at + 'redis.call'.length);
      if (end < 0) continue;
      const after = line.slice(end).trim();
      if (!(after === '' || /^end\b/.test(after) || /^--/.test(after))) continue;
      add(n, at, end, 'delete-write', '', `${line.slice(at, end).slice(0, 60)}${end - at > 60 ? '…' : ''} deleted`);
    }
  });
  return mutants;
}

function luaFiles() {
  const out = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(rel);
      else if (entry.name.endsWith('.lua')) out.push(rel);
    }
  };
  walk(LUA_DIR);
  return out.sort();
}

function luaMutants() {
  const all = luaFiles().flatMap(luaMutantsOf);
  all.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col || a.rule.localeCompare(b.rule));
  return all.map((m, i) => {
    const lines = fs.readFileSync(path.join(ROOT, m.file), 'utf8').split('\n');
    const before = lines[m.line - 1];
    const after = before.slice(0, m.start) + m.replacement + before.slice(m.end);
    return { ...m, id: `L${i + 1}`, key: `${m.file}:${m.line}:${m.col}:${m.rule}:${m.change}`, before: before.trim(), after: after.trim() };
  });
}

function applyLua(mutant) {
  const file = path.join(ROOT, mutant.file);
  const text = fs.readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const line = lines[mutant.line - 1];
  lines[mutant.line - 1] = line.slice(0, mutant.start) + mutant.replacement + line.slice(mutant.end);
  writeJournal(mutant.file, text);
  fs.writeFileSync(file, lines.join('\n'));
}

/**
 * Every script as src/store/redis/scripts.rs assembles it (lua_source! and delivering!: the lib
 * files each script takes, read from there, then its own file), from the files as they are now: a
 * mutant that does not compile is caught here, without a build.
 */
function scriptSources() {
  const read = (f) => fs.readFileSync(path.join(ROOT, LUA_DIR, f), 'utf8');
  const built = fs.readFileSync(path.join(ROOT, 'src/store/redis/scripts.rs'), 'utf8');
  const out = {};
  for (const [, macro, list, f] of built.matchAll(/(lua_source|delivering)!\(\s*\[([^\]]*)\],\s*"([^"]+)"\s*\)/g)) {
    const libs = [...list.matchAll(/"([^"]+)"/g)].map(([, lib]) => read(`lib/${lib}`) + '\n').join('');
    out[f] = `${libs}${read(f)}`;
    if (macro === 'delivering') {
      out[`cluster:${f}`] = `${libs}${read('lib/cluster.lua')}\nreturn cluster_reply((function()\n${read(f)}\nend)())\n`;
    }
  }
  return out;
}

let compiler = null;
/** The Lua compile error of any script as it stands, or null (SCRIPT LOAD on a private server). */
async function luaCompileError() {
  if (!compiler) {
    const { startPrivateRedis } = require('./redis-server');
    const Redis = require('ioredis');
    const server = await startPrivateRedis();
    compiler = { server, client: new Redis(server.url, { maxRetriesPerRequest: 1 }) };
  }
  for (const [name, source] of Object.entries(scriptSources())) {
    try {
      await compiler.client.script('LOAD', source);
    } catch (error) {
      return `${name}: ${error.message}`;
    }
  }
  await compiler.client.script('FLUSH');
  return null;
}

async function stopCompiler() {
  if (!compiler) return;
  compiler.client.disconnect();
  await compiler.server.stop();
  compiler = null;
}

// ---------------------------------------------------------------------------------------------
// Rust mutants (cargo-mutants).

/**
 * cargo-mutants' mutants of RUST_DIRS (numbered over all of them, so that an id means the same
 * mutant whatever --file or --function keeps), those of `files` (paths or directory prefixes)
 * whose function matches `fnRegex`.
 */
function rustMutants(files, fnRegex) {
  const out = execFileSync('cargo', ['mutants', '--list', '--json', '--diff'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  const listed = JSON.parse(out)
    .filter((m) => RUST_DIRS.some((d) => m.file.startsWith(d)))
    .map((m, i) => ({ ...m, id: `R${i + 1}` }));
  const kept = listed.filter((m) => files.some((f) => m.file === f || m.file.startsWith(f.endsWith('/') ? f : `${f}/`)) && (!fnRegex || (m.function && fnRegex.test(m.function.function_name))));
  return kept.map((m) => {
    const change = m.name.replace(/^[^:]+:\d+:\d+: /, '');
    return {
      id: m.id,
      key: m.name,
      file: m.file,
      line: m.span.start.line,
      col: m.span.start.column,
      rule: m.genre,
      change,
      fn: m.function ? m.function.function_name : '(item)',
      diff: m.diff,
    };
  });
}

function applyRust(mutant) {
  const text = fs.readFileSync(path.join(ROOT, mutant.file), 'utf8');
  // cargo-mutants names the mutation where the new file's name would be.
  const diff = mutant.diff.replace(/^\+\+\+ .*$/m, `+++ ${mutant.file}`);
  writeJournal(mutant.file, text);
  const applied = spawnSync('git', ['apply', '-p0', '--unidiff-zero', '-'], { cwd: ROOT, input: diff, encoding: 'utf8' });
  if (applied.status !== 0) throw new Error(`git apply failed for ${mutant.key}: ${applied.stderr}`);
}

// ---------------------------------------------------------------------------------------------
// Running.

/** Runs `cmd args` in its own process group, its output to `log`; resolves { code, timedOut, seconds, output }. */
function run(cmd, args, log, timeoutMs) {
  return new Promise((resolve) => {
    const started = Date.now();
    const out = fs.openSync(log, 'w');
    child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', out, out], detached: true, env: { ...process.env, CI: 'true', FORCE_COLOR: '0' } });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killChild();
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      fs.closeSync(out);
      child = null;
      resolve({ code, timedOut, seconds: (Date.now() - started) / 1000, output: fs.readFileSync(log, 'utf8') });
    });
  });
}

const build = (log) => run('npm', ['run', 'build'], log, 15 * 60_000);

function jestArgs(opts) {
  return ['jest', '--runInBand', ...(opts.bail ? ['--bail'] : []), ...opts.tests];
}

/** The first failing test jest names ("● suite › test"), or null. */
function firstFailure(output) {
  const m = /^\s*● (?!Console)(.+)$/m.exec(output);
  return m ? m[1].trim() : null;
}

function failedCount(output) {
  const m = /^Tests:.*?(\d+) failed/m.exec(output);
  return m ? Number(m[1]) : 0;
}

function fmt(seconds) {
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

function loadResults() {
  const file = path.join(ROOT, RESULTS);
  return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : { lua: {}, rust: {}, runs: [] };
}

function saveResults(results) {
  fs.writeFileSync(path.join(ROOT, RESULTS), `${JSON.stringify(results, null, 1)}\n`);
  writeReport(results);
}

const esc = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');

function table(entries) {
  const rows = ['| id | place | mutation | outcome | first failing test | s |', '| --- | --- | --- | --- | --- | --- |'];
  for (const e of entries) {
    const was = e.history.slice(0, -1).map((h) => h.outcome).filter((o) => o !== e.outcome);
    const outcome = was.length ? `${e.outcome} (was ${[...new Set(was)].join(', ')})` : e.outcome;
    const change = e.before !== undefined ? `${e.change}: \`${esc(e.after).slice(0, 90)}\`` : e.change;
    rows.push(`| ${e.id} | ${e.file}:${e.line} | ${esc(change)} | ${outcome} | ${esc(e.failingTest ?? e.note ?? '')} | ${Math.round(e.seconds)} |`);
  }
  return rows.join('\n');
}

function counts(entries) {
  const c = {};
  for (const e of entries) c[e.outcome] = (c[e.outcome] ?? 0) + 1;
  return Object.entries(c).map(([k, v]) => `${v} ${k}`).join(', ');
}

function writeReport(results) {
  const file = path.join(ROOT, REPORT);
  const existing = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const head = existing.includes(MARKER) ? existing.slice(0, existing.indexOf(MARKER)) : `# Mutation testing\n\n(See scripts/mutants.js.)\n\n`;
  const order = (a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col;
  const lua = Object.values(results.lua).sort(order);
  const rust = Object.values(results.rust).sort(order);
  const runs = results.runs.slice(-10).map((r) => `- ${r.at}: \`${r.command}\`: ${r.ran} run in ${fmt(r.seconds)}${r.baselineSeconds ? ` (baseline test run ${fmt(r.baselineSeconds)})` : ''}`);
  const body = [
    MARKER,
    '',
    '## Runs',
    '',
    ...runs,
    '',
    `## Lua mutants (${lua.length}: ${counts(lua) || 'none run'})`,
    '',
    table(lua),
    '',
    `## Rust mutants (${rust.length}: ${counts(rust) || 'none run'})`,
    '',
    table(rust),
    '',
  ].join('\n');
  fs.writeFileSync(file, head + body);
}

/** A sample of `limit` mutants spread over the code. */
function sample(kind, mutants, limit) {
  if (!(limit < mutants.length)) return mutants;
  if (kind === 'lua') {
    // One mutant of each rule in turn; within a rule, evenly spaced over its mutants (which are
    // in file and line order), so that every rule and every file gets its share.
    const byRule = new Map();
    for (const m of mutants) {
      if (!byRule.has(m.rule)) byRule.set(m.rule, []);
      byRule.get(m.rule).push(m);
    }
    const share = new Map([...byRule.keys()].map((r) => [r, 0]));
    for (let left = limit; left > 0;) {
      let gave = false;
      for (const [rule, list] of byRule) {
        if (left > 0 && share.get(rule) < list.length) {
          share.set(rule, share.get(rule) + 1);
          left -= 1;
          gave = true;
        }
      }
      if (!gave) break;
    }
    const picked = [...byRule].flatMap(([rule, list]) =>
      Array.from({ length: share.get(rule) }, (_, i) => list[Math.floor(((i + 0.5) * list.length) / share.get(rule))]));
    return picked.sort((a, b) => Number(a.id.slice(1)) - Number(b.id.slice(1)));
  }
  // One mutant per function in turn, the functions with the most mutants (the most logic) first;
  // within a function, changes of an operator or a match arm before the replacement of the whole
  // body (which the first test to call the function catches), each kind in a fixed pseudo-random order.
  const hash = (s) => crypto.createHash('sha1').update(s).digest('hex');
  const weight = (m) => (m.rule === 'FnValue' ? '1' : '0') + hash(m.key);
  const groups = new Map();
  for (const m of mutants) {
    const g = `${m.file}::${m.fn}`;
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(m);
  }
  const lists = [...groups.keys()]
    .sort((a, b) => groups.get(b).length - groups.get(a).length || hash(a).localeCompare(hash(b)))
    .map((g) => groups.get(g).sort((a, b) => weight(a).localeCompare(weight(b))));
  const picked = [];
  for (let round = 0; picked.length < limit; round += 1) {
    const before = picked.length;
    for (const list of lists) if (list[round] && picked.length < limit) picked.push(list[round]);
    if (picked.length === before) break;
  }
  return picked.sort((a, b) => Number(a.id.slice(1)) - Number(b.id.slice(1)));
}

function parseArgs(argv) {
  const opts = { kind: argv[0], list: false, only: [], files: [], fn: null, limit: Infinity, ids: null, tests: DEFAULT_TESTS, bail: true, baseline: true, fresh: false };
  for (let i = 1; i < argv.length; i += 1) {
    const a = argv[i];
    if (a === '--list') opts.list = true;
    else if (a === '--only') opts.only.push(argv[++i]);
    else if (a === '--file') opts.files.push(argv[++i]);
    else if (a === '--function') opts.fn = new RegExp(argv[++i]);
    else if (a === '--limit') opts.limit = Number(argv[++i]);
    else if (a === '--ids') opts.ids = new Set(argv[++i].split(','));
    else if (a === '--tests') {
      opts.tests = argv.slice(i + 1);
      break;
    } else if (a === '--no-bail') opts.bail = false;
    else if (a === '--no-baseline') opts.baseline = false;
    else if (a === '--fresh') opts.fresh = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (opts.kind !== 'lua' && opts.kind !== 'rust') {
    console.log(fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 32).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
    process.exit(opts.kind ? 2 : 0);
  }
  return opts;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  recoverJournal();
  const started = Date.now();
  let mutants = opts.kind === 'lua' ? luaMutants() : rustMutants(opts.files.length ? opts.files : RUST_DIRS, opts.fn);
  const generated = mutants.length;
  if (opts.only.length) mutants = mutants.filter((m) => opts.only.some((s) => `${m.file}:${m.line} ${m.rule} ${m.change}`.includes(s)));
  if (opts.ids) mutants = mutants.filter((m) => opts.ids.has(m.id));
  mutants = sample(opts.kind, mutants, opts.limit);
  if (opts.list) {
    for (const m of mutants) console.log(`${m.id}\t${m.file}:${m.line}:${m.col}\t${m.rule}\t${m.change}${m.after !== undefined ? `\t=> ${m.after}` : ''}`);
    console.log(`${mutants.length} of ${generated} ${opts.kind} mutants`);
    return;
  }
  fs.mkdirSync(path.join(ROOT, LOG_DIR), { recursive: true });
  const results = loadResults();
  if (opts.fresh) results[opts.kind] = {};
  // Ids follow the source: those of earlier results are renumbered as the current list numbers them.
  const all = opts.kind === 'lua' ? luaMutants() : rustMutants(RUST_DIRS, null);
  const idOf = new Map(all.map((m) => [m.key, m.id]));
  for (const [key, entry] of Object.entries(results[opts.kind])) entry.id = idOf.get(key) ?? `${entry.id.replace(/\?$/, '')}?`;
  const command = `node scripts/mutants.js ${process.argv.slice(2).join(' ')}`;
  console.log(`${mutants.length} of ${generated} ${opts.kind} mutants; tests: ${opts.tests.join(' ')}`);

  // The unmutated build must pass the tests; its time sets the tests' time limit.
  let timeoutMs = 15 * 60_000;
  let baselineSeconds = null;
  if (opts.baseline) {
    const b = await build(path.join(ROOT, LOG_DIR, 'baseline-build.log'));
    if (b.code !== 0) throw new Error(`the unmutated source does not build: see ${LOG_DIR}/baseline-build.log`);
    const t = await run('npx', jestArgs(opts), path.join(ROOT, LOG_DIR, 'baseline.log'), timeoutMs);
    if (t.code !== 0) throw new Error(`the tests fail on the unmutated source (${firstFailure(t.output)}): see ${LOG_DIR}/baseline.log`);
    baselineSeconds = t.seconds;
    timeoutMs = Math.max(120_000, 3 * t.seconds * 1000);
    console.log(`baseline: tests pass in ${fmt(t.seconds)}; a mutant's test run is stopped after ${fmt(timeoutMs / 1000)}`);
  }

  let n = 0;
  for (const m of mutants) {
    n += 1;
    const t0 = Date.now();
    const log = path.join(ROOT, LOG_DIR, `${m.id}.log`);
    let outcome;
    let failingTest = null;
    let note = null;
    try {
      if (opts.kind === 'lua') applyLua(m);
      else applyRust(m);
      const compileError = opts.kind === 'lua' ? await luaCompileError() : null;
      if (compileError) {
        outcome = 'INVALID';
        note = compileError.slice(0, 120);
      } else {
        const b = await build(log.replace(/\.log$/, '-build.log'));
        if (b.code !== 0) {
          outcome = 'BUILD-FAILED';
          const err = /^error(\[E\d+\])?: .*$/m.exec(b.output);
          note = err ? err[0] : 'see the build log';
        } else {
          const t = await run('npx', jestArgs(opts), log, timeoutMs);
          if (t.timedOut) outcome = 'TIMEOUT';
          else if (t.code === 0) outcome = 'SURVIVED';
          else if (failedCount(t.output) > 0 || /Test suite failed to run/.test(t.output)) {
            outcome = 'KILLED';
            failingTest = firstFailure(t.output);
          } else {
            outcome = 'ERROR';
            note = `jest exited ${t.code} with no failed test: see ${path.relative(ROOT, log)}`;
          }
        }
      }
    } finally {
      restore();
    }
    const seconds = (Date.now() - t0) / 1000;
    const prev = results[opts.kind][m.key];
    const { diff, start, end, replacement, ...kept } = m;
    results[opts.kind][m.key] = { ...kept, outcome, failingTest, note, seconds, history: [...(prev?.history ?? []), { outcome, at: new Date().toISOString() }] };
    saveResults(results);
    console.log(`[${n}/${mutants.length}] ${fmt((Date.now() - started) / 1000)} ${m.id} ${m.file}:${m.line} ${m.change.slice(0, 80)}: ${outcome}${failingTest ? ` (${failingTest.slice(0, 100)})` : ''}${note ? ` (${note})` : ''} in ${fmt(seconds)}`);
  }
  await stopCompiler();

  console.log('rebuilding the addon from the original source');
  const b = await build(path.join(ROOT, LOG_DIR, 'final-build.log'));
  if (b.code !== 0) console.log(`the final rebuild failed: see ${LOG_DIR}/final-build.log`);
  results.runs.push({ at: new Date().toISOString(), command, ran: mutants.length, seconds: (Date.now() - started) / 1000, baselineSeconds });
  saveResults(results);
  const ran = mutants.map((m) => results[opts.kind][m.key]);
  console.log(`done in ${fmt((Date.now() - started) / 1000)}: ${counts(ran)}; report in ${REPORT}`);
}

main().catch(async (error) => {
  killChild();
  restore();
  await stopCompiler().catch(() => undefined);
  console.error(error.message ?? error);
  process.exit(1);
});
