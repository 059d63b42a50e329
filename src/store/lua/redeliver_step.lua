-- redeliver_step: acts on delivered messages whose receipt did not come in time, each only if its
-- in-flight record is still the one planned on (so two routers never act twice on one timeout):
-- delivers it again to the current session's daemon (same event id), moves it to the
-- dead-letter list, or puts it back at the head of its level of the queue (orchestrator offline),
-- in order.
-- KEYS: 1 routing:session:<orch>  2 routing:queue:<orch>  3 daemon:events:<daemon>
--       4 routing:pending  5 routing:inflight:<orch>  6 routing:receipts:<orch>
--       7 routing:queue-high:<orch>  8 routing:queue-low:<orch>
--       9 routing:dead:<orch>  10.. routing:delivered:<msg> (one per item, same order)
-- ARGV: 1 orchestratorId  2 expected sessionId ('' when none)  3 expected daemonId
--       4 daemon channel  5 daemon maxEvents  6 daemon list TTL s  7 deadline if the daemon list is full
--       8 queue index score  9 queue key expiry (ms)  10 item count n
--       then per item i (from 5 + 6i): messageId, expected record, action ('r' redeliver /
--       'd' dead-letter / 'q' requeue), event JSON / dead letter JSON / queue item JSON,
--       new record JSON, next deadline (ms) / the requeued item's level (1 high, 2 normal, 3 low)
-- Returns: {'stale', sessionJSON or false} | {'done', outcomes} with one letter per item:
--          'R' redelivered, 'D' dead-lettered, 'Q' requeued, 'F' daemon full, 'S' skipped
local n = tonumber(ARGV[10])
local queues = {KEYS[7], KEYS[2], KEYS[8]}
local redeliveries = false
for i = 1, n do
  if ARGV[5 + 6 * i + 2] == 'r' then redeliveries = true end
end
if redeliveries then
  local raw = redis.call('GET', KEYS[1])
  if not session_is(raw, ARGV[2], ARGV[3]) then return {'stale', raw} end
end

local wrong_type = list_or_error(KEYS[3])
if wrong_type then return wrong_type end
local room = tonumber(ARGV[5]) - redis.call('LLEN', KEYS[3])
local outcomes = {}
local requeue = {}
for i = 1, n do
  local base = 5 + 6 * i
  local id, action = ARGV[base], ARGV[base + 2]
  if redis.call('HGET', KEYS[5], id) ~= ARGV[base + 1] then
    outcomes[i] = 'S'
  elseif action == 'd' then
    redis.call('RPUSH', KEYS[9], ARGV[base + 3])
    redis.call('HDEL', KEYS[5], id)
    redis.call('ZREM', KEYS[6], id)
    outcomes[i] = 'D'
  elseif action == 'q' then
    -- Delivered before, but never acknowledged: the drain must deliver it again.
    redis.call('DEL', KEYS[9 + i])
    requeue[#requeue + 1] = {tonumber(ARGV[base + 5]), ARGV[base + 3]}
    redis.call('HDEL', KEYS[5], id)
    redis.call('ZREM', KEYS[6], id)
    outcomes[i] = 'Q'
  elseif room > 0 then
    redis.call('LPUSH', KEYS[3], ARGV[base + 3])
    redis.call('PUBLISH', ARGV[4], ARGV[base + 3])
    redis.call('EXPIRE', KEYS[3], ARGV[6])
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
