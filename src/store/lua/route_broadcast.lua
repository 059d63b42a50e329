-- route_broadcast: route.lua for broadcast routing: delivers one message to the daemon of every
-- living active session of the orchestrator (each daemon once), or queues it, in one atomic step.
-- KEYS: 1..11 as route.lua's (4 is the primary session's daemon list), then the daemon list of
--       each other session (12..)
-- ARGV: 1..22 as route.lua's (2, 3, 4, 6: the primary's session, daemon, event and channel), then
--       per other session i (from 23 + 4(i - 1)): sessionId, daemonId, daemon event JSON, channel
-- Returns: as route.lua's, with the other sessions' ids after the primary's in 'delivered', and
--          every target session's JSON, as one JSON array, in 'stale'
local copies = {}
for i = 1, #KEYS - 11 do
  local base = 22 + 4 * (i - 1)
  copies[i] = {key = KEYS[11 + i], session_id = ARGV[base + 1], daemon_id = ARGV[base + 2],
               event = ARGV[base + 3], channel = ARGV[base + 4]}
end
local reply = route_broadcast(KEYS, ARGV, copies)
finish_routes()
return reply
