-- push_outbox (Redis Cluster only): moves an orchestrator's outbox entries for one daemon into the
-- daemon's event list and channel, in the daemon list's slot. Each entry is moved once: the
-- pushed hash remembers, per orchestrator, the highest sequence number moved into this list, and
-- entries at or below it (moved before, by this router or another, whose removal from the outbox
-- did not happen yet) are skipped. Entries come oldest first; sequence numbers only grow.
-- KEYS: 1 daemon:events:<daemon>  2 routing:pushed:{daemon:events:<daemon>}
-- ARGV: 1 orchestratorId  2 daemon channel  3 daemon list TTL s  4 pushed hash TTL s
--       5.. outbox entries ('<sequence> <event JSON>'), oldest first
-- Returns how many events were pushed.
local denied = refused('outbox', {'type', 'hget', 'lpush', 'expire', 'hset'}, {[ARGV[2]] = true})
if denied then return denied end
local wrong_type = list_or_error(KEYS[1])
if wrong_type then return wrong_type end
local last = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
local moved = 0
for i = 5, #ARGV do
  local space = string.find(ARGV[i], ' ', 1, true)
  local sequence = tonumber(string.sub(ARGV[i], 1, space - 1))
  if sequence > last then
    local event = string.sub(ARGV[i], space + 1)
    redis.call('LPUSH', KEYS[1], event)
    redis.call('PUBLISH', ARGV[2], event)
    last = sequence
    moved = moved + 1
  end
end
if moved > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('HSET', KEYS[2], ARGV[1], string.format('%d', last))
end
redis.call('EXPIRE', KEYS[2], ARGV[4])
return moved
