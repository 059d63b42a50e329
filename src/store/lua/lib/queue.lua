-- lib/queue.lua: an orchestrator's queue: its length, its head in drain order, taking the head,
-- and queueing an item under the cap (queue_length, queue_head, take_head, keep_queue_until,
-- enqueue_item).
-- The queue is three lists, one per priority level; `queues` holds their keys most important
-- first (high, normal, low). Drain order is every high item, then every normal one, then every
-- low one, each level oldest first.

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
-- orchestrator in the due index at `score` (or earlier).
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
