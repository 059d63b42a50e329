-- file_due (Redis Cluster only): copies an orchestrator's due time into the index routers claim from,
-- unless a copy of a newer version got there first (copies from different routers, and the sweep's,
-- can arrive in any order). The versions live in a sorted set in the index's slot, scored by
-- version: the orchestrators the index has, and those it took out, so that an older copy arriving
-- after a removal is refused too. Versions are at least the server clock in µs, so those older than
-- ten minutes before this copy's are dropped: no copy arrives that late.
-- The sweep's copies ('sweep') only add a missing orchestrator or take one out: one the index has
-- may be claimed (its score is a lease), and the sweep must not make it due again.
-- KEYS: 1 routing:pending  2 routing:pending-versions:{routing:pending}
-- ARGV: 1 orchestratorId  2 due time (ms; '' when it is due no look)  3 version  4 'sweep' or ''
-- Returns 1 if copied, 0 if not.
local denied = refused('due time', {'zremrangebyscore', 'zscore', 'zrem', 'zadd'})
if denied then return denied end
local version = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. string.format('%d', version - 600000000))
local known = redis.call('ZSCORE', KEYS[2], ARGV[1])
if known and tonumber(known) >= version then return 0 end
if ARGV[2] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
elseif ARGV[4] == 'sweep' and redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 0
else
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
