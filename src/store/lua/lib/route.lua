-- lib/route.lua: routing one message (route_message), as route.lua, route_batch.lua (with
-- lib/route_grouped.lua) and route_broadcast.lua (with lib/route_broadcast.lua) do: its keys
-- and arguments by name, the commands routing may call, and finish_routes, which every script
-- that routes calls last.
-- Takes lib/outbox.lua, lib/queue.lua, lib/due_index.lua, lib/sessions.lua.
-- Within one script call, sessions and list lengths are read once and then tracked (nothing
-- else can change them during the call), and each daemon list's TTL is refreshed once, by
-- finish_routes().
local routed_sessions, routed_lengths, routed_pushed = {}, {}, {} -- per call

-- A message's keys and arguments, by position: route.lua's KEYS and ARGV (route_broadcast.lua
-- passes each message's in the same order, MESSAGE_KEYS and MESSAGE_ARGS of them; route_batch.lua
-- fills them from its grouped layout, lib/route_grouped.lua). src/store/redis/calls/route.rs writes them in this order (ROUTE_KEYS and ROUTE_ARGS
-- there). `sessions` and `records` only with several sessions per orchestrator.
local KEY = {session = 1, queue = 2, marker = 3, daemon = 4, due = 5, inflight = 6, receipts = 7,
  queue_high = 8, queue_low = 9, sessions = 10, records = 11}
local ARG = {orchestrator = 1, session = 2, daemon = 3, event = 4, marker = 5, channel = 6, item = 7,
  max_events = 8, max_queue = 9, queueing = 10, marker_ttl = 11, list_ttl = 12, item_expiry = 13, now = 14,
  dedupe = 15, queue_key_expiry = 16, receipts = 17, record = 18, deadline = 19, message_id = 20,
  queue_only = 21, level = 22, refresh = 23}
local MESSAGE_KEYS, MESSAGE_ARGS = 11, 23


-- The commands routing may call (see refused in lib/acl.lua). A script routing many messages
-- asks for all of them first; route.lua asks for what the path about to be taken needs, before
-- it calls any: ROUTE_READS first (with one session per orchestrator, reading the session writes
-- nothing), then before delivering DELIVER_COMMANDS (and RECEIPT_COMMANDS with receipts on), or
-- before queueing all of ROUTE_COMMANDS. Nothing is written before the answer, as before.
local ROUTE_COMMANDS = {'get', 'set', 'del', 'llen', 'lpos', 'lpop', 'rpush', 'lpush', 'pexpiretime',
  'pexpireat', 'expire', 'zadd', 'zrange', 'zrem', 'hget', 'hset', 'hdel'}
