-- Daemon event lists. On one server a step pushes a daemon's events straight into its list and
-- publishes them on its channel. On a Redis Cluster the list lives in another slot than the
-- orchestrator's keys: the key the router passes where the daemon list would be is then the
-- orchestrator's outbox for that daemon (routing:outbox:{orch}:<daemon>, in the orchestrator's
-- slot), the step pushes each event there behind a sequence number, and the router moves them into
-- the daemon's list and channel right after the step (push_outbox.lua), each exactly once.
-- OUTBOX is set by lib/cluster.lua on a cluster, and nil on one server.
local OUTBOX = nil

-- next_sequence: the next number of an orchestrator's sequence (Redis Cluster), as a string. Numbers
-- only grow: each is above the last one given (kept in `key` for `ttl` seconds) and at least the
-- server's clock in microseconds, so they keep growing even if that key was lost. They number the
-- outbox entries and version the due times the router copies into the index. Within one script
-- call the key is read once.
local sequence_next = {}
local function next_sequence(key, ttl)
  if not sequence_next[key] then
    local time = redis.call('TIME')
    local clock = tonumber(time[1]) * 1000000 + tonumber(time[2])
    sequence_next[key] = math.max(tonumber(redis.call('GET', key) or '0') + 1, clock)
  end
  local sequence = string.format('%d', sequence_next[key])
  sequence_next[key] = sequence_next[key] + 1
  redis.call('SET', key, sequence, 'EX', ttl)
  return sequence
end

-- outbox_entry: what a step pushes for `event`: the event itself on one server; on a cluster, the
-- event behind the next number of the orchestrator's sequence.
local function outbox_entry(event)
  if not OUTBOX then return event end
  return next_sequence(OUTBOX.seq_key, OUTBOX.seq_ttl) .. ' ' .. event
end

-- announce: publishes an event on a daemon's channel (on a cluster, moving it into the daemon's
-- list does, after the step).
local function announce(channel, event)
  if not OUTBOX then redis.call('PUBLISH', channel, event) end
end

-- Least privilege. Redis checks a command a script calls against the user's ACL only when the
-- script calls it, and keeps whatever the script wrote before a refused one (a script is not
-- rolled back): a delivered marker set, then its LPUSH refused, would mark a message delivered
-- that never reached its daemon. So every script first asks whether this user may run each
-- command it may call, and may publish on each channel it may publish on, and refuses the whole
-- step before writing anything otherwise, naming what is missing (the scripts that only read ask
-- too, so that every refusal names its command). Keys need no such check: Redis refuses the whole
-- call when the user may not read and write one of its KEYS. (ACL selectors granting a command on
-- some keys only are not covered: the check is per command.)

-- denial: the NOPERM error reply for `step` (its name) when the user may not do `what`.
local function denial(step, what)
  return redis.error_reply('NOPERM the Redis user may not ' .. what .. ', which the ' .. step
    .. ' step needs: refused before writing anything (grant it, as the README\'s least-privilege ACL does)')
end

-- How many arguments after the key each command checked takes at least. redis.acl_check_cmd must
-- be given a well-formed call: Redis 7.0 reads a command's keys where its key spec says they are,
-- past the arguments given if there are too few (a check of a bare 'set' answered at random and
-- once crashed the server). Every check names KEYS[1], a key the user may use (Redis refused the
-- call otherwise), so that only the command's permission decides.
local CHECK_ARITY = {get = 0, set = 1, del = 0, type = 0, expire = 1, pexpire = 1, pexpireat = 1,
  pexpiretime = 0, llen = 0, lpos = 1, lpop = 0, lpush = 1, rpush = 1, lrange = 2, ltrim = 2, lrem = 2,
  zadd = 2, zrange = 2, zrem = 1, zscore = 1, zremrangebyscore = 2, zcard = 0, hget = 1, hgetall = 0, hset = 2,
  hdel = 1, lindex = 1}

