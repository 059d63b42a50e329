-- lib/broadcast.lua: broadcast routing's targets: every living active session, one per daemon
-- (broadcast_sessions), whether they are still those a step was planned for (targets_are), and
-- how they are replied (sessions_reply). Takes lib/sessions.lua.

-- broadcast_sessions: with broadcast routing, the raw JSON of the sessions messages go to: the
-- primary (if active) first, then every other living active session, most recently active first,
-- one per daemon.
local function broadcast_sessions(session_key, sessions_key, records_key, now)
  local primary = current_session(session_key, sessions_key, records_key, now)
  local first = primary and session_active(primary)
  if not first then return {} end
  local targets, daemons = {primary}, {[first.daemonId] = true}
  local ids = redis.call('ZRANGE', sessions_key, '+inf', '(' .. now, 'BYSCORE', 'REV')
  for i = 1, #ids do
    if ids[i] ~= first.sessionId then
      local raw = redis.call('HGET', records_key, ids[i])
      local session = raw and session_active(raw)
      if session and not daemons[session.daemonId] then
        daemons[session.daemonId] = true
        targets[#targets + 1] = raw
      end
    end
  end
  return targets
end

-- targets_are: whether the broadcast sessions are exactly the primary (`session_id`, `daemon_id`)
-- and `copies` ({session_id, daemon_id} each), in any order: a heartbeat that makes another
-- session the primary changes the order, not the targets.
local function targets_are(sessions, session_id, daemon_id, copies)
  if #sessions ~= #copies + 1 then return false end
  local pair = function(s, d) return #s .. ':' .. s .. d end
  local wanted = {[pair(session_id, daemon_id)] = true}
  for i = 1, #copies do wanted[pair(copies[i].session_id, copies[i].daemon_id)] = true end
  for i = 1, #sessions do
    local session = session_active(sessions[i])
    if not session or not wanted[pair(session.sessionId, session.daemonId)] then return false end
  end
  return true
end

-- sessions_reply: broadcast sessions as one JSON array.
local function sessions_reply(sessions)
  return '[' .. table.concat(sessions, ',') .. ']'
end
