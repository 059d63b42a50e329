-- route_broadcast: route_batch.lua for broadcast routing: routes many messages in order, each to
-- the daemon of every living active session of its orchestrator (each daemon once), or queues it,
-- in one atomic step for the whole batch (so that a batch keeps its order however the sessions
-- change around it).
-- KEYS: per message, 11 (MESSAGE_KEYS) as route.lua's (4 is the primary session's daemon list),
--       then the daemon list of each of its c other target sessions
-- ARGV: 1 message count n, then per message: c, 23 (MESSAGE_ARGS) as route.lua's (2, 3, 4, 6: the
--       primary's session, daemon, event and channel), then 4 (TARGET_ARGS) per other target:
--       sessionId, daemonId, daemon event JSON, channel
-- Returns: for each message, the length of its reply followed by the reply: as route.lua's, with
--          the other sessions' ids after the primary's in 'delivered', and every target session's
--          JSON, as one JSON array, in 'stale'
local n = tonumber(ARGV[1])
-- Each other target's arguments after its message's: sessionId, daemonId, daemon event, channel.
local TARGET_ARGS = 4
local key_at, arg_at = 1, 2
local messages, channels = {}, {}
for m = 1, n do
  local c = tonumber(ARGV[arg_at])
  local k = {unpack(KEYS, key_at, key_at + MESSAGE_KEYS - 1)}
  local a = {unpack(ARGV, arg_at + 1, arg_at + MESSAGE_ARGS)}
  add_channel(channels, a[ARG.daemon], a[ARG.channel])
  local copies = {}
  for i = 1, c do
    local base = arg_at + MESSAGE_ARGS + TARGET_ARGS * (i - 1)
    copies[i] = {key = KEYS[key_at + MESSAGE_KEYS - 1 + i], session_id = ARGV[base + 1], daemon_id = ARGV[base + 2],
                 event = ARGV[base + 3], channel = ARGV[base + 4]}
    add_channel(channels, copies[i].daemon_id, copies[i].channel)
  end
  key_at = key_at + MESSAGE_KEYS + c
  arg_at = arg_at + 1 + MESSAGE_ARGS + TARGET_ARGS * c
  messages[m] = {k, a, copies}
end
local denied = refused('route', BROADCAST_COMMANDS, channels)
if denied then return denied end
route_all_asked = true
local replies = {}
for m = 1, n do
  append_reply(replies, route_broadcast(messages[m][1], messages[m][2], messages[m][3]))
end
finish_routes()
return replies
