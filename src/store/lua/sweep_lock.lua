-- sweep_lock (Redis Cluster only): whether this router sweeps now. The router holding the lock
-- keeps it (each turn renews it), so one router's sweep goes on from where it stopped; another
-- takes it when the holder stops renewing.
-- KEYS: 1 routing:pending-sweep:{routing:pending}
-- ARGV: 1 this router's token  2 lock TTL ms
-- Returns 1 if this router holds the lock now, else 0.
local denied = refused('sweep lock', {'get', 'pexpire', 'set'})
if denied then return denied end
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
