-- register_session: stores a daemon session and, when messages wait, marks the queue due now.
-- With several sessions per orchestrator it joins the others (replacing the one with its id) and
-- becomes the primary if it is active (one that is not gives up the primary's place, if it held
-- it, to the most recently active active one); otherwise it replaces the one session there was.
-- KEYS: 1 routing:session:<orch>  2 routing:queue:<orch>  3 routing:pending
--       4 routing:queue-high:<orch>  5 routing:queue-low:<orch>  6 routing:sessions:<orch>
--       7 routing:session-records:<orch>
-- ARGV: 1 session JSON  2 session TTL s  3 orchestratorId  4 now (ms)  5 sessionId
--       6 several sessions ('1'/'0')
-- Returns: the queue length
local denied = refused('registration', {'get', 'set', 'del', 'llen', 'pexpireat', 'zadd', 'zrange', 'zrem', 'hget', 'hset', 'hdel'})
if denied then return denied end
if ARGV[6] == '1' then
  prune_sessions(KEYS[6], KEYS[7], ARGV[4])
  -- Settles a primary whose key a deployed instance deleted before this one takes a place.
  current_session(KEYS[1], KEYS[6], KEYS[7], ARGV[4])
  redis.call('HSET', KEYS[7], ARGV[5], ARGV[1])
  redis.call('ZADD', KEYS[6], tonumber(ARGV[4]) + 1000 * tonumber(ARGV[2]), ARGV[5])
  keep_sessions(KEYS[6], KEYS[7])
  local primary = redis.call('GET', KEYS[1])
  if session_active(ARGV[1]) or not primary then
    redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  elseif session_id_of(primary) == ARGV[5] then
    redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
    current_session(KEYS[1], KEYS[6], KEYS[7], ARGV[4])
  end
else
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  -- One session per orchestrator: none of an earlier configuration may come back as a fallback.
  redis.call('DEL', KEYS[6], KEYS[7])
end
local len = queue_length({KEYS[4], KEYS[2], KEYS[5]})
if len > 0 then redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3]) end
return len
