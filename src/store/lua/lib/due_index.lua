-- lib/due_index.lua: when a router next looks at an orchestrator: the due index (routing:pending,
-- its deployed name), fed by the orchestrator's queue and its receipt deadlines (track_receipt,
-- file_orchestrator).
-- Takes lib/queue.lua.

-- track_receipt: with delivery receipts on, records a delivered message as awaiting its
-- acknowledgement until `deadline` (ms), and makes sure a router looks at it by then.
local function track_receipt(inflight_key, deadlines_key, index_key, member, message_id, record, deadline)
  redis.call('HSET', inflight_key, message_id, record)
  redis.call('ZADD', deadlines_key, deadline, message_id)
  redis.call('ZADD', index_key, 'LT', deadline, member)
end

-- file_orchestrator: files the orchestrator in the due index at the earlier of `queue_score`
-- (when its queue is not empty) and its earliest receipt deadline, or removes it when neither.
local function file_orchestrator(index_key, member, queues, deadlines_key, queue_score)
  local score = nil
  if queue_length(queues) > 0 then score = tonumber(queue_score) end
  local first = redis.call('ZRANGE', deadlines_key, 0, 0, 'WITHSCORES')
  if first[2] then
    local deadline = tonumber(first[2])
    if not score or deadline < score then score = deadline end
  end
  if score then
    redis.call('ZADD', index_key, score, member)
  else
    redis.call('ZREM', index_key, member)
  end
end
