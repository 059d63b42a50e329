-- enqueue: appends one message to an orchestrator's queue under the cap.
-- KEYS: 1 routing:queue:<orch>  2 routing:pending
-- ARGV: 1 orchestratorId  2 queue item JSON  3 maxQueueSize  4 item expiry (ms)  5 dedupe ('1'/'0')
--       6 queue key expiry (ms)
-- Returns: {queueSize, dropped...}
local size, dropped = enqueue_item(KEYS[1], KEYS[2], ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[6], ARGV[4], ARGV[5])
local reply = {size}
for i = 1, #dropped do reply[#reply + 1] = dropped[i] end
return reply
