-- route_batch: routes many messages in order, each exactly as route.lua would, in one call (one
-- atomic step for the whole batch).
-- KEYS and ARGV: the grouped layout of lib/route_grouped.lua (read_route_call)
-- Returns: for each message, the length of its reply followed by the reply (as route.lua's)
local call = read_route_call()
local denied = refused('route', ROUTE_COMMANDS, call.channels)
if denied then return denied end
route_all_asked = true
local replies = {}
for i = 0, call.n - 1 do append_reply(replies, route_nth(call, i)) end
finish_routes()
return replies
