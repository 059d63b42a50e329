-- acknowledge_events: removes the events with the given ids from a daemon's event list (what the
-- daemon API does when a daemon acknowledges them).
-- KEYS: 1 daemon:events:<daemon>
-- ARGV: event ids...
-- Returns: how many events were removed
local denied = refused('daemon event acknowledgement', {'lrange', 'lrem'})
if denied then return denied end
local wanted = {}
for i = 1, #ARGV do wanted[ARGV[i]] = true end
local removed = 0
for _, event in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local ok, decoded = pcall(cjson.decode, event)
  if ok and type(decoded) == 'table' and wanted[decoded.id] then
    removed = removed + redis.call('LREM', KEYS[1], 1, event)
  end
end
return removed
