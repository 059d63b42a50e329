-- due_version (Redis Cluster only): an orchestrator's due time with a new version, for the router
-- to copy into the index (after a step that files the orchestrator without answering its due time,
-- and in the sweep).
-- KEYS: 1 routing:due:{orch}  2 routing:outbox-seq:{orch}
-- ARGV: 1 orchestratorId  2 sequence key TTL s
-- Returns {due time or '', version}.
return {redis.call('ZSCORE', KEYS[1], ARGV[1]) or '', next_sequence(KEYS[2], ARGV[2])}
