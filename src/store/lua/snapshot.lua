-- snapshot: an orchestrator's (primary) session, the length of its queue and the head of its
-- queue, read at one instant. Online, the head is the first items in drain order (every high
-- item, then normal, then low); offline (no active session), it is the first items of each level,
-- so that a drain can drop what expired at the head of every level, not only of the first.
-- KEYS: 1 routing:session:<orch>  2 routing:queue-high:<orch>  3 routing:queue:<orch>
--       4 routing:queue-low:<orch>  5 routing:sessions:<orch>  6 routing:session-records:<orch>
-- ARGV: 1 how many items (per level, offline)  2 now (ms)  3 broadcast ('1': the session is every
--       target session's JSON, as one JSON array, the primary first)
-- Returns: {sessionJSON or false, queueLength, 'p' (prefix in drain order) | 'l' (per level),
--           items from high, from normal, from low, items...}
local denied = refused('drain', {'get', 'set', 'lrange', 'llen', 'zrange', 'zrem', 'hget', 'hdel'})
if denied then return denied end
local queues = {KEYS[2], KEYS[3], KEYS[4]}
local n = tonumber(ARGV[1])
local session, online
if ARGV[3] == '1' then
  local sessions = broadcast_sessions(KEYS[1], KEYS[5], KEYS[6], ARGV[2])
  session, online = sessions_reply(sessions), #sessions > 0
else
  session = current_session(KEYS[1], KEYS[5], KEYS[6], ARGV[2])
  online = session_active(session) ~= nil
end
local head, counts
if online then
  head, counts = queue_head(queues, n)
else
  head, counts = {}, {}
  for level = 1, 3 do
    local items = n > 0 and redis.call('LRANGE', queues[level], 0, n - 1) or {}
    counts[level] = #items
    for i = 1, #items do head[#head + 1] = items[i] end
  end
end
local reply = {session, queue_length(queues), online and 'p' or 'l', counts[1], counts[2], counts[3]}
for i = 1, #head do reply[i + 6] = head[i] end
return reply
