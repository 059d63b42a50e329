-- file_due (Redis Cluster only): copies an orchestrator's due time into the index routers claim from,
-- unless a copy of a newer version got there first (copies from different routers can arrive in
-- any order). The versions live in a hash in the index's slot, for the orchestrators the index has.
-- KEYS: 1 routing:pending  2 routing:pending-versions:{routing:pending}
-- ARGV: 1 orchestratorId  2 due time (ms; '' when it is due no look)  3 version
-- Returns 1 if copied, 0 if a newer version was there.
local known = redis.call('HGET', KEYS[2], ARGV[1])
if known and tonumber(known) >= tonumber(ARGV[3]) then return 0 end
if ARGV[2] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
end
return 1
