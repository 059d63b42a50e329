-- touch_session: the heartbeat. Refreshes lastActiveAt and the TTL of an existing session (never
-- creating one) and, when messages wait, marks the queue due now. The session touched is the
-- primary, or the one named; if active, being the most recently active, it becomes the primary.
-- KEYS: 1 routing:session:<orch>  2 routing:queue:<orch>  3 routing:pending
--       4 routing:queue-high:<orch>  5 routing:queue-low:<orch>  6 routing:sessions:<orch>
--       7 routing:session-records:<orch>  8 daemon:events:<daemon> (optional, with ARGV 6)
-- ARGV: 1 now (ISO-8601)  2 session TTL s  3 orchestratorId  4 now (ms)  5 sessionId ('' = the primary)
--       6 daemonId (optional): the daemon whose list's length the router asks about
-- Returns: false when there is no such session, else {sessionJSON, queueLength}, and the length of
-- KEYS[8] third when the session touched is active and ARGV[6]'s (the router wakes no drain
-- while that list is still full).
local denied = refused('heartbeat', {'get', 'set', 'del', 'llen', 'pexpireat', 'zadd', 'zscore', 'zrange', 'zrem', 'hget', 'hset', 'hdel'})
if denied then return denied end
local now = tonumber(ARGV[4])
local raw = false
if ARGV[5] == '' then
  raw = current_session(KEYS[1], KEYS[6], KEYS[7], now)
elseif tonumber(redis.call('ZSCORE', KEYS[6], ARGV[5]) or 0) > now then
  raw = redis.call('HGET', KEYS[7], ARGV[5])
else
  local primary = redis.call('GET', KEYS[1])
  if primary and session_id_of(primary) == ARGV[5] then raw = primary end
end
if not raw then return false end
raw = string.gsub(raw, '"lastActiveAt":"[^"]*"', '"lastActiveAt":"' .. ARGV[1] .. '"', 1)
local id = session_id_of(raw)
local primary = redis.call('GET', KEYS[1])
-- An active session touched is the most recently active: the primary. One that is not active
-- stays where it was.
if session_active(raw) or not primary or session_id_of(primary) == id then
  redis.call('SET', KEYS[1], raw, 'EX', ARGV[2])
end
if id and redis.call('ZSCORE', KEYS[6], id) then
  redis.call('HSET', KEYS[7], id, raw)
  redis.call('ZADD', KEYS[6], now + 1000 * tonumber(ARGV[2]), id)
  keep_sessions(KEYS[6], KEYS[7])
end
local len = queue_length({KEYS[4], KEYS[2], KEYS[5]})
local session = session_active(raw)
if len > 0 and session then redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3]) end
if KEYS[8] and session and session.daemonId == ARGV[6] then return {raw, len, redis.call('LLEN', KEYS[8])} end
return {raw, len}
