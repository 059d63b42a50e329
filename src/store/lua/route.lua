-- route: delivers one message to the orchestrator's daemon through the expected session, or
-- queues it, in one atomic step.
-- KEYS: 1 routing:session:<orch>  2 routing:queue:<orch>  3 routing:delivered:<msg>
--       4 daemon:events:<daemon>  5 routing:pending  6 routing:inflight:<orch>  7 routing:receipts:<orch>
-- ARGV: 1 orchestratorId  2 expected sessionId  3 expected daemonId  4 daemon event JSON
--       5 delivered marker JSON  6 daemon channel  7 queue item JSON  8 daemon maxEvents
--       9 maxQueueSize  10 queue enabled ('1'/'0')  11 marker TTL s  12 daemon list TTL s
--       13 queue item expiry (ms)  14 now (ms)  15 dedupe ('1'/'0')  16 queue key expiry (ms)
--       17 receipts ('1'/'0')  18 in-flight record JSON  19 receipt deadline (ms)  20 messageId
--       21 queue only ('1': the presence service says offline; queue without looking for a session)
-- Returns: {'delivered', sessionId} | {'already', markerJSON} | {'stale', sessionJSON}
--        | {'queued', 'offline'|'pending', queueSize, dropped...} | {'refused', 'offline'|'pending'}
local function queue(status, score)
  if ARGV[10] ~= '1' then return {'refused', status} end
  local size, dropped = enqueue_item(KEYS[2], KEYS[5], ARGV[1], ARGV[7], tonumber(ARGV[9]), ARGV[16], score, ARGV[15])
  local reply = {'queued', status, size}
  for i = 1, #dropped do reply[#reply + 1] = dropped[i] end
  return reply
end

if ARGV[21] == '1' then return queue('offline', ARGV[13]) end

local raw = redis.call('GET', KEYS[1])
local session = session_active(raw)
if not session then return queue('offline', ARGV[13]) end
if session.sessionId ~= ARGV[2] or session.daemonId ~= ARGV[3] then return {'stale', raw} end

local marker = redis.call('GET', KEYS[3])
if marker then return {'already', marker} end

if redis.call('LLEN', KEYS[2]) > 0 or redis.call('LLEN', KEYS[4]) >= tonumber(ARGV[8]) then
  return queue('pending', ARGV[14])
end

redis.call('LPUSH', KEYS[4], ARGV[4])
redis.call('EXPIRE', KEYS[4], ARGV[12])
redis.call('PUBLISH', ARGV[6], ARGV[4])
redis.call('SET', KEYS[3], ARGV[5], 'EX', ARGV[11])
if ARGV[17] == '1' then track_receipt(KEYS[6], KEYS[7], KEYS[5], ARGV[1], ARGV[20], ARGV[18], ARGV[19]) end
return {'delivered', ARGV[2]}