local ROUTE_READS = {'get', 'llen'}
-- Set by a script that asked for all of ROUTE_COMMANDS first: a message's own asking is skipped
-- (even answered from may_run's memo, it cost a batch about 6,000 instructions a message).
local route_all_asked = false -- per call
local DELIVER_COMMANDS = {'set', 'lpush', 'del', 'expire'}
local RECEIPT_COMMANDS = {'hset', 'zadd'}

-- small_number: tonumber for the few numbers a route reads per message that take few values
-- (priority levels, limits, a batch's group indexes), from a memo: tonumber (strtod) cost a
-- batch about 1,000 instructions a number. A memo entry is a pure function of its string, so it
-- is kept across a Redis Function's calls, and there are no more entries than such values.
local small_numbers = {} -- kept across calls

-- memoized: memo[key], computed by compute(key) the first time it is asked.
local function memoized(memo, key, compute)
  local value = memo[key]
  if value == nil then
    value = compute(key)
    memo[key] = value
  end
  return value
end

local function small_number(s)
  return memoized(small_numbers, s, tonumber)
end

-- add_channel: adds the daemon channel `channel` of a message expecting the daemon `daemon_id`
-- to `channels` (a message that expects no session publishes nothing).
local function add_channel(channels, daemon_id, channel)
  if daemon_id ~= '' then channels[channel] = true end
end

local function list_length(key)
  return memoized(routed_lengths, key, daemon_length)
end

-- queue: queues the message with `status` (its item expiring at `score`), or refuses it when
-- queueing is off. (Defined once per script call, not once per message.)
local function queue(k, a, status, score)
  if a[ARG.queueing] ~= '1' then return {'refused', status} end
  if not route_all_asked then
    local denied = refused('route', ROUTE_COMMANDS)
    if denied then return denied end
  end
  local high, normal, low = k[KEY.queue_high], k[KEY.queue], k[KEY.queue_low]
  local queues = {high, normal, low}
  local lens = {list_length(high), list_length(normal), list_length(low)}
  local queued, size, dropped = enqueue_item(queues, lens, small_number(a[ARG.level]), k[KEY.due],
    a[ARG.orchestrator], a[ARG.item], small_number(a[ARG.max_queue]), a[ARG.queue_key_expiry], score, a[ARG.dedupe])
  routed_lengths[high], routed_lengths[normal], routed_lengths[low] = lens[1], lens[2], lens[3]
  local reply = {queued and 'queued' or 'full', status, size}
  for i = 1, #dropped do reply[#reply + 1] = dropped[i] end
  return reply
end

-- waits_behind: whether queued messages of the same or a higher level than `level` go first
-- (lower ones wait behind this one).
local function waits_behind(k, level)
  return list_length(k[KEY.queue_high]) > 0
    or (level >= 2 and list_length(k[KEY.queue]) > 0)
    or (level == 3 and list_length(k[KEY.queue_low]) > 0)
end

-- track_route_receipt: with delivery receipts on, track_receipt for the message just delivered.
local function track_route_receipt(k, a)
  if a[ARG.receipts] == '1' then
    track_receipt(k[KEY.inflight], k[KEY.receipts], k[KEY.due], a[ARG.orchestrator], a[ARG.message_id],
      a[ARG.record], a[ARG.deadline])
  end
end

-- route_message: delivers one message to the orchestrator's daemon through the expected session,
-- or queues it. `k` and `a` are the message's keys and arguments (KEY, ARG).
local function route_message(k, a)

  if a[ARG.queue_only] == '1' then return queue(k, a, 'offline', a[ARG.item_expiry]) end

  local session_key = k[KEY.session]
  local raw = routed_sessions[session_key]
  if raw == nil then
    raw = current_session(session_key, k[KEY.sessions], k[KEY.records], a[ARG.now])
    routed_sessions[session_key] = raw
  end
  local session = session_active(raw)
  if not session then return queue(k, a, 'offline', a[ARG.item_expiry]) end
  if session.sessionId ~= a[ARG.session] or session.daemonId ~= a[ARG.daemon] then return {'stale', raw} end

  local daemon = k[KEY.daemon]
  if waits_behind(k, small_number(a[ARG.level])) or list_length(daemon) >= small_number(a[ARG.max_events]) then
    return queue(k, a, 'pending', a[ARG.now])
  end
  if not route_all_asked then
    local denied = refused('route', DELIVER_COMMANDS) or (a[ARG.receipts] == '1' and refused('route', RECEIPT_COMMANDS))
    if denied then return denied end
  end
  -- The delivered marker is written only if absent: a message id reaches a daemon once.
  if not redis.call('SET', k[KEY.marker], a[ARG.marker], 'NX', 'EX', a[ARG.marker_ttl]) then
    return {'already', redis.call('GET', k[KEY.marker])}
  end
  -- A failing push (the key holds another type) must not leave the marker behind: Redis does not
  -- roll a script back, and a marker without its event would report a message as delivered.
  local pushed = redis.pcall('LPUSH', daemon, outbox_entry(a[ARG.event]))
  if type(pushed) == 'table' and pushed.err then
    redis.call('DEL', k[KEY.marker])
    return redis.error_reply(pushed.err)
  end
  routed_lengths[daemon] = routed_lengths[daemon] + 1
  -- The list's TTL (a day by default) is refreshed when the router asks, about once a second per
  -- daemon, and always by the push that created the list.
  if a[ARG.refresh] == '1' or pushed == 1 then routed_pushed[daemon] = a[ARG.list_ttl] end
  announce(a[ARG.channel], a[ARG.event])
  track_route_receipt(k, a)
  return {'delivered', a[ARG.session]}
end

-- append_reply: adds one message's reply to a batch's replies, as its length followed by it.
local function append_reply(replies, reply)
  replies[#replies + 1] = #reply
  for j = 1, #reply do replies[#replies + 1] = reply[j] end
end

local function finish_routes()
  for key, ttl in pairs(routed_pushed) do redis.call('EXPIRE', key, ttl) end
end
