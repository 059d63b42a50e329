-- lib/acl.lua: least privilege. `refused`, which every script calls first, and what it needs.
-- Redis checks a command a script calls against the user's ACL only when the script calls it,
-- and keeps whatever the script wrote before a refused one (a script is not rolled back): a
-- delivered marker set, then its LPUSH refused, would mark a message delivered that never reached
-- its daemon. So every script first asks whether this user may run each command it may call, and
-- may publish on each channel it may publish on, and refuses the whole step before writing
-- anything otherwise, naming what is missing (the scripts that only read ask too, so that every
-- refusal names its command; route.lua asks in two turns, before it reads and before the path it
-- takes writes: see ROUTE_READS in lib/route.lua). Keys need no such check: Redis refuses the
-- whole call when the user may not read and write one of its KEYS. (ACL selectors granting a
-- command on some keys only are not covered: the check is per command.) On a Redis Cluster,
-- lib/cluster.lua widens the check.

-- denial: the NOPERM error reply for `step` (its name) when the user may not do `what`.
local function denial(step, what)
  return redis.error_reply('NOPERM the Redis user may not ' .. what .. ', which the ' .. step
    .. ' step needs: refused before writing anything (grant it, as the README\'s least-privilege ACL does)')
end

-- How many arguments after the key each command checked takes at least. redis.acl_check_cmd must
-- be given a well-formed call: Redis 7.0 reads a command's keys where its key spec says they are,
-- past the arguments given if there are too few (a check of a bare 'set' answered at random and
-- once crashed the server). Every check names KEYS[1], a key the user may use (Redis refused the
-- call otherwise), so that only the command's permission decides.
local CHECK_ARITY = {get = 0, set = 1, del = 0, type = 0, expire = 1, pexpire = 1, pexpireat = 1,
  pexpiretime = 0, llen = 0, lpos = 1, lpop = 0, lpush = 1, rpush = 1, lrange = 2, ltrim = 2, lrem = 2,
  zadd = 2, zrange = 2, zrem = 1, zscore = 1, zremrangebyscore = 2, zcard = 0, hget = 1, hgetall = 0, hset = 2,
  hdel = 1, lindex = 1}

-- What may_run answered in this script call, per command: a step may ask again before each of
-- its paths (see route_message in lib/route.lua), and each check costs about 3,000 instructions.
local acl_answers = {} -- per call

-- may_run: whether this user may run `command` (lower case; one of CHECK_ARITY's, or 'time').
local function may_run(command)
  local answer = acl_answers[command]
  if answer ~= nil then return answer end
  local arity = CHECK_ARITY[command]
  if command == 'time' then answer = redis.acl_check_cmd('time')
  elseif arity == 0 then answer = redis.acl_check_cmd(command, KEYS[1])
  elseif arity == 1 then answer = redis.acl_check_cmd(command, KEYS[1], '0')
  elseif arity == 2 then answer = redis.acl_check_cmd(command, KEYS[1], '0', '0')
  else error('may_run: no arity known for ' .. command) end
  acl_answers[command] = answer
  return answer
end

-- refused: nil when this user may run every command of `commands` and publish on each channel of
-- `channels` (a set: channel -> true; nil when the step publishes nothing); else the NOPERM error
-- reply naming the first command or channel it may not, for `step` (its name).
local function refused(step, commands, channels)
  for i = 1, #commands do
    if not may_run(commands[i]) then return denial(step, "run '" .. commands[i] .. "'") end
  end
  if channels then
    for channel in pairs(channels) do
      if not redis.acl_check_cmd('publish', channel, '') then
        return denial(step, "run 'publish' on channel '" .. channel .. "'")
      end
    end
  end
  return nil
end
