-- requeue_dead: moves an orchestrator's dead letters back to the head of its queue, in their
-- order, if the dead-letter list still starts with the entries planned on.
-- KEYS: 1 routing:dead:<orch>  2 routing:queue:<orch>  3 routing:pending  4 routing:receipts:<orch>
--       5.. routing:delivered:<msg> (one per entry, same order): removed, so the drain delivers again
-- ARGV: 1 orchestratorId  2 queue index score  3 queue key expiry (ms)  4 count n
--       then n expected dead-letter entries, then n queue items (same order)
-- Returns: n, or -1 when the dead-letter list changed
local n = tonumber(ARGV[4])
if n == 0 then return 0 end
local head = redis.call('LRANGE', KEYS[1], 0, n - 1)
if #head < n then return -1 end
for i = 1, n do
  if head[i] ~= ARGV[4 + i] then return -1 end
end
redis.call('LTRIM', KEYS[1], n, -1)
for i = 1, n do redis.call('DEL', KEYS[4 + i]) end
for i = n, 1, -1 do redis.call('LPUSH', KEYS[2], ARGV[4 + n + i]) end
if redis.call('PEXPIRETIME', KEYS[2]) < tonumber(ARGV[3]) then
  redis.call('PEXPIREAT', KEYS[2], ARGV[3])
end
file_orchestrator(KEYS[3], ARGV[1], KEYS[2], KEYS[4], ARGV[2])
return n
