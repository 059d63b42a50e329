-- queue_lengths: the lengths of an orchestrator's three queue lists, read at one instant. A script
-- rather than MULTI/EXEC: Redis refuses to queue commands in a transaction when it is out of memory,
-- and a script that writes nothing runs then.
-- KEYS: 1 routing:queue-high:<orch>  2 routing:queue:<orch>  3 routing:queue-low:<orch>
-- ARGV: none
-- Returns: {high, normal, low}
local denied = refused('queue depth', {'llen'})
if denied then return denied end
return {redis.call('LLEN', KEYS[1]), redis.call('LLEN', KEYS[2]), redis.call('LLEN', KEYS[3])}
