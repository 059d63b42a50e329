-- drain_step: takes planned items off the head of an orchestrator's queue and, for each, either
-- delivers it into the daemon's event list (with its marker, and its receipt when receipts are
-- on) or drops it — in one atomic step, and only if the queue head and the session are still
-- what the plan was made on.
-- KEYS: 1 routing:session:<orch>  2 routing:queue:<orch>  3 daemon:events:<daemon>
--       4 routing:pending  5 routing:inflight:<orch>  6 routing:receipts:<orch>
--       7 routing:queue-high:<orch>  8 routing:queue-low:<orch>
--       9.. routing:delivered:<msg> (one per item, same order)
-- ARGV: 1 orchestratorId  2 expected sessionId ('' = drops only)  3 expected daemonId
--       4 daemon channel  5 daemon maxEvents  6 marker TTL s  7 daemon list TTL s
--       8 index score if the daemon list is full  9 index score otherwise
--       10 receipts ('1'/'0')  11 receipt deadline (ms)  12 item count n
--       then per item i (from 7 + 6i), in drain order over the levels: raw item JSON, action ('d' deliver / 'x' drop),
--       daemon event JSON, marker JSON, in-flight record JSON, messageId
-- Returns: {'conflict'} | {'stale', sessionJSON or false}
--        | {'done', outcomes ('D' delivered, 'X' dropped, 'A' already delivered), remaining}
local n = tonumber(ARGV[12])
local queues = {KEYS[7], KEYS[2], KEYS[8]}
if ARGV[2] ~= '' then
  local raw = redis.call('GET', KEYS[1])
  if not session_is(raw, ARGV[2], ARGV[3]) then return {'stale', raw} end
end

local head, counts = {}, {0, 0, 0}
if n > 0 then
  head, counts = queue_head(queues, n)
  if #head < n then return {'conflict'} end
  for i = 1, n do
    if head[i] ~= ARGV[7 + 6 * i] then return {'conflict'} end
  end
end

-- Nothing is written before the daemon's key is known to be a list (Redis does not roll a
-- script back, so a failing push after the trim would lose the taken items).
local wrong_type = list_or_error(KEYS[3])
if wrong_type then return wrong_type end

-- The items taken are always a prefix of the queue in drain order: one LTRIM per level removes
-- them, and one LPUSH delivers their events in order.
local room = tonumber(ARGV[5]) - redis.call('LLEN', KEYS[3])
local outcomes = {}
local events = {}
local full = false
local taken = 0
for i = 1, n do
  local base = 7 + 6 * i
  if ARGV[base + 1] == 'x' then
    outcomes[i] = 'X'
  elseif room <= 0 then
    full = true
    break
  elseif not redis.call('SET', KEYS[8 + i], ARGV[base + 3], 'NX', 'EX', ARGV[6]) then
    outcomes[i] = 'A'
  else
    events[#events + 1] = ARGV[base + 2]
    redis.call('PUBLISH', ARGV[4], ARGV[base + 2])
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
end

file_orchestrator(KEYS[4], ARGV[1], queues, KEYS[6], full and ARGV[8] or ARGV[9])
return {'done', table.concat(outcomes), queue_length(queues)}
