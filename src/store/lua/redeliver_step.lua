-- redeliver_step: acts on delivered messages whose receipt did not come in time, each only if its
-- in-flight record is still the one planned on (so two routers never act twice on one timeout):
-- delivers it again to the current session's daemon (same event id), moves it to the
-- dead-letter list, or puts it back at the head of its level of the queue (orchestrator offline),
-- in order.
-- With broadcast routing, a redelivery also goes to the daemon of every other session the plan
-- was made for (the copies).
-- KEYS: 1 routing:session:<orch>  2 routing:queue:<orch>  3 daemon:events:<daemon>
--       4 routing:pending  5 routing:inflight:<orch>  6 routing:receipts:<orch>
--       7 routing:queue-high:<orch>  8 routing:queue-low:<orch>  9 routing:sessions:<orch>
--       10 routing:session-records:<orch>  11.. daemon:events:<daemon> of each copy (c of them)
--       then routing:dead:<orch>, then routing:delivered:<msg> (one per item, same order)
-- ARGV: 1 orchestratorId  2 expected sessionId ('' when none)  3 expected daemonId
--       4 daemon channel  5 daemon maxEvents  6 daemon list TTL s  7 deadline if the daemon list is full
--       8 queue index score  9 queue key expiry (ms)  10 item count n
--       11 broadcast ('1'/'0')  12 now (ms)  13 copy count c
--       then per copy (3 each): sessionId, daemonId, channel
--       then per item (6 + c each): messageId, expected record, action ('r' redeliver /
--       'd' dead-letter / 'q' requeue), event JSON / dead letter JSON / queue item JSON,
--       new record JSON, next deadline (ms) / the requeued item's level (1 high, 2 normal, 3 low),
--       and the event JSON of each copy (redeliveries)
-- Returns: {'stale', sessionJSON or false} | {'done', outcomes} with one letter per item:
--          'R' redelivered, 'D' dead-lettered, 'Q' requeued, 'F' daemon full, 'S' skipped

-- The arguments after the shared ones (STEP_ARG, lib/steps.lua), by position (RECEIPT_ARGS in
-- src/store/redis/calls/tests.rs).
local ARG = {list_ttl = 6, full_deadline = 7, score = 8, queue_key_expiry = 9, count = 10, broadcast = 11,
  now = 12, copy_count = 13, copies = 14}
-- An item's arguments, from its first (RECEIPT_ITEM_ARGS in calls/tests.rs), then each copy's event;
-- `payload` is the event, dead letter or queue item, `deadline` the next deadline or the level.
local ITEM = {message_id = 0, expected = 1, action = 2, payload = 3, record = 4, deadline = 5, copy_events = 6}

local n = tonumber(ARGV[ARG.count])
local queues = {KEYS[STEP_KEY.queue_high], KEYS[STEP_KEY.queue], KEYS[STEP_KEY.queue_low]}
local c = tonumber(ARGV[ARG.copy_count])
local copies = step_copies(c, ARG.copies)
local first_item, stride = step_items(c, ARG.copies, ITEM.copy_events)
-- The dead-letter list follows the copies' daemon lists, then the items' delivered markers.
local dead_key = KEYS[STEP_KEY.copies + c]
local first_marker = STEP_KEY.copies + c + 1

local denied = refused('redelivery', {'get', 'set', 'del', 'type', 'llen', 'rpush', 'lpush', 'expire',
  'pexpiretime', 'pexpireat', 'zadd', 'zrange', 'zrem', 'hget', 'hset', 'hdel'}, step_channels(copies))
if denied then return denied end

local redeliveries = false
for i = 1, n do
  if ARGV[first_item + stride * (i - 1) + ITEM.action] == 'r' then redeliveries = true end
end
if redeliveries then
  local stale = step_stale(ARGV[ARG.broadcast], ARGV[ARG.now], copies)
  if stale then return stale end
end

local room, wrong_type = step_room(copies)
if wrong_type then return wrong_type end
local inflight, receipts, daemon = KEYS[STEP_KEY.inflight], KEYS[STEP_KEY.receipts], KEYS[STEP_KEY.daemon]
local list_ttl = ARGV[ARG.list_ttl]
local outcomes = {}
local requeue = {}
for i = 1, n do
  local base = first_item + stride * (i - 1)
  local id, action, payload = ARGV[base + ITEM.message_id], ARGV[base + ITEM.action], ARGV[base + ITEM.payload]
  if redis.call('HGET', inflight, id) ~= ARGV[base + ITEM.expected] then
    outcomes[i] = 'S'
  elseif action == 'd' then
    redis.call('RPUSH', dead_key, payload)
    redis.call('HDEL', inflight, id)
    redis.call('ZREM', receipts, id)
    outcomes[i] = 'D'
  elseif action == 'q' then
    -- Delivered before, but never acknowledged: the drain must deliver it again.
    redis.call('DEL', KEYS[first_marker + i - 1])
    requeue[#requeue + 1] = {tonumber(ARGV[base + ITEM.deadline]), payload}
    redis.call('HDEL', inflight, id)
    redis.call('ZREM', receipts, id)
    outcomes[i] = 'Q'
  elseif room > 0 then
    redis.call('LPUSH', daemon, outbox_entry(payload))
    announce(ARGV[STEP_ARG.channel], payload)
    redis.call('EXPIRE', daemon, list_ttl)
    for j = 1, c do
      local copy_event = ARGV[base + ITEM.copy_events + j - 1]
      redis.call('LPUSH', copies[j].key, outbox_entry(copy_event))
      announce(copies[j].channel, copy_event)
      redis.call('EXPIRE', copies[j].key, list_ttl)
    end
    redis.call('HSET', inflight, id, ARGV[base + ITEM.record])
    redis.call('ZADD', receipts, ARGV[base + ITEM.deadline], id)
    room = room - 1
    outcomes[i] = 'R'
  else
    redis.call('ZADD', receipts, ARGV[ARG.full_deadline], id)
    outcomes[i] = 'F'
  end
end
-- Items to requeue arrive in delivery order; the first of each level must end up at its head.
for i = #requeue, 1, -1 do
  local key = queues[requeue[i][1]]
  redis.call('LPUSH', key, requeue[i][2])
  keep_queue_until(key, ARGV[ARG.queue_key_expiry])
end
file_orchestrator(KEYS[STEP_KEY.due], ARGV[STEP_ARG.orchestrator], queues, receipts, ARGV[ARG.score])
return {'done', table.concat(outcomes)}
