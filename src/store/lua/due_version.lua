-- due_version (Redis Cluster only): an orchestrator's due time and a version for copying it into
-- the index: a new number of its sequence (after a step that filed it without answering), or, for
-- the sweep ('read'), the last number given, which writes nothing.
-- KEYS: 1 routing:due:{orch}  2 routing:outbox-seq:{orch}
-- ARGV: 1 orchestratorId  2 sequence key TTL s  3 'read' or ''
-- Returns {due time or '', version}.
local denied = refused('due time', {'time', 'get', 'set', 'zscore'})
if denied then return denied end
local version
if ARGV[3] == 'read' then
  version = redis.call('GET', KEYS[2]) or '0'
else
  version = next_sequence(KEYS[2], ARGV[2])
end
return {redis.call('ZSCORE', KEYS[1], ARGV[1]) or '', version}
