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

-- The arguments after the shared ones (STEP_ARG, lib/steps.lua), by position (DRAIN_ARGS in
-- src/store/redis/calls/tests.rs); `levels` is the first of the three level counts.
local ARG = {marker_ttl = 6, list_ttl = 7, full_score = 8, score = 9, receipts = 10, deadline = 11,
  count = 12, broadcast = 13, now = 14, copy_count = 15, levels = 16, copies = 19}
-- An item's arguments, from its first (DRAIN_ITEM_ARGS in calls/tests.rs), then each copy's event.
local ITEM = {raw = 0, action = 1, event = 2, marker = 3, record = 4, message_id = 5, copy_events = 6}

local n = tonumber(ARGV[ARG.count])
local queues = {KEYS[STEP_KEY.queue_high], KEYS[STEP_KEY.queue], KEYS[STEP_KEY.queue_low]}
local c = tonumber(ARGV[ARG.copy_count])
local copies = step_copies(c, ARG.copies)
local first_item, stride = step_items(c, ARG.copies, ITEM.copy_events)
-- The items' delivered markers follow the copies' daemon lists.
local first_marker = STEP_KEY.copies + c

local denied = refused('drain', {'get', 'set', 'lrange', 'type', 'llen', 'ltrim', 'lpush', 'expire', 'zadd',
  'zrange', 'zrem', 'hget', 'hset', 'hdel'}, step_channels(copies))
if denied then return denied end

if ARGV[STEP_ARG.session] ~= '' then
  local stale = step_stale(ARGV[ARG.broadcast], ARGV[ARG.now], copies)
  if stale then return stale end
end

local counts = {0, 0, 0}
if ARGV[ARG.levels] ~= '' then
  -- The first items of each level, as planned.
  local i = 0
  for level = 1, 3 do
    counts[level] = tonumber(ARGV[ARG.levels + level - 1])
    if counts[level] > 0 then
      local items = redis.call('LRANGE', queues[level], 0, counts[level] - 1)
      if #items < counts[level] then return {'conflict'} end
      for j = 1, counts[level] do
        if items[j] ~= ARGV[first_item + stride * i + ITEM.raw] then return {'conflict'} end
        i = i + 1
      end
    end
  end
elseif n > 0 then
  local head
  head, counts = queue_head(queues, n)
  if #head < n then return {'conflict'} end
  for i = 1, n do
    if head[i] ~= ARGV[first_item + stride * (i - 1) + ITEM.raw] then return {'conflict'} end
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
local daemon, list_ttl = KEYS[STEP_KEY.daemon], ARGV[ARG.list_ttl]
for i = 1, n do
  local base = first_item + stride * (i - 1)
  local event = ARGV[base + ITEM.event]
  if ARGV[base + ITEM.action] == 'x' then
    outcomes[i] = 'X'
  elseif room <= 0 then
    full = true
    break
  elseif not redis.call('SET', KEYS[first_marker + i - 1], ARGV[base + ITEM.marker], 'NX', 'EX', ARGV[ARG.marker_ttl]) then
    outcomes[i] = 'A'
  else
    events[#events + 1] = outbox_entry(event)
    announce(ARGV[STEP_ARG.channel], event)
    for j = 1, c do
      local copy_event = ARGV[base + ITEM.copy_events + j - 1]
      copies[j].events[#copies[j].events + 1] = outbox_entry(copy_event)
      announce(copies[j].channel, copy_event)
    end
    if ARGV[ARG.receipts] == '1' then
      track_receipt(KEYS[STEP_KEY.inflight], KEYS[STEP_KEY.receipts], KEYS[STEP_KEY.due], ARGV[STEP_ARG.orchestrator],
        ARGV[base + ITEM.message_id], ARGV[base + ITEM.record], ARGV[ARG.deadline])
    end
    room = room - 1
    outcomes[i] = 'D'
  end
  taken = i
end
if taken > 0 then take_head(queues, counts, taken) end
if #events > 0 then
  redis.call('LPUSH', daemon, unpack(events))
  redis.call('EXPIRE', daemon, list_ttl)
  for j = 1, c do
    redis.call('LPUSH', copies[j].key, unpack(copies[j].events))
    redis.call('EXPIRE', copies[j].key, list_ttl)
  end
end

file_orchestrator(KEYS[STEP_KEY.due], ARGV[STEP_ARG.orchestrator], queues, KEYS[STEP_KEY.receipts],
  full and ARGV[ARG.full_score] or ARGV[ARG.score])
return {'done', table.concat(outcomes), queue_length(queues)}
