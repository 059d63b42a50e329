-- acknowledge: ends the wait for the receipts of the given messages (unknown or repeated ids
-- are ignored).
-- KEYS: 1 routing:inflight:<orch>  2 routing:receipts:<orch>
-- ARGV: messageIds...
-- Returns: the ids that were awaiting a receipt
local denied = refused('acknowledgement', {'hdel', 'zrem'})
if denied then return denied end
local acknowledged = {}
for i = 1, #ARGV do
  if redis.call('HDEL', KEYS[1], ARGV[i]) == 1 then
    redis.call('ZREM', KEYS[2], ARGV[i])
    acknowledged[#acknowledged + 1] = ARGV[i]
  end
end
return acknowledged
