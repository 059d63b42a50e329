-- file_due (Redis Cluster only): copies an orchestrator's due time into the index routers claim from,
-- unless a copy of a newer version got there first (copies from different routers can arrive in
-- any order). The versions live in a hash in the index's slot, for the orchestrators the index has.
-- The sweep's copies ('sweep') only add a missing orchestrator or take one out: one the index has
-- may be claimed (its score is a lease), and the sweep must not make it due again.
-- KEYS: 1 routing:pending  2 routing:pending-versions:{routing:pending}
-- ARGV: 1 orchestratorId  2 due time (ms; '' when it is due no look)  3 version  4 'sweep' or ''
-- Returns 1 if copied, 0 if not.
local known = redis.call('HGET', KEYS[2], ARGV[1])
if known and tonumber(known) >= tonumber(ARGV[3]) then return 0 end
if ARGV[2] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 1
end
if ARGV[4] == 'sweep' and redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
