-- snapshot: an orchestrator's (primary) session, the length of its queue and the first items in drain
-- order (every high item, then normal, then low), read at one instant.
-- KEYS: 1 routing:session:<orch>  2 routing:queue-high:<orch>  3 routing:queue:<orch>
--       4 routing:queue-low:<orch>  5 routing:sessions:<orch>  6 routing:session-records:<orch>
-- ARGV: 1 how many items  2 now (ms)  3 broadcast ('1': the session is every target session's
--       JSON, as one JSON array, the primary first)
-- Returns: {sessionJSON or false, queueLength, items...}
local queues = {KEYS[2], KEYS[3], KEYS[4]}
local head = queue_head(queues, tonumber(ARGV[1]))
local session
if ARGV[3] == '1' then
  session = sessions_reply(broadcast_sessions(KEYS[1], KEYS[5], KEYS[6], ARGV[2]))
else
  session = current_session(KEYS[1], KEYS[5], KEYS[6], ARGV[2])
end
local reply = {session, queue_length(queues)}
for i = 1, #head do reply[i + 2] = head[i] end
return reply
