-- lib/route_grouped.lua: the grouped layout route_batch.lua takes (read_route_call, route_nth).
-- Takes lib/route.lua. Only the batch script takes it: every named table a script defines is
-- built again on every call (a single route paid about 40,000 instructions more in Redis for
-- these), and a batch builds them once for all its messages.

-- What a call's messages share is sent once: a message's keys and arguments (lib/route.lua's KEY
-- and ARG) are its group's, the call's and its own. A group is the messages of one call to one
-- orchestrator through one expected session at one moment (src/store/redis/calls/route.rs groups
-- them).
-- KEYS: each group's GROUP_KEY (8, or 10 with the session set and records), then each message's
--       delivered marker
-- ARGV: 1 message count n, 2 group count g, then SHARED_ARG, then each group's GROUP_ARG, then
--       each message's MESSAGE_ARG (positions counted from where each starts)
local GROUP_KEY = {session = 1, queue = 2, daemon = 3, due = 4, inflight = 5, receipts = 6, queue_high = 7,
  queue_low = 8, sessions = 9, records = 10}
local SHARED_ARG = {max_events = 3, max_queue = 4, queueing = 5, marker_ttl = 6, list_ttl = 7}
local GROUP_ARG = {orchestrator = 1, session = 2, daemon = 3, marker = 4, channel = 5, item_expiry = 6, now = 7,
  dedupe = 8, queue_key_expiry = 9, receipts = 10, deadline = 11, queue_only = 12, refresh = 13}
local MESSAGE_ARG = {group = 1, event = 2, item = 3, record = 4, message_id = 5, level = 6}
local SHARED_ARGS, GROUP_ARGS, GROUP_MESSAGE_ARGS = 7, 13, 6

-- read_route_call: the grouped layout's call: `n` messages, each group's keys and arguments as
-- route_message takes them (`k`, `a`; each message's own go in when it is routed) and the daemon
-- channels the call may publish on. Reads no key. Each table is built by one constructor in KEY
-- and ARG order (sized once: filled field by field, growing it cost more than all the rest of
-- the call's reading).
local function read_route_call()
  local n, g = tonumber(ARGV[1]), tonumber(ARGV[2])
  local group_keys = (#KEYS - n) / g
  local groups, channels = {}, {}
  local K, S, G = GROUP_KEY, SHARED_ARG, GROUP_ARG
  for j = 0, g - 1 do
    local kb, b = group_keys * j, SHARED_ARGS + GROUP_ARGS * j
    local k = {KEYS[kb + K.session], KEYS[kb + K.queue], false, KEYS[kb + K.daemon], KEYS[kb + K.due],
      KEYS[kb + K.inflight], KEYS[kb + K.receipts], KEYS[kb + K.queue_high], KEYS[kb + K.queue_low]}
    if group_keys == K.records then k[KEY.sessions], k[KEY.records] = KEYS[kb + K.sessions], KEYS[kb + K.records] end
    local a = {ARGV[b + G.orchestrator], ARGV[b + G.session], ARGV[b + G.daemon], false, ARGV[b + G.marker],
      ARGV[b + G.channel], false, ARGV[S.max_events], ARGV[S.max_queue], ARGV[S.queueing], ARGV[S.marker_ttl],
      ARGV[S.list_ttl], ARGV[b + G.item_expiry], ARGV[b + G.now], ARGV[b + G.dedupe], ARGV[b + G.queue_key_expiry],
      ARGV[b + G.receipts], false, ARGV[b + G.deadline], false, ARGV[b + G.queue_only], false, ARGV[b + G.refresh]}
    add_channel(channels, a[ARG.daemon], a[ARG.channel])
    groups[j + 1] = {k, a}
  end
  return {n = n, groups = groups, channels = channels, markers = group_keys * g,
    messages = SHARED_ARGS + GROUP_ARGS * g}
end

-- route_nth: routes message `i` (from 0) of a call read by read_route_call, as route_message.
local function route_nth(call, i)
  local at = call.messages + GROUP_MESSAGE_ARGS * i
  local group = call.groups[small_number(ARGV[at + MESSAGE_ARG.group])]
  local k, a = group[1], group[2]
  k[KEY.marker] = KEYS[call.markers + i + 1]
  a[ARG.event] = ARGV[at + MESSAGE_ARG.event]
  a[ARG.item] = ARGV[at + MESSAGE_ARG.item]
  a[ARG.record] = ARGV[at + MESSAGE_ARG.record]
  a[ARG.message_id] = ARGV[at + MESSAGE_ARG.message_id]
  a[ARG.level] = ARGV[at + MESSAGE_ARG.level]
  return route_message(k, a)
end
