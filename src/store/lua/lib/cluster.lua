-- lib/cluster.lua: a delivering step on a Redis Cluster: its extra keys and argument, its wider
-- least-privilege check and its reply (cluster_reply). Comes after the step's other includes
-- (it takes lib/acl.lua and lib/outbox.lua).
-- On a Redis Cluster, a step that delivers takes two more keys, the orchestrator's sequence key
-- (routing:outbox-seq:{orch}) and its due key (routing:due:{orch}, which the step also has as its
-- index key), and one more argument, JSON: {"orchestrator": <id>, "seqTtl": <seconds>, "file":
-- <true to answer the due time even if unchanged>, "lengths": {<outbox key>: <its daemon list's
-- length, read just before>}}. They are taken off KEYS and ARGV here, so the step reads its own
-- keys and arguments as on one server (see OUTBOX in lib/outbox.lua); the step runs as a function
-- whose reply cluster_reply wraps.
OUTBOX = cjson.decode(table.remove(ARGV))
OUTBOX.due_key = table.remove(KEYS)
OUTBOX.seq_key = table.remove(KEYS)
OUTBOX.seq_ttl = OUTBOX.seqTtl
local due_before = redis.call('ZSCORE', OUTBOX.due_key, OUTBOX.orchestrator)

-- refused (lib/acl.lua), on a cluster: the step publishes nothing (push_outbox.lua does, after
-- it), and numbers outbox entries (next_sequence) and answers the outbox (cluster_reply), which
-- take these commands.
local OUTBOX_COMMANDS = {'time', 'get', 'set', 'zscore', 'lrange'}
local refused_on_one_server = refused
refused = function(step, commands)
  return refused_on_one_server(step, commands) or refused_on_one_server(step, OUTBOX_COMMANDS)
end

-- cluster_reply: the step's reply, then what the router does next: the orchestrator's due time
-- ('' when it is due no look) and its version (a number of the orchestrator's sequence; '' when the
-- step left the due time as it was and was not asked to file it), which the router copies into the
-- index; then each target outbox that holds entries, with its oldest entries (up to 500, oldest
-- first), for the router to move into the daemon lists. An error reply is passed on as it is.
local function cluster_reply(reply)
  if type(reply) == 'table' and reply.err then return reply end
  local due = redis.call('ZSCORE', OUTBOX.due_key, OUTBOX.orchestrator)
  local version = ''
  if due ~= due_before or OUTBOX.file then version = next_sequence(OUTBOX.seq_key, OUTBOX.seq_ttl) end
  local out = {reply, due or '', version}
  for key in pairs(OUTBOX.lengths) do
    local entries = redis.call('LRANGE', key, -500, -1)
    if #entries > 0 then
      local oldest_first = {}
      for i = #entries, 1, -1 do oldest_first[#oldest_first + 1] = entries[i] end
      out[#out + 1] = key
      out[#out + 1] = oldest_first
    end
  end
  return out
end