-- may_run: whether this user may run `command` (lower case; one of CHECK_ARITY's, or 'time').
local function may_run(command)
  if command == 'time' then return redis.acl_check_cmd('time') end
  local arity = CHECK_ARITY[command]
  if arity == 0 then return redis.acl_check_cmd(command, KEYS[1]) end
  if arity == 1 then return redis.acl_check_cmd(command, KEYS[1], '0') end
  if arity == 2 then return redis.acl_check_cmd(command, KEYS[1], '0', '0') end
  error('may_run: no arity known for ' .. command)
end

-- refused: nil when this user may run every command of `commands` and, unless on a cluster (where
-- push_outbox.lua publishes), publish on each channel of `channels` (a set: channel -> true); else
-- the NOPERM error reply naming the first command or channel it may not, for `step` (its name).
local function refused(step, commands, channels)
  for i = 1, #commands do
    if not may_run(commands[i]) then return denial(step, "run '" .. commands[i] .. "'") end
  end
  if OUTBOX then
    -- Numbering outbox entries (next_sequence) and answering the outbox (lib/cluster.lua).
    for _, command in ipairs({'time', 'get', 'set', 'zscore', 'lrange'}) do
      if not may_run(command) then return denial(step, "run '" .. command .. "'") end
    end
  elseif channels then
    for channel in pairs(channels) do
      if not redis.acl_check_cmd('publish', channel, '') then
        return denial(step, "run 'publish' on channel '" .. channel .. "'")
      end
    end
  end
  return nil
end

-- daemon_length: how many events a daemon's list holds; on a cluster, how many it held when the
-- router read it just before the step, plus the events waiting in the outbox `key` to be moved.
local function daemon_length(key)
  local length = redis.call('LLEN', key)
  if OUTBOX then length = length + (OUTBOX.lengths[key] or 0) end
  return length
end

-- An orchestrator's queue is three lists, one per priority level; `queues` holds their keys most
-- important first (high, normal, low). Drain order is every high item, then every normal one,
-- then every low one, each level oldest first.

-- queue_length: how many items the three levels hold.
local function queue_length(queues)
  return redis.call('LLEN', queues[1]) + redis.call('LLEN', queues[2]) + redis.call('LLEN', queues[3])
end

-- queue_head: the first `n` items in drain order, and how many of them each level gave.
local function queue_head(queues, n)
  local head, counts = {}, {0, 0, 0}
  for level = 1, 3 do
    if #head >= n then break end
    local items = redis.call('LRANGE', queues[level], 0, n - #head - 1)
    counts[level] = #items
    for i = 1, #items do head[#head + 1] = items[i] end
  end
  return head, counts
end

-- take_head: removes the first `n` items in drain order, given how many each level holds at its
-- head (`counts`, as queue_head returned them for at least `n` items).
local function take_head(queues, counts, n)
  for level = 1, 3 do
    local take = math.min(n, counts[level])
    if take > 0 then redis.call('LTRIM', queues[level], take, -1) end
    n = n - take
  end
end

-- keep_queue_until: keeps a queue list alive at least until `expire_at` (ms).
local function keep_queue_until(key, expire_at)
  if redis.call('PEXPIRETIME', key) < tonumber(expire_at) then
    redis.call('PEXPIREAT', key, expire_at)
  end
end

-- enqueue_item: appends one item to its `level` of an orchestrator's queue, holding the cap
-- exactly: while the queue is full, the oldest item of its lowest non-empty level makes room,
-- unless every queued item outranks this one, which is then not queued at all. `lens` holds the
-- levels' lengths and is kept up to date. Keeps the level's key alive until `expire_at` (a grace
-- period after its newest item expires, so that expiry can still be reported), and files the
-- orchestrator in the pending index at `score` (or earlier).
-- Returns whether the item was queued, the queue's length afterwards and the dropped raw items
-- (oldest first); with `dedupe` set, an item already in its level byte for byte is not added again.
local function enqueue_item(queues, lens, level, index_key, member, item, max_size, expire_at, score, dedupe)
  local key = queues[level]
  local total = lens[1] + lens[2] + lens[3]
  if dedupe == '1' and redis.call('LPOS', key, item) then return true, total, {} end
  local dropped = {}
  while total >= max_size do
    local lowest = 3
    while lowest > 0 and lens[lowest] == 0 do lowest = lowest - 1 end
    if lowest < level then return false, total, dropped end
    dropped[#dropped + 1] = redis.call('LPOP', queues[lowest])
    lens[lowest] = lens[lowest] - 1
    total = total - 1
  end
  redis.call('RPUSH', key, item)
  lens[level] = lens[level] + 1
  keep_queue_until(key, expire_at)
  redis.call('ZADD', index_key, 'LT', score, member)
  return true, total + 1, dropped
end

-- session_active: the decoded session when the raw session JSON is an active session, else nil
-- (decoded once per script call, however many messages of a batch ask).
local decoded_sessions = {}
local function session_active(raw)
  if not raw then return nil end
  local cached = decoded_sessions[raw]
  if cached ~= nil then return cached or nil end
  local ok, session = pcall(cjson.decode, raw)
  -- Active, and with the ids a route checks (the router's Rust side reads no session without them).
  if not ok or type(session) ~= 'table' or session.status ~= 'active'
    or type(session.sessionId) ~= 'string' or type(session.daemonId) ~= 'string' then
    session = false
  end
  decoded_sessions[raw] = session
  return session or nil
end

-- track_receipt: with delivery receipts on, records a delivered message as awaiting its
-- acknowledgement until `deadline` (ms), and makes sure a router looks at it by then.
local function track_receipt(inflight_key, deadlines_key, index_key, member, message_id, record, deadline)
  redis.call('HSET', inflight_key, message_id, record)
  redis.call('ZADD', deadlines_key, deadline, message_id)
  redis.call('ZADD', index_key, 'LT', deadline, member)
end

-- file_orchestrator: files the orchestrator in the pending index at the earlier of `queue_score`
-- (when its queue is not empty) and its earliest receipt deadline, or removes it when neither.
local function file_orchestrator(index_key, member, queues, deadlines_key, queue_score)
  local score = nil
  if queue_length(queues) > 0 then score = tonumber(queue_score) end
  local first = redis.call('ZRANGE', deadlines_key, 0, 0, 'WITHSCORES')
  if first[2] then
    local deadline = tonumber(first[2])
    if not score or deadline < score then score = deadline end
  end
  if score then
    redis.call('ZADD', index_key, score, member)
  else
    redis.call('ZREM', index_key, member)
  end
end

-- Sessions. routing:session:<orch> holds the primary session, the most recently active one, as
-- the deployed service kept its one session. With several sessions per orchestrator, each is also
-- in routing:session-records:<orch> (hash: session id -> session JSON) and routing:sessions:<orch>
-- (sorted set: session id scored by when it expires, in ms).

-- session_id_of: the sessionId of raw session JSON, or nil when it cannot be read.
local function session_id_of(raw)
  local ok, session = pcall(cjson.decode, raw)
  if ok and type(session) == 'table' and type(session.sessionId) == 'string' then return session.sessionId end
  return nil
end

-- promote_session: writes the most recently active living active session into the primary's
-- key, for the rest of its lifetime, and returns it (false when there is none; the key is left
-- as it is). With `skip_first`, the first such session is removed from the set instead (see
-- current_session).
local function promote_session(session_key, sessions_key, records_key, now, skip_first)
  local live = redis.call('ZRANGE', sessions_key, '+inf', '(' .. now, 'BYSCORE', 'REV', 'WITHSCORES')
  for i = 1, #live, 2 do
    local record = redis.call('HGET', records_key, live[i])
    if record and session_active(record) then
      if skip_first then
        redis.call('ZREM', sessions_key, live[i])
        redis.call('HDEL', records_key, live[i])
        skip_first = false
      else
        redis.call('SET', session_key, record, 'PX', math.max(1, tonumber(live[i + 1]) - tonumber(now)))
        return record
      end
    end
  end
  return false
end

-- current_session: the raw primary session, or false: the most recently active session that is
-- active. When the one in routing:session:<orch> has expired or is not active, and another session
-- of the orchestrator lives and is active, the most recently active of those becomes the primary.
-- Every write keeps the most recently active active session in the key, so when the key is gone
-- while that session still lives in the set, the key was deleted (a deployed instance
-- unregistered the session) or expired a moment before its entry (clocks differ): that session
-- is gone too, and the next one takes its place. Without the session set (one session per
-- orchestrator, `sessions_key` nil) it is just the stored session.
local function current_session(session_key, sessions_key, records_key, now)
  local raw = redis.call('GET', session_key)
  if raw and session_active(raw) then return raw end
  if not sessions_key then return raw or false end
  return promote_session(session_key, sessions_key, records_key, now, not raw) or raw or false
end

-- prune_sessions: forgets the sessions that expired by `now`.
local function prune_sessions(sessions_key, records_key, now)
  local gone = redis.call('ZRANGE', sessions_key, '-inf', now, 'BYSCORE')
  if #gone > 0 then
    redis.call('ZREM', sessions_key, unpack(gone))
    redis.call('HDEL', records_key, unpack(gone))
  end
end

-- keep_sessions: lets both session sets expire with their last living session.
local function keep_sessions(sessions_key, records_key)
  local last = redis.call('ZRANGE', sessions_key, -1, -1, 'WITHSCORES')
  if last[2] then
    redis.call('PEXPIREAT', sessions_key, last[2])
    redis.call('PEXPIREAT', records_key, last[2])
  else
    redis.call('DEL', records_key)
  end
end

-- session_is: whether the raw session JSON is an active session with these ids.
local function session_is(raw, session_id, daemon_id)
  local session = session_active(raw)
  return session ~= nil and session.sessionId == session_id and session.daemonId == daemon_id
end

-- broadcast_sessions: with broadcast routing, the raw JSON of the sessions messages go to: the
-- primary (if active) first, then every other living active session, most recently active first,
-- one per daemon.
local function broadcast_sessions(session_key, sessions_key, records_key, now)
  local primary = current_session(session_key, sessions_key, records_key, now)
  local first = primary and session_active(primary)
  if not first then return {} end
  local targets, daemons = {primary}, {[first.daemonId] = true}
  local ids = redis.call('ZRANGE', sessions_key, '+inf', '(' .. now, 'BYSCORE', 'REV')
  for i = 1, #ids do
    if ids[i] ~= first.sessionId then
      local raw = redis.call('HGET', records_key, ids[i])
      local session = raw and session_active(raw)
      if session and not daemons[session.daemonId] then
        daemons[session.daemonId] = true
        targets[#targets + 1] = raw
      end
    end
  end
  return targets
end

-- targets_are: whether the broadcast sessions are exactly the primary (`session_id`, `daemon_id`)
-- and `copies` ({session_id, daemon_id} each), in any order: a heartbeat that makes another
-- session the primary changes the order, not the targets.
local function targets_are(sessions, session_id, daemon_id, copies)
  if #sessions ~= #copies + 1 then return false end
  local pair = function(s, d) return #s .. ':' .. s .. d end
  local wanted = {[pair(session_id, daemon_id)] = true}
  for i = 1, #copies do wanted[pair(copies[i].session_id, copies[i].daemon_id)] = true end
  for i = 1, #sessions do
    local session = session_active(sessions[i])
    if not session or not wanted[pair(session.sessionId, session.daemonId)] then return false end
  end
  return true
end

-- sessions_reply: broadcast sessions as one JSON array.
local function sessions_reply(sessions)
  return '[' .. table.concat(sessions, ',') .. ']'
end

-- The steps (drain_step.lua, redeliver_step.lua) share their first keys and arguments: KEYS
-- 1 session, 3 the primary's daemon list, 9 the session set, 10 the session records, 11.. each
-- broadcast copy's daemon list; ARGV 1 orchestratorId, 2 expected sessionId, 3 expected daemonId,
-- 4 channel, 5 daemon maxEvents.

-- step_copies: the broadcast copies of a step, `c` of them, their (session, daemon, channel)
-- arguments from ARGV[first_arg].
local function step_copies(c, first_arg)
  local copies = {}
  for j = 1, c do
    local base = first_arg + 3 * (j - 1)
    copies[j] = {key = KEYS[10 + j], session_id = ARGV[base], daemon_id = ARGV[base + 1], channel = ARGV[base + 2]}
  end
  return copies
end

-- step_channels: the channels a step publishes on (see refused): its expected daemon's, unless it
-- expects none, and each copy's.
local function step_channels(copies)
  local channels = {}
  if ARGV[2] ~= '' then channels[ARGV[4]] = true end
  for j = 1, #copies do channels[copies[j].channel] = true end
  return channels
end

-- step_stale: nil while the step's expected session (and, with broadcast routing, its copies)
-- are still the targets, else the 'stale' reply with the current ones.
local function step_stale(broadcast, now, copies)
  if broadcast == '1' then
    local sessions = broadcast_sessions(KEYS[1], KEYS[9], KEYS[10], now)
    if targets_are(sessions, ARGV[2], ARGV[3], copies) then return nil end
    return {'stale', sessions_reply(sessions)}
  end
  local raw = redis.call('GET', KEYS[1])
  if session_is(raw, ARGV[2], ARGV[3]) then return nil end
  return {'stale', raw}
end

-- list_or_error: nil when `key` holds a list or nothing, else a WRONGTYPE error reply (checked
-- before a script writes anything: Redis does not roll a script back).
local function list_or_error(key)
  local kind = redis.call('TYPE', key).ok
  if kind ~= 'list' and kind ~= 'none' then
    return redis.error_reply('WRONGTYPE ' .. key .. ' holds a ' .. kind .. ', not a list')
  end
  return nil
end

-- lists_or_error: list_or_error for a daemon list `key` and each broadcast copy's list.
local function lists_or_error(key, copies)
  local wrong_type = list_or_error(key)
  for j = 1, #copies do wrong_type = wrong_type or list_or_error(copies[j].key) end
  return wrong_type
end

-- step_room: how many events every target daemon list (the primary's and each copy's) has room
-- for; or, as a second value, the WRONGTYPE error of one that is not a list (checked before a step
-- writes anything: Redis does not roll a script back).
local function step_room(copies)
  local wrong_type = lists_or_error(KEYS[3], copies)
  if wrong_type then return 0, wrong_type end
  local room = tonumber(ARGV[5]) - daemon_length(KEYS[3])
  for j = 1, #copies do room = math.min(room, tonumber(ARGV[5]) - daemon_length(copies[j].key)) end
  return room, nil
end
