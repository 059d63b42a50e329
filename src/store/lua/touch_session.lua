-- touch_session: the heartbeat. Refreshes lastActiveAt and the TTL of an existing session
-- (never creating one) and, when messages wait, marks the queue due now.
-- KEYS: 1 routing:session:<orch>  2 routing:queue:<orch>  3 routing:pending
--       4 routing:queue-high:<orch>  5 routing:queue-low:<orch>
-- ARGV: 1 now (ISO-8601)  2 session TTL s  3 orchestratorId  4 now (ms)
-- Returns: false when there is no session, else {sessionJSON, queueLength}
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
raw = string.gsub(raw, '"lastActiveAt":"[^"]*"', '"lastActiveAt":"' .. ARGV[1] .. '"', 1)
redis.call('SET', KEYS[1], raw, 'EX', ARGV[2])
local len = queue_length({KEYS[4], KEYS[2], KEYS[5]})
if len > 0 and session_active(raw) then redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3]) end
return {raw, len}
