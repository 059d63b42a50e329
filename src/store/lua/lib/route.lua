-- route_message: delivers one message to the orchestrator's daemon through the expected session,
-- or queues it. `k` and `a` are the message's keys and arguments, as route.lua documents them.
-- Within one script call, sessions and list lengths are read once and then tracked (nothing
-- else can change them during the call), and each daemon list's TTL is refreshed once, by
-- finish_routes(), which every script that routes calls last.
local routed_sessions, routed_lengths, routed_pushed = {}, {}, {}

-- The commands routing may call (see refused in common.lua), broadcast adding TYPE.
local ROUTE_COMMANDS = {'get', 'set', 'del', 'llen', 'lpos', 'lpop', 'rpush', 'lpush', 'pexpiretime',
  'pexpireat', 'expire', 'zadd', 'zrange', 'zrem', 'hget', 'hset', 'hdel'}
local BROADCAST_COMMANDS = {'type', unpack(ROUTE_COMMANDS)}

-- add_channel: adds the daemon channel `channel` of a message expecting the daemon `daemon_id`
-- to `channels` (a message that expects no session publishes nothing).
local function add_channel(channels, daemon_id, channel)
  if daemon_id ~= '' then channels[channel] = true end
end

local function list_length(key)
  local length = routed_lengths[key]
  if length == nil then
    length = daemon_length(key)
    routed_lengths[key] = length
  end
  return length
end

-- queue: queues the message with `status` (its item expiring at `score`), or refuses it when
-- queueing is off. (Defined once per script call, not once per message.)
local function queue(k, a, status, score)
  if a[10] ~= '1' then return {'refused', status} end
  local queues = {k[8], k[2], k[9]}
  local lens = {list_length(k[8]), list_length(k[2]), list_length(k[9])}
  local queued, size, dropped =
    enqueue_item(queues, lens, tonumber(a[22]), k[5], a[1], a[7], tonumber(a[9]), a[16], score, a[15])
  routed_lengths[k[8]], routed_lengths[k[2]], routed_lengths[k[9]] = lens[1], lens[2], lens[3]
  local reply = {queued and 'queued' or 'full', status, size}
  for i = 1, #dropped do reply[#reply + 1] = dropped[i] end
  return reply
end

-- waits_behind: whether queued messages of the same or a higher level than `level` go first
-- (lower ones wait behind this one).
local function waits_behind(k, level)
  return list_length(k[8]) > 0
    or (level >= 2 and list_length(k[2]) > 0)
    or (level == 3 and list_length(k[9]) > 0)
end

-- push_event: pushes an event to a daemon's list and channel.
local function push_event(key, event, channel, ttl)
  redis.call('LPUSH', key, outbox_entry(event))
  routed_lengths[key] = list_length(key) + 1
  routed_pushed[key] = ttl
  announce(channel, event)
end

local function route_message(k, a)

  if a[21] == '1' then return queue(k, a, 'offline', a[13]) end

  local raw = routed_sessions[k[1]]
  if raw == nil then
    raw = current_session(k[1], k[10], k[11], a[14])
    routed_sessions[k[1]] = raw
  end
  local session = session_active(raw)
  if not session then return queue(k, a, 'offline', a[13]) end
  if session.sessionId ~= a[2] or session.daemonId ~= a[3] then return {'stale', raw} end

  if waits_behind(k, tonumber(a[22])) or list_length(k[4]) >= tonumber(a[8]) then
    return queue(k, a, 'pending', a[14])
  end
  -- The delivered marker is written only if absent: a message id reaches a daemon once.
  if not redis.call('SET', k[3], a[5], 'NX', 'EX', a[11]) then
    return {'already', redis.call('GET', k[3])}
  end
  -- A failing push (the key holds another type) must not leave the marker behind: Redis does not
  -- roll a script back, and a marker without its event would report a message as delivered.
  local pushed = redis.pcall('LPUSH', k[4], outbox_entry(a[4]))
  if type(pushed) == 'table' and pushed.err then
    redis.call('DEL', k[3])
    return redis.error_reply(pushed.err)
  end
  routed_lengths[k[4]] = routed_lengths[k[4]] + 1
  routed_pushed[k[4]] = a[12]
  announce(a[6], a[4])
  if a[17] == '1' then track_receipt(k[6], k[7], k[5], a[1], a[20], a[18], a[19]) end
  return {'delivered', a[2]}
end

-- route_broadcast: route_message for broadcast routing: delivers one message to the daemon of
-- every living active session (each daemon once) or queues it, in one step. The primary is
-- a[2], a[3] with its list k[4] and event a[4]; `copies` are the other targets, each
-- {key, session_id, daemon_id, event, channel}. Replies as route_message, the copies' session
-- ids following the primary's in 'delivered'; a 'stale' reply carries every target's session.
local function route_broadcast(k, a, copies)
  if a[21] == '1' then return queue(k, a, 'offline', a[13]) end
  local sessions = broadcast_sessions(k[1], k[10], k[11], a[14])
  if #sessions == 0 then return queue(k, a, 'offline', a[13]) end
  if not targets_are(sessions, a[2], a[3], copies) then return {'stale', sessions_reply(sessions)} end

  local full = list_length(k[4]) >= tonumber(a[8])
  for i = 1, #copies do full = full or list_length(copies[i].key) >= tonumber(a[8]) end
  if waits_behind(k, tonumber(a[22])) or full then return queue(k, a, 'pending', a[14]) end
  -- Every list is checked before anything is written, so that no push can fail half way.
  local wrong_type = lists_or_error(k[4], copies)
  if wrong_type then return wrong_type end
  if not redis.call('SET', k[3], a[5], 'NX', 'EX', a[11]) then
    return {'already', redis.call('GET', k[3])}
  end
  push_event(k[4], a[4], a[6], a[12])
  local reply = {'delivered', a[2]}
  for i = 1, #copies do
    push_event(copies[i].key, copies[i].event, copies[i].channel, a[12])
    reply[#reply + 1] = copies[i].session_id
  end
  if a[17] == '1' then track_receipt(k[6], k[7], k[5], a[1], a[20], a[18], a[19]) end
  return reply
end

-- append_reply: adds one message's reply to a batch's replies, as its length followed by it.
local function append_reply(replies, reply)
  replies[#replies + 1] = #reply
  for j = 1, #reply do replies[#replies + 1] = reply[j] end
end

local function finish_routes()
  for key, ttl in pairs(routed_pushed) do redis.call('EXPIRE', key, ttl) end
end
