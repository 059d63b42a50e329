-- read_sessions: an orchestrator's living sessions, the primary first (promoting the next active
-- one if the primary expired or is not active), then the others, most recently active first.
-- KEYS: 1 routing:session:<orch>  2 routing:sessions:<orch>  3 routing:session-records:<orch>
-- ARGV: 1 now (ms)
-- Returns: the sessions' JSON
local denied = refused('session reading', {'get', 'set', 'zrange', 'zrem', 'hget', 'hdel'})
if denied then return denied end
local primary = current_session(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
local sessions, primary_id = {}, nil
if primary then
  sessions[1] = primary
  primary_id = session_id_of(primary)
end
local ids = redis.call('ZRANGE', KEYS[2], '+inf', '(' .. ARGV[1], 'BYSCORE', 'REV')
for i = 1, #ids do
  if ids[i] ~= primary_id then
    local raw = redis.call('HGET', KEYS[3], ids[i])
    if raw then sessions[#sessions + 1] = raw end
  end
end
return sessions
