-- requeue_dead: moves an orchestrator's dead letters back to the head of their levels of its
-- queue, in their order, if the dead-letter list still starts with the entries planned on.
-- KEYS: 1 routing:dead:<orch>  2 routing:queue:<orch>  3 routing:pending  4 routing:receipts:<orch>
--       5 routing:queue-high:<orch>  6 routing:queue-low:<orch>
--       7.. routing:delivered:<msg> (one per entry, same order): removed, so the drain delivers again
-- ARGV: 1 orchestratorId  2 queue index score  3 queue key expiry (ms)  4 count n
--       then n expected dead-letter entries, n queue items and n levels (1 high, 2 normal, 3 low),
--       all in the same order
-- Returns: n, or -1 when the dead-letter list changed
local denied = refused('dead-letter requeue', {'lrange', 'ltrim', 'del', 'lpush', 'pexpiretime', 'pexpireat', 'llen', 'zrange', 'zadd', 'zrem'})
if denied then return denied end
local n = tonumber(ARGV[4])
if n == 0 then return 0 end
local head = redis.call('LRANGE', KEYS[1], 0, n - 1)
if #head < n then return -1 end
for i = 1, n do
  if head[i] ~= ARGV[4 + i] then return -1 end
end
redis.call('LTRIM', KEYS[1], n, -1)
local queues = {KEYS[5], KEYS[2], KEYS[6]}
for i = 1, n do redis.call('DEL', KEYS[6 + i]) end
for i = n, 1, -1 do
  local key = queues[tonumber(ARGV[4 + 2 * n + i])]
  redis.call('LPUSH', key, ARGV[4 + n + i])
  keep_queue_until(key, ARGV[3])
end
file_orchestrator(KEYS[3], ARGV[1], queues, KEYS[4], ARGV[2])
return n
