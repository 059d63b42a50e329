-- unregister_session: removes one session of an orchestrator, or all of them. When the primary
-- goes, the most recently active of the others (if any lives) becomes the primary.
-- KEYS: 1 routing:session:<orch>  2 routing:sessions:<orch>  3 routing:session-records:<orch>
-- ARGV: 1 sessionId ('' = every session)  2 now (ms)
-- Returns: 1 when a session was removed, else 0
local denied = refused('unregistration', {'get', 'set', 'del', 'pexpireat', 'zrange', 'zrem', 'hget', 'hdel'})
if denied then return denied end
if ARGV[1] == '' then
  return redis.call('DEL', KEYS[1], KEYS[2], KEYS[3]) > 0 and 1 or 0
end
local removed = redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
local primary = redis.call('GET', KEYS[1])
if primary and session_id_of(primary) == ARGV[1] then
  removed = 1
  redis.call('DEL', KEYS[1])
  promote_session(KEYS[1], KEYS[2], KEYS[3], ARGV[2], false)
end
keep_sessions(KEYS[2], KEYS[3])
return removed
