-- register_session: stores a daemon session and, when messages wait, marks the queue due now.
-- KEYS: 1 routing:session:<orch>  2 routing:queue:<orch>  3 routing:pending
--       4 routing:queue-high:<orch>  5 routing:queue-low:<orch>
-- ARGV: 1 session JSON  2 session TTL s  3 orchestratorId  4 now (ms)
-- Returns: the queue length
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
local len = queue_length({KEYS[4], KEYS[2], KEYS[5]})
if len > 0 then redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3]) end
return len
