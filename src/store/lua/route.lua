-- route: delivers one message to the orchestrator's daemon through the expected session, or
-- queues it, in one atomic step.
-- KEYS and ARGV: the grouped layout of lib/route.lua (read_route_call), with one message in one
-- group. A message's keys and arguments, by name:
-- KEYS: session routing:session:<orch>, queue routing:queue:<orch>, marker routing:delivered:<msg>,
--       daemon daemon:events:<daemon>, due routing:pending, inflight routing:inflight:<orch>,
--       receipts routing:receipts:<orch>, queue_high routing:queue-high:<orch>, queue_low
--       routing:queue-low:<orch> (queue is the normal level); sessions routing:sessions:<orch> and
--       records routing:session-records:<orch> only with several sessions per orchestrator
-- ARGV: orchestrator, session (expected sessionId), daemon (expected daemonId), event (daemon event
--       JSON), marker (delivered marker JSON), channel (the daemon's), item (queue item JSON),
--       max_events (daemon), max_queue, queueing ('1'/'0'), marker_ttl (s), list_ttl (s),
--       item_expiry (ms), now (ms), dedupe ('1'/'0'), queue_key_expiry (ms), receipts ('1'/'0'),
--       record (in-flight record JSON), deadline (receipt, ms), message_id, queue_only ('1': the
--       presence service says offline; queue without looking for a session), level (1 high,
--       2 normal, 3 low), refresh ('1': refresh the daemon list's TTL)
-- Returns: {'delivered', sessionId} | {'already', markerJSON} | {'stale', sessionJSON}
--        | {'queued', 'offline'|'pending', queueSize, dropped...} | {'refused', 'offline'|'pending'}
--        | {'full', 'offline'|'pending', queueSize, dropped...} (not queued: everything queued outranks it)
local call = read_route_call()
local denied = refused('route', ROUTE_COMMANDS, call.channels)
if denied then return denied end
local reply = route_nth(call, 0)
finish_routes()
return reply
