-- On a Redis Cluster, a step that delivers takes one more key, the orchestrator's outbox sequence
-- key (routing:outbox-seq:{orch}), and one more argument, JSON:
-- {"lengths": {<outbox key>: <its daemon list's length, read just before>}, "seqTtl": <seconds>}.
-- Both are taken off KEYS and ARGV here, so the step reads its own keys and arguments as on one
-- server (see OUTBOX in common.lua).
OUTBOX = cjson.decode(table.remove(ARGV))
OUTBOX.seq_key = table.remove(KEYS)
OUTBOX.seq_ttl = OUTBOX.seqTtl
