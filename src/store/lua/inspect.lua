-- inspect: what the operator's `inspect` shows of an orchestrator, read at one instant (a script
-- that writes nothing, so that it runs when Redis is out of memory, as MULTI/EXEC does not).
-- KEYS: 1 routing:session:<orch>  2 routing:sessions:<orch>  3 routing:session-records:<orch>
--       4 routing:queue-high:<orch>  5 routing:queue:<orch>  6 routing:queue-low:<orch>
--       7 routing:receipts:<orch>  8 routing:dead:<orch>
-- ARGV: none
-- Returns: {primary session JSON or false, {id, expiry, ...}, {field, value, ...},
--           high length, high head or false, normal length, normal head or false,
--           low length, low head or false, receipts awaited, dead letters}
local denied = refused('inspection', {'get', 'zrange', 'hgetall', 'llen', 'lindex', 'zcard'})
if denied then return denied end
local reply = {
  redis.call('GET', KEYS[1]),
  redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES'),
  redis.call('HGETALL', KEYS[3]),
}
for i = 4, 6 do
  reply[#reply + 1] = redis.call('LLEN', KEYS[i])
  reply[#reply + 1] = redis.call('LINDEX', KEYS[i], 0)
end
reply[#reply + 1] = redis.call('ZCARD', KEYS[7])
reply[#reply + 1] = redis.call('LLEN', KEYS[8])
return reply
