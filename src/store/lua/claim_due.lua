-- claim_due: claims orchestrators whose queue is due a look, hiding them from other routers
-- until the lease ends (a router that dies mid-drain leaves them to the next claimer).
-- KEYS: 1 routing:pending
-- ARGV: 1 now (ms)  2 lease end (ms)  3 limit
-- Returns: the claimed orchestrator ids
local denied = refused('claim', {'zrange', 'zadd'})
if denied then return denied end
local due = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[3])
for i = 1, #due do redis.call('ZADD', KEYS[1], 'XX', ARGV[2], due[i]) end
return due
