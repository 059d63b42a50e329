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
local n = tonumber(ARGV[10])
local queues = {KEYS[7], KEYS[2], KEYS[8]}
local c = tonumber(ARGV[13])
local copies = step_copies(c, 14)
local first_item = 14 + 3 * c
local stride = 6 + c
local dead_key = KEYS[11 + c]
local first_marker = 12 + c

local denied = refused('redelivery', {'get', 'set', 'del', 'type', 'llen', 'rpush', 'lpush', 'expire',
  'pexpiretime', 'pexpireat', 'zadd', 'zrange', 'zrem', 'hget', 'hset', 'hdel'}, step_channels(copies))
if denied then return denied end

local redeliveries = false
for i = 1, n do
  if ARGV[first_item + stride * (i - 1) + 2] == 'r' then redeliveries = true end
end
if redeliveries then
  local stale = step_stale(ARGV[11], ARGV[12], copies)
  if stale then return stale end
end

local room, wrong_type = step_room(copies)
if wrong_type then return wrong_type end
local outcomes = {}
local requeue = {}
for i = 1, n do
  local base = first_item + stride * (i - 1)
  local id, action = ARGV[base], ARGV[base + 2]
  if redis.call('HGET', KEYS[5], id) ~= ARGV[base + 1] then
    outcomes[i] = 'S'
  elseif action == 'd' then
    redis.call('RPUSH', dead_key, ARGV[base + 3])
    redis.call('HDEL', KEYS[5], id)
    redis.call('ZREM', KEYS[6], id)
    outcomes[i] = 'D'
  elseif action == 'q' then
    -- Delivered before, but never acknowledged: the drain must deliver it again.
    redis.call('DEL', KEYS[first_marker + i - 1])
    requeue[#requeue + 1] = {tonumber(ARGV[base + 5]), ARGV[base + 3]}
    redis.call('HDEL', KEYS[5], id)
    redis.call('ZREM', KEYS[6], id)
    outcomes[i] = 'Q'
  elseif room > 0 then
    redis.call('LPUSH', KEYS[3], outbox_entry(ARGV[base + 3]))
    announce(ARGV[4], ARGV[base + 3])
    redis.call('EXPIRE', KEYS[3], ARGV[6])
    for j = 1, c do
      redis.call('LPUSH', copies[j].key, outbox_entry(ARGV[base + 5 + j]))
      announce(copies[j].channel, ARGV[base + 5 + j])
      redis.call('EXPIRE', copies[j].key, ARGV[6])
    end
    redis.call('HSET', KEYS[5], id, ARGV[base + 4])
    redis.call('ZADD', KEYS[6], ARGV[base + 5], id)
    room = room - 1
    outcomes[i] = 'R'
  else
    redis.call('ZADD', KEYS[6], ARGV[7], id)
    outcomes[i] = 'F'
  end
end
-- Items to requeue arrive in delivery order; the first of each level must end up at its head.
for i = #requeue, 1, -1 do
  local key = queues[requeue[i][1]]
  redis.call('LPUSH', key, requeue[i][2])
  keep_queue_until(key, ARGV[9])
end
file_orchestrator(KEYS[4], ARGV[1], queues, KEYS[6], ARGV[8])
return {'done', table.concat(outcomes)}
