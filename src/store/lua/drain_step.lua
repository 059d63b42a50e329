-- drain_step: takes planned items off the head of an orchestrator's queue and, for each, either
-- delivers it into the daemon's event list (with its marker, and its receipt when receipts are
-- on) or drops it — in one atomic step, and only if the queue head and the session are still
-- what the plan was made on. With broadcast routing, each delivered item also goes to the daemon
-- of every other session the plan was made for (the copies).
-- KEYS: 1 routing:session:<orch>  2 routing:queue:<orch>  3 daemon:events:<daemon>
--       4 routing:pending  5 routing:inflight:<orch>  6 routing:receipts:<orch>
--       7 routing:queue-high:<orch>  8 routing:queue-low:<orch>  9 routing:sessions:<orch>
--       10 routing:session-records:<orch>  11.. daemon:events:<daemon> of each copy (c of them)
--       then routing:delivered:<msg> (one per item, same order)
-- ARGV: 1 orchestratorId  2 expected sessionId ('' = drops only)  3 expected daemonId
--       4 daemon channel  5 daemon maxEvents  6 marker TTL s  7 daemon list TTL s
--       8 index score if the daemon list is full  9 index score otherwise
--       10 receipts ('1'/'0')  11 receipt deadline (ms)  12 item count n
--       13 broadcast ('1'/'0')  14 now (ms)  15 copy count c
--       16, 17, 18: how many of the items come from the high, normal and low level when the items
--       are the first of each level (an offline drain dropping expired items); '' when they are
--       the first items in drain order (the usual case)
--       then per copy (3 each): sessionId, daemonId, channel
--       then per item, in drain order over the levels: raw item JSON, action ('d' deliver /
--       'x' drop), daemon event JSON, marker JSON, in-flight record JSON, messageId, and the
--       daemon event JSON of each copy (6 + c each)
-- Returns: {'conflict'} | {'stale', sessionJSON or false}
--        | {'done', outcomes ('D' delivered, 'X' dropped, 'A' already delivered), remaining}
local n = tonumber(ARGV[12])
local queues = {KEYS[7], KEYS[2], KEYS[8]}
local c = tonumber(ARGV[15])
local copies = step_copies(c, 19)
local first_item = 19 + 3 * c
local stride = 6 + c
local first_marker = 11 + c

local denied = refused('drain', {'get', 'set', 'lrange', 'type', 'llen', 'ltrim', 'lpush', 'expire', 'zadd',
  'zrange', 'zrem', 'hget', 'hset', 'hdel'}, step_channels(copies))
if denied then return denied end

if ARGV[2] ~= '' then
  local stale = step_stale(ARGV[13], ARGV[14], copies)
  if stale then return stale end
end

local counts = {0, 0, 0}
if ARGV[16] ~= '' then
  -- The first items of each level, as planned.
  local i = 0
  for level = 1, 3 do
    counts[level] = tonumber(ARGV[15 + level])
    if counts[level] > 0 then
      local items = redis.call('LRANGE', queues[level], 0, counts[level] - 1)
      if #items < counts[level] then return {'conflict'} end
      for j = 1, counts[level] do
        if items[j] ~= ARGV[first_item + stride * i] then return {'conflict'} end
        i = i + 1
      end
    end
  end
elseif n > 0 then
  local head
  head, counts = queue_head(queues, n)
  if #head < n then return {'conflict'} end
  for i = 1, n do
    if head[i] ~= ARGV[first_item + stride * (i - 1)] then return {'conflict'} end
  end
end

-- Nothing is written before every daemon key is known to be a list (a failing push after the
-- trim would lose the taken items).
local room, wrong_type = step_room(copies)
if wrong_type then return wrong_type end

-- The items taken are the first of each level: one LTRIM per level removes them, and one LPUSH
-- per daemon delivers their events in order.
local outcomes = {}
local events = {}
for j = 1, c do copies[j].events = {} end
local full = false
local taken = 0
for i = 1, n do
  local base = first_item + stride * (i - 1)
  if ARGV[base + 1] == 'x' then
    outcomes[i] = 'X'
  elseif room <= 0 then
    full = true
    break
  elseif not redis.call('SET', KEYS[first_marker + i - 1], ARGV[base + 3], 'NX', 'EX', ARGV[6]) then
    outcomes[i] = 'A'
  else
    events[#events + 1] = outbox_entry(ARGV[base + 2])
    announce(ARGV[4], ARGV[base + 2])
    for j = 1, c do
      local event = ARGV[base + 5 + j]
      copies[j].events[#copies[j].events + 1] = outbox_entry(event)
      announce(copies[j].channel, event)
    end
    if ARGV[10] == '1' then
      track_receipt(KEYS[5], KEYS[6], KEYS[4], ARGV[1], ARGV[base + 5], ARGV[base + 4], ARGV[11])
    end
    room = room - 1
    outcomes[i] = 'D'
  end
  taken = i
end
if taken > 0 then take_head(queues, counts, taken) end
if #events > 0 then
  redis.call('LPUSH', KEYS[3], unpack(events))
  redis.call('EXPIRE', KEYS[3], ARGV[7])
  for j = 1, c do
    redis.call('LPUSH', copies[j].key, unpack(copies[j].events))
    redis.call('EXPIRE', copies[j].key, ARGV[7])
  end
end

file_orchestrator(KEYS[4], ARGV[1], queues, KEYS[6], full and ARGV[8] or ARGV[9])
return {'done', table.concat(outcomes), queue_length(queues)}
