-- lib/outbox.lua: daemon event lists as a step writes them: directly on one server, through the
-- orchestrator's outbox on a Redis Cluster (OUTBOX, next_sequence, outbox_entry, announce,
-- daemon_length), and the check that a daemon key holds a list (list_or_error, lists_or_error).
-- On one server a step pushes a daemon's events straight into its list and publishes them on its
-- channel. On a Redis Cluster the list lives in another slot than the orchestrator's keys: the key
-- the router passes where the daemon list would be is then the orchestrator's outbox for that
-- daemon (routing:outbox:{orch}:<daemon>, in the orchestrator's slot), the step pushes each event
-- there behind a sequence number, and the router moves them into the daemon's list and channel
-- right after the step (push_outbox.lua), each exactly once.
-- OUTBOX is set by lib/cluster.lua on a cluster, and nil on one server.
local OUTBOX = nil -- per call

-- next_sequence: the next number of an orchestrator's sequence (Redis Cluster), as a string. Numbers
-- only grow: each is above the last one given (kept in `key` for `ttl` seconds) and at least the
-- server's clock in microseconds, so they keep growing even if that key was lost. They number the
-- outbox entries and version the due times the router copies into the index. Within one script
-- call the key is read once.
local sequence_next = {} -- per call
local function next_sequence(key, ttl)
  if not sequence_next[key] then
    local time = redis.call('TIME')
    local clock = tonumber(time[1]) * 1000000 + tonumber(time[2])
    sequence_next[key] = math.max(tonumber(redis.call('GET', key) or '0') + 1, clock)
  end
  local sequence = string.format('%d', sequence_next[key])
  sequence_next[key] = sequence_next[key] + 1
  redis.call('SET', key, sequence, 'EX', ttl)
  return sequence
end

-- outbox_entry: what a step pushes for `event`: the event itself on one server; on a cluster, the
-- event behind the next number of the orchestrator's sequence.
local function outbox_entry(event)
  if not OUTBOX then return event end
  return next_sequence(OUTBOX.seq_key, OUTBOX.seq_ttl) .. ' ' .. event
end

-- announce: publishes an event on a daemon's channel (on a cluster, moving it into the daemon's
-- list does, after the step).
local function announce(channel, event)
  if not OUTBOX then redis.call('PUBLISH', channel, event) end
end

-- daemon_length: how many events a daemon's list holds; on a cluster, how many it held when the
-- router read it just before the step, plus the events waiting in the outbox `key` to be moved.
local function daemon_length(key)
  local length = redis.call('LLEN', key)
  if OUTBOX then length = length + (OUTBOX.lengths[key] or 0) end
  return length
end

-- list_or_error: nil when `key` holds a list or nothing, else a WRONGTYPE error reply (checked
-- before a script writes anything: Redis does not roll a script back).
local function list_or_error(key)
  local kind = redis.call('TYPE', key).ok
  if kind ~= 'list' and kind ~= 'none' then
    return redis.error_reply('WRONGTYPE ' .. key .. ' holds a ' .. kind .. ', not a list')
  end
  return nil
end

-- lists_or_error: list_or_error for a daemon list `key` and each broadcast copy's list.
local function lists_or_error(key, copies)
  local wrong_type = list_or_error(key)
  for j = 1, #copies do wrong_type = wrong_type or list_or_error(copies[j].key) end
  return wrong_type
end
