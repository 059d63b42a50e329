-- drop_queue: deletes every level of an orchestrator's queue at once (the dashboard's "drop a
-- queue"), and files the orchestrator in the due index again for what remains (receipts awaited),
-- or takes it out.
-- KEYS: 1 routing:queue-high:<orch>  2 routing:queue:<orch>  3 routing:queue-low:<orch>
--       4 routing:pending  5 routing:receipts:<orch>
-- ARGV: 1 orchestratorId  2 index score for what remains (now, ms)
-- Returns: {high, normal, low}: how many messages each level held
local denied = refused('queue drop', {'llen', 'del', 'zrange', 'zadd', 'zrem'})
if denied then return denied end
local queues = {KEYS[1], KEYS[2], KEYS[3]}
local dropped = {}
for i = 1, 3 do
  dropped[i] = redis.call('LLEN', queues[i])
  redis.call('DEL', queues[i])
end
file_orchestrator(KEYS[4], ARGV[1], queues, KEYS[5], ARGV[2])
return dropped
