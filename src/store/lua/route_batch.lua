-- route_batch: routes many messages in order, each exactly as route.lua would, in one call (one
-- atomic step for the whole batch).
-- KEYS: 9 or 11 per message (the same for all), as route.lua's KEYS
-- ARGV: 1 message count n, then 22 (MESSAGE_ARGS) per message, as route.lua's ARGV
-- Returns: for each message, the length of its reply followed by the reply (as route.lua's)
local n = tonumber(ARGV[1])
local stride = #KEYS / n
local channels = {}
-- Message i's arguments (from 0) follow the count: ARGV[1 + MESSAGE_ARGS * i + ARG.x].
for i = 0, n - 1 do
  local at = 1 + MESSAGE_ARGS * i
  add_channel(channels, ARGV[at + ARG.daemon], ARGV[at + ARG.channel])
end
local denied = refused('route', ROUTE_COMMANDS, channels)
if denied then return denied end
local replies = {}
for i = 0, n - 1 do
  -- One constructor per table sizes it once; filling an empty table grows it step by step.
  local k = {unpack(KEYS, stride * i + 1, stride * i + stride)}
  local a = {unpack(ARGV, 1 + MESSAGE_ARGS * i + 1, 1 + MESSAGE_ARGS * i + MESSAGE_ARGS)}
  append_reply(replies, route_message(k, a))
end
finish_routes()
return replies
