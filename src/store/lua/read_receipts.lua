-- read_receipts: the (primary) session and the delivered messages whose receipt deadline has passed
-- (or comes by a given time).
-- KEYS: 1 routing:session:<orch>  2 routing:inflight:<orch>  3 routing:receipts:<orch>
--       4 routing:sessions:<orch>  5 routing:session-records:<orch>
-- ARGV: 1 now (ms)  2 limit  3 broadcast ('1': the session is every target session's JSON, as
--       one JSON array, the primary first)  4 the latest deadline read (ms; now, for the overdue)
-- Returns: {sessionJSON or false, messageId1, record1, messageId2, record2, ...}
local denied = refused('receipt reading', {'get', 'set', 'zrange', 'zrem', 'hget', 'hdel'})
if denied then return denied end
local reply = {}
if ARGV[3] == '1' then
  reply[1] = sessions_reply(broadcast_sessions(KEYS[1], KEYS[4], KEYS[5], ARGV[1]))
else
  reply[1] = current_session(KEYS[1], KEYS[4], KEYS[5], ARGV[1])
end
local due = redis.call('ZRANGE', KEYS[3], '-inf', ARGV[4], 'BYSCORE', 'LIMIT', 0, ARGV[2])
for i = 1, #due do
  local record = redis.call('HGET', KEYS[2], due[i])
  if record then
    reply[#reply + 1] = due[i]
    reply[#reply + 1] = record
  else
    redis.call('ZREM', KEYS[3], due[i])
  end
end
return reply
