-- lib/route_broadcast.lua: routing one message with broadcast routing (route_broadcast), for
-- route_broadcast.lua. Takes lib/route.lua and lib/broadcast.lua.

-- The commands broadcast routing may call: routing's (lib/route.lua), and TYPE. (Not built with
-- `unpack`: a Redis Function's library is loaded where only the redis API is global.)
local BROADCAST_COMMANDS = {'type'}
for i = 1, #ROUTE_COMMANDS do BROADCAST_COMMANDS[i + 1] = ROUTE_COMMANDS[i] end

-- push_event: pushes an event to a daemon's list and channel.
local function push_event(key, event, channel, ttl)
  redis.call('LPUSH', key, outbox_entry(event))
  routed_lengths[key] = list_length(key) + 1
  routed_pushed[key] = ttl
  announce(channel, event)
end

-- route_broadcast: route_message for broadcast routing: delivers one message to the daemon of
-- every living active session (each daemon once) or queues it, in one step. The primary is
-- ARG.session, ARG.daemon with its list KEY.daemon and event ARG.event; `copies` are the other
-- targets, each {key, session_id, daemon_id, event, channel}. Replies as route_message, the copies'
-- session ids following the primary's in 'delivered'; a 'stale' reply carries every target's session.
local function route_broadcast(k, a, copies)
  if a[ARG.queue_only] == '1' then return queue(k, a, 'offline', a[ARG.item_expiry]) end
  local sessions = broadcast_sessions(k[KEY.session], k[KEY.sessions], k[KEY.records], a[ARG.now])
  if #sessions == 0 then return queue(k, a, 'offline', a[ARG.item_expiry]) end
  if not targets_are(sessions, a[ARG.session], a[ARG.daemon], copies) then
    return {'stale', sessions_reply(sessions)}
  end

  local daemon, max_events = k[KEY.daemon], tonumber(a[ARG.max_events])
  local full = list_length(daemon) >= max_events
  for i = 1, #copies do full = full or list_length(copies[i].key) >= max_events end
  if waits_behind(k, tonumber(a[ARG.level])) or full then return queue(k, a, 'pending', a[ARG.now]) end
  -- Every list is checked before anything is written, so that no push can fail half way.
  local wrong_type = lists_or_error(daemon, copies)
  if wrong_type then return wrong_type end
  if not redis.call('SET', k[KEY.marker], a[ARG.marker], 'NX', 'EX', a[ARG.marker_ttl]) then
    return {'already', redis.call('GET', k[KEY.marker])}
  end
  push_event(daemon, a[ARG.event], a[ARG.channel], a[ARG.list_ttl])
  local reply = {'delivered', a[ARG.session]}
  for i = 1, #copies do
    push_event(copies[i].key, copies[i].event, copies[i].channel, a[ARG.list_ttl])
    reply[#reply + 1] = copies[i].session_id
  end
  track_route_receipt(k, a)
  return reply
end
