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

-- session_active: the decoded session when the raw session JSON is an active session, else nil.
local function session_active(raw)
  if not raw then return nil end
  local ok, session = pcall(cjson.decode, raw)
  if not ok or type(session) ~= 'table' or session.status ~= 'active' then return nil end
  return session
end
