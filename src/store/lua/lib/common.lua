-- enqueue_item: appends one item to an orchestrator's queue, holding the cap exactly.
-- Drops the oldest items while the queue is full, keeps the queue key alive until `expire_at`
-- (a grace period after its newest item expires, so that expiry can still be reported), and files the orchestrator in the pending index at `score` (or earlier).
-- Returns the new queue length and the list of dropped raw items (oldest first); with `dedupe`
-- set, an item already in the queue byte for byte is not added again.
local function enqueue_item(queue_key, index_key, member, item, max_size, expire_at, score, dedupe)
  if dedupe == '1' and redis.call('LPOS', queue_key, item) then
    return redis.call('LLEN', queue_key), {}
  end
  local len = redis.call('LLEN', queue_key)
  local dropped = {}
  while len >= max_size do
    dropped[#dropped + 1] = redis.call('LPOP', queue_key)
    len = len - 1
  end
  redis.call('RPUSH', queue_key, item)
  if redis.call('PEXPIRETIME', queue_key) < tonumber(expire_at) then
    redis.call('PEXPIREAT', queue_key, expire_at)
  end
  redis.call('ZADD', index_key, 'LT', score, member)
  return len + 1, dropped
end

-- session_active: the decoded session when the raw session JSON is an active session, else nil
-- (decoded once per script call, however many messages of a batch ask).
local decoded_sessions = {}
local function session_active(raw)
  if not raw then return nil end
  local cached = decoded_sessions[raw]
  if cached ~= nil then return cached or nil end
  local ok, session = pcall(cjson.decode, raw)
  if not ok or type(session) ~= 'table' or session.status ~= 'active' then session = false end
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
local function file_orchestrator(index_key, member, queue_key, deadlines_key, queue_score)
  local score = nil
  if redis.call('LLEN', queue_key) > 0 then score = tonumber(queue_score) end
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

-- session_is: whether the raw session JSON is an active session with these ids.
local function session_is(raw, session_id, daemon_id)
  local session = session_active(raw)
  return session ~= nil and session.sessionId == session_id and session.daemonId == daemon_id
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
