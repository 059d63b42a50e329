-- lib/sessions.lua: an orchestrator's sessions: reading one (session_active, session_id_of,
-- session_is), the primary (current_session, promote_session) and the session set's upkeep
-- (prune_sessions, keep_sessions).
-- routing:session:<orch> holds the primary session, the most recently active one, as
-- the deployed service kept its one session. With several sessions per orchestrator, each is also
-- in routing:session-records:<orch> (hash: session id -> session JSON) and routing:sessions:<orch>
-- (sorted set: session id scored by when it expires, in ms).

-- session_active: the decoded session when the raw session JSON is an active session, else nil
-- (decoded once however many messages ask: within a script call, and across the calls of a Redis
-- Function, whose library keeps this memo: a route's decode of the session JSON was 7 % of a lone
-- route's instructions in Redis. Each entry is a pure function of its raw JSON, so none is ever
-- stale; the memo is emptied when it holds MAX_DECODED, about 300 KB.)
local decoded_sessions, decoded_count, MAX_DECODED = {}, 0, 512 -- kept across calls
local function session_active(raw)
  if not raw then return nil end
  local cached = decoded_sessions[raw]
  if cached ~= nil then return cached or nil end
  if decoded_count >= MAX_DECODED then decoded_sessions, decoded_count = {}, 0 end
  decoded_count = decoded_count + 1
  local ok, session = pcall(cjson.decode, raw)
  -- Active, and with the ids a route checks (the router's Rust side reads no session without them).
  if not ok or type(session) ~= 'table' or session.status ~= 'active'
    or type(session.sessionId) ~= 'string' or type(session.daemonId) ~= 'string' then
    session = false
  end
  decoded_sessions[raw] = session
  return session or nil
end

-- session_id_of: the sessionId of raw session JSON, or nil when it cannot be read.
local function session_id_of(raw)
  local ok, session = pcall(cjson.decode, raw)
  if ok and type(session) == 'table' and type(session.sessionId) == 'string' then return session.sessionId end
  return nil
end

-- promote_session: writes the most recently active living active session into the primary's
-- key, for the rest of its lifetime, and returns it (false when there is none; the key is left
-- as it is). With `skip_first`, the first such session is removed from the set instead (see
-- current_session).
local function promote_session(session_key, sessions_key, records_key, now, skip_first)
  local live = redis.call('ZRANGE', sessions_key, '+inf', '(' .. now, 'BYSCORE', 'REV', 'WITHSCORES')
  for i = 1, #live, 2 do
    local record = redis.call('HGET', records_key, live[i])
    if record and session_active(record) then
      if skip_first then
        redis.call('ZREM', sessions_key, live[i])
        redis.call('HDEL', records_key, live[i])
        skip_first = false
      else
        redis.call('SET', session_key, record, 'PX', math.max(1, tonumber(live[i + 1]) - tonumber(now)))
        return record
      end
    end
  end
  return false
end

-- current_session: the raw primary session, or false: the most recently active session that is
-- active. When the one in routing:session:<orch> has expired or is not active, and another session
-- of the orchestrator lives and is active, the most recently active of those becomes the primary.
-- Every write keeps the most recently active active session in the key, so when the key is gone
-- while that session still lives in the set, the key was deleted (a deployed instance
-- unregistered the session) or expired a moment before its entry (clocks differ): that session
-- is gone too, and the next one takes its place. Without the session set (one session per
-- orchestrator, `sessions_key` nil) it is just the stored session.
local function current_session(session_key, sessions_key, records_key, now)
  local raw = redis.call('GET', session_key)
  if raw and session_active(raw) then return raw end
  if not sessions_key then return raw or false end
  return promote_session(session_key, sessions_key, records_key, now, not raw) or raw or false
end

-- prune_sessions: forgets the sessions that expired by `now`.
local function prune_sessions(sessions_key, records_key, now)
  local gone = redis.call('ZRANGE', sessions_key, '-inf', now, 'BYSCORE')
  if #gone > 0 then
    redis.call('ZREM', sessions_key, unpack(gone))
    redis.call('HDEL', records_key, unpack(gone))
  end
end

-- keep_sessions: lets both session sets expire with their last living session.
local function keep_sessions(sessions_key, records_key)
  local last = redis.call('ZRANGE', sessions_key, -1, -1, 'WITHSCORES')
  if last[2] then
    redis.call('PEXPIREAT', sessions_key, last[2])
    redis.call('PEXPIREAT', records_key, last[2])
  else
    redis.call('DEL', records_key)
  end
end

-- session_is: whether the raw session JSON is an active session with these ids.
local function session_is(raw, session_id, daemon_id)
  local session = session_active(raw)
  return session ~= nil and session.sessionId == session_id and session.daemonId == daemon_id
end
