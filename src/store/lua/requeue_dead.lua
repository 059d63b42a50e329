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

-- KEYS and ARGV by position, as the header lists them; the entries' own start after these.
local KEY = {dead = 1, queue = 2, due = 3, receipts = 4, queue_high = 5, queue_low = 6}
local ARG = {orchestrator = 1, score = 2, queue_key_expiry = 3, count = 4}
local n = tonumber(ARGV[ARG.count])
if n == 0 then return 0 end
-- Where the i-th entry's marker, expected dead letter, queue item and level are.
local marker = function(i) return KEYS[KEY.queue_low + i] end
local expected = function(i) return ARGV[ARG.count + i] end
local item = function(i) return ARGV[ARG.count + n + i] end
local level = function(i) return tonumber(ARGV[ARG.count + 2 * n + i]) end

local head = redis.call('LRANGE', KEYS[KEY.dead], 0, n - 1)
if #head < n then return -1 end
for i = 1, n do
  if head[i] ~= expected(i) then return -1 end
end
redis.call('LTRIM', KEYS[KEY.dead], n, -1)
local queues = {KEYS[KEY.queue_high], KEYS[KEY.queue], KEYS[KEY.queue_low]}
for i = 1, n do redis.call('DEL', marker(i)) end
for i = n, 1, -1 do
  local key = queues[level(i)]
  redis.call('LPUSH', key, item(i))
  keep_queue_until(key, ARGV[ARG.queue_key_expiry])
end
file_orchestrator(KEYS[KEY.due], ARGV[ARG.orchestrator], queues, KEYS[KEY.receipts], ARGV[ARG.score])
return n
