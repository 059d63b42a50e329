-- lib/steps.lua: what the steps over delivered-or-queued items (drain_step.lua, redeliver_step.lua)
-- share: their first keys and arguments by name (STEP_KEY, STEP_ARG), where their broadcast copies'
-- and items' arguments are (step_copies, step_items), and the checks before they write
-- (step_channels, step_stale, step_room). Takes lib/outbox.lua, lib/sessions.lua, lib/broadcast.lua.

-- The keys every step starts with, by position, then each copy's daemon list (from `copies`),
-- then the step's own. src/store/redis/calls/mod.rs writes them in this order (STEP_KEYS
-- in calls/tests.rs).
local STEP_KEY = {session = 1, queue = 2, daemon = 3, due = 4, inflight = 5, receipts = 6,
  queue_high = 7, queue_low = 8, sessions = 9, records = 10, copies = 11}

-- The arguments every step starts with, by position (STEP_ARGS in calls/tests.rs): orchestratorId,
-- the expected sessionId ('' when none) and daemonId, the daemon's channel and maxEvents. Each
-- step's own follow, named in its file; then, from its `copies` argument, COPY_ARGS per copy
-- (sessionId, daemonId, channel), then its items.
local STEP_ARG = {orchestrator = 1, session = 2, daemon = 3, channel = 4, max_events = 5}
local COPY_ARGS = 3

-- step_copies: the broadcast copies of a step, `c` of them, their (session, daemon, channel)
-- arguments from ARGV[first_arg].
local function step_copies(c, first_arg)
  local copies = {}
  for j = 1, c do
    local base = first_arg + COPY_ARGS * (j - 1)
    copies[j] = {key = KEYS[STEP_KEY.copies + j - 1], session_id = ARGV[base], daemon_id = ARGV[base + 1],
                 channel = ARGV[base + 2]}
  end
  return copies
end

-- step_items: where the items' arguments start, after `c` copies' from ARGV[first_copy_arg], and
-- how many each item takes: `per_item` of its own, then one per copy (its daemon event). The
-- arguments of item i (from 1) start at first + stride * (i - 1).
local function step_items(c, first_copy_arg, per_item)
  return first_copy_arg + COPY_ARGS * c, per_item + c
end

-- step_channels: the channels a step publishes on (see refused): its expected daemon's, unless it
-- expects none, and each copy's.
local function step_channels(copies)
  local channels = {}
  if ARGV[STEP_ARG.session] ~= '' then channels[ARGV[STEP_ARG.channel]] = true end
  for j = 1, #copies do channels[copies[j].channel] = true end
  return channels
end

-- step_stale: nil while the step's expected session (and, with broadcast routing, its copies)
-- are still the targets, else the 'stale' reply with the current ones.
local function step_stale(broadcast, now, copies)
  local session_id, daemon_id = ARGV[STEP_ARG.session], ARGV[STEP_ARG.daemon]
  if broadcast == '1' then
    local sessions = broadcast_sessions(KEYS[STEP_KEY.session], KEYS[STEP_KEY.sessions], KEYS[STEP_KEY.records], now)
    if targets_are(sessions, session_id, daemon_id, copies) then return nil end
    return {'stale', sessions_reply(sessions)}
  end
  local raw = redis.call('GET', KEYS[STEP_KEY.session])
  if session_is(raw, session_id, daemon_id) then return nil end
  return {'stale', raw}
end

-- step_room: how many events every target daemon list (the primary's and each copy's) has room
-- for; or, as a second value, the WRONGTYPE error of one that is not a list (checked before a step
-- writes anything: Redis does not roll a script back).
local function step_room(copies)
  local daemon = KEYS[STEP_KEY.daemon]
  local wrong_type = lists_or_error(daemon, copies)
  if wrong_type then return 0, wrong_type end
  local max_events = tonumber(ARGV[STEP_ARG.max_events])
  local room = max_events - daemon_length(daemon)
  for j = 1, #copies do room = math.min(room, max_events - daemon_length(copies[j].key)) end
  return room, nil
end
