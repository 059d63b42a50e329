-- route_batch: routes many messages in order, each exactly as route.lua would, in one call (one
-- atomic step for the whole batch).
-- KEYS: 7 per message, as route.lua's KEYS
-- ARGV: 1 message count n, then 21 per message, as route.lua's ARGV
-- Returns: for each message, the length of its reply followed by the reply (as route.lua's)
local n = tonumber(ARGV[1])
local replies = {}
for i = 0, n - 1 do
  local k = {}
  for j = 1, 7 do k[j] = KEYS[7 * i + j] end
  local a = {}
  for j = 1, 21 do a[j] = ARGV[1 + 21 * i + j] end
  local reply = route_message(k, a)
  replies[#replies + 1] = #reply
  for j = 1, #reply do replies[#replies + 1] = reply[j] end
end
finish_routes()
return replies
