-- route: delivers one message to the orchestrator's daemon through the expected session, or
-- queues it, in one atomic step.
-- KEYS: 1 routing:session:<orch>  2 routing:queue:<orch>  3 routing:delivered:<msg>
--       4 daemon:events:<daemon>  5 routing:pending  6 routing:inflight:<orch>  7 routing:receipts:<orch>
--       8 routing:queue-high:<orch>  9 routing:queue-low:<orch>  (2 is the normal level)
--       10 routing:sessions:<orch>  11 routing:session-records:<orch> (only with several sessions
--       per orchestrator)
-- ARGV: 1 orchestratorId  2 expected sessionId  3 expected daemonId  4 daemon event JSON
--       5 delivered marker JSON  6 daemon channel  7 queue item JSON  8 daemon maxEvents
--       9 maxQueueSize  10 queue enabled ('1'/'0')  11 marker TTL s  12 daemon list TTL s
--       13 queue item expiry (ms)  14 now (ms)  15 dedupe ('1'/'0')  16 queue key expiry (ms)
--       17 receipts ('1'/'0')  18 in-flight record JSON  19 receipt deadline (ms)  20 messageId
--       21 queue only ('1': the presence service says offline; queue without looking for a session)
--       22 priority level (1 high, 2 normal, 3 low)  23 refresh the daemon list's TTL ('1'/'0')
--       (lib/route.lua names these positions: KEY, ARG)
-- Returns: {'delivered', sessionId} | {'already', markerJSON} | {'stale', sessionJSON}
--        | {'queued', 'offline'|'pending', queueSize, dropped...} | {'refused', 'offline'|'pending'}
--        | {'full', 'offline'|'pending', queueSize, dropped...} (not queued: everything queued outranks it)
local channels = {}
add_channel(channels, ARGV[ARG.daemon], ARGV[ARG.channel])
-- With several sessions, reading them may promote one (a write): everything is asked first.
local denied = refused('route', KEYS[KEY.sessions] and ROUTE_COMMANDS or ROUTE_READS, channels)
if denied then return denied end
route_all_asked = KEYS[KEY.sessions] ~= nil
local reply = route_message(KEYS, ARGV)
finish_routes()
return reply
