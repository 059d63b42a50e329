//! The in-process implementation of [`Store`] (`redis: 'memory://'`): Redis's data model for the
//! router's keys, held in maps under one lock, each method one atomic step doing what its Lua
//! script does on Redis — the same TTLs, cap, order, priorities, sessions and receipts.
//!
//! Routers in one process that name the same store (`memory://<name>`, `memory://` being the
//! store named `default`) and use the same key prefix share its data, as routers sharing one
//! Redis server do; the data lives as long as a router uses it.

use super::{
    DrainAction, DrainReply, DrainStep, ItemOutcome, OverdueReceipts, Priority, QueueInspection, QueueSnapshot, QueueStatus,
    ReceiptAction, ReceiptOutcome, ReceiptReply, ReceiptStep, RouteReply, RouteRequest, Store, StoreError, StoreLimits,
    StoreResult, Touched, QUEUE_KEY_GRACE_MS,
};
use serde::Deserialize;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// A sorted set of members scored in ms, as the router's Redis sorted sets hold them.
#[derive(Debug, Default)]
struct ZSet {
    scores: HashMap<String, i64>,
    order: BTreeSet<(i64, String)>,
}

impl ZSet {
    /// ZADD.
    fn add(&mut self, member: &str, score: i64) {
        if let Some(old) = self.scores.insert(member.to_owned(), score) {
            self.order.remove(&(old, member.to_owned()));
        }
        self.order.insert((score, member.to_owned()));
    }

    /// ZADD LT: adds, or lowers an existing score.
    fn add_lower(&mut self, member: &str, score: i64) {
        if self.scores.get(member).is_none_or(|&old| score < old) {
            self.add(member, score);
        }
    }

    /// ZADD XX: changes the score of a member that exists.
    fn update(&mut self, member: &str, score: i64) {
        if self.scores.contains_key(member) {
            self.add(member, score);
        }
    }

    fn remove(&mut self, member: &str) -> bool {
        match self.scores.remove(member) {
            Some(score) => self.order.remove(&(score, member.to_owned())),
            None => false,
        }
    }

    /// ZRANGE -inf max BYSCORE LIMIT 0 limit.
    fn up_to(&self, max: i64, limit: usize) -> Vec<String> {
        self.order.iter().take_while(|(score, _)| *score <= max).take(limit).map(|(_, m)| m.clone()).collect()
    }

    fn first_score(&self) -> Option<i64> {
        self.order.first().map(|(score, _)| *score)
    }

    fn len(&self) -> usize {
        self.scores.len()
    }
}

/// One orchestrator's keys.
#[derive(Debug, Default)]
struct Orchestrator {
    /// `routing:session:<id>`: the primary session's JSON and when it expires (ms).
    session: Option<(String, i64)>,
    /// `routing:sessions:<id>` and `routing:session-records:<id>`: session id → (JSON, expiry ms).
    sessions: HashMap<String, (String, i64)>,
    /// The queue levels (high, normal, low), oldest first, and when each list expires (ms).
    queues: [VecDeque<String>; 3],
    queue_expiry: [i64; 3],
    /// `routing:inflight:<id>` and `routing:receipts:<id>`.
    inflight: HashMap<String, String>,
    receipts: ZSet,
    /// `routing:dead:<id>`, oldest first.
    dead: VecDeque<String>,
}

impl Orchestrator {
    /// Drops what has expired by `now`.
    fn expire(&mut self, now: i64) {
        if self.session.as_ref().is_some_and(|(_, expiry)| *expiry <= now) {
            self.session = None;
        }
        self.sessions.retain(|_, (_, expiry)| *expiry > now);
        for (queue, expiry) in self.queues.iter_mut().zip(&self.queue_expiry) {
            if *expiry <= now {
                queue.clear();
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.session.is_none()
            && self.sessions.is_empty()
            && self.queues.iter().all(VecDeque::is_empty)
            && self.inflight.is_empty()
            && self.receipts.len() == 0
            && self.dead.is_empty()
    }

    fn queue_length(&self) -> u64 {
        self.queues.iter().map(|q| q.len() as u64).sum()
    }

    /// The first `n` items in drain order, and how many each level gave.
    fn head(&self, n: usize) -> (Vec<&String>, [usize; 3]) {
        let mut head = Vec::with_capacity(n);
        let mut counts = [0; 3];
        for (level, queue) in self.queues.iter().enumerate() {
            let take = (n - head.len()).min(queue.len());
            head.extend(queue.iter().take(take));
            counts[level] = take;
        }
        (head, counts)
    }

    /// Removes the first `n` items in drain order.
    fn take_head(&mut self, mut n: usize) {
        for queue in &mut self.queues {
            let take = n.min(queue.len());
            queue.drain(..take);
            n -= take;
        }
    }

    fn keep_queue_until(&mut self, level: usize, expiry: i64) {
        self.queue_expiry[level] = self.queue_expiry[level].max(expiry);
    }

    /// The primary session's JSON, promoting the most recently active living active one when the
    /// stored primary expired or is not active (`current_session` in common.lua: a primary whose
    /// key is gone while its entry lives was deleted, and goes too).
    fn current_session(&mut self, now: i64) -> Option<String> {
        let raw = self.session.as_ref().map(|(json, _)| json.clone());
        if raw.as_deref().is_some_and(|r| active(r).is_some()) {
            return raw;
        }
        self.promote(now, raw.is_none()).or(raw)
    }

    /// Makes the most recently active living active session the primary and returns it
    /// (`promote_session` in common.lua); with `skip_first`, removes the first one instead.
    fn promote(&mut self, now: i64, mut skip_first: bool) -> Option<String> {
        let mut living: Vec<(String, String, i64)> =
            self.sessions.iter().filter(|(_, (_, expiry))| *expiry > now).map(|(id, (json, e))| (id.clone(), json.clone(), *e)).collect();
        living.sort_by(|a, b| (b.2, &b.0).cmp(&(a.2, &a.0)));
        for (id, json, expiry) in living {
            if active(&json).is_none() {
                continue;
            }
            if skip_first {
                self.sessions.remove(&id);
                skip_first = false;
            } else {
                self.session = Some((json.clone(), expiry));
                return Some(json);
            }
        }
        None
    }

    /// The other living sessions, most recently active first (ties as Redis orders them).
    fn others_by_recency(&self, now: i64, primary_id: Option<&str>) -> Vec<String> {
        let mut living: Vec<(&String, &(String, i64))> =
            self.sessions.iter().filter(|(id, (_, expiry))| *expiry > now && Some(id.as_str()) != primary_id).collect();
        living.sort_by(|a, b| (b.1 .1, b.0).cmp(&(a.1 .1, a.0)));
        living.into_iter().map(|(_, (json, _))| json.clone()).collect()
    }

    /// With broadcast routing: the primary (if active) and every other living active session,
    /// one per daemon (`broadcast_sessions` in common.lua).
    fn broadcast_sessions(&mut self, now: i64) -> Vec<String> {
        let Some(primary) = self.current_session(now) else { return Vec::new() };
        let Some(first) = active(&primary) else { return Vec::new() };
        let mut daemons: HashSet<String> = HashSet::from([first.daemon_id.clone()]);
        let mut targets = vec![primary];
        for json in self.others_by_recency(now, Some(&first.session_id)) {
            if let Some(session) = active(&json) {
                if daemons.insert(session.daemon_id) {
                    targets.push(json);
                }
            }
        }
        targets
    }
}

/// The fields of a session record the store reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionFields {
    session_id: String,
    daemon_id: String,
    status: String,
}

/// The session when the JSON is an active session.
fn active(raw: &str) -> Option<SessionFields> {
    serde_json::from_str::<SessionFields>(raw).ok().filter(|s| s.status == "active")
}

fn session_id_of(raw: &str) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Id {
        session_id: String,
    }
    serde_json::from_str::<Id>(raw).ok().map(|s| s.session_id)
}

/// Whether the JSON is an active session with these ids.
fn session_is(raw: Option<&str>, session_id: &str, daemon_id: &str) -> bool {
    raw.and_then(active).is_some_and(|s| s.session_id == session_id && s.daemon_id == daemon_id)
}

/// Whether the broadcast sessions are exactly the primary and `copies`, in any order (a heartbeat
/// that makes another session the primary changes the order, not the targets).
fn targets_are(sessions: &[String], session_id: &str, daemon_id: &str, copies: &[(&str, &str)]) -> bool {
    let wanted: HashSet<(&str, &str)> = std::iter::once((session_id, daemon_id)).chain(copies.iter().copied()).collect();
    sessions.len() == copies.len() + 1
        && sessions.iter().all(|raw| active(raw).is_some_and(|s| wanted.contains(&(s.session_id.as_str(), s.daemon_id.as_str()))))
}

fn sessions_reply(sessions: &[String]) -> String {
    format!("[{}]", sessions.join(","))
}

/// Everything one store holds.
#[derive(Debug, Default)]
struct State {
    orchestrators: HashMap<String, Orchestrator>,
    /// `routing:delivered:<messageId>`: marker JSON and expiry (ms).
    delivered: HashMap<String, (String, i64)>,
    /// `daemon:events:<daemonId>`: newest first, and when the list expires (ms).
    daemons: HashMap<String, (VecDeque<String>, i64)>,
    /// `routing:pending`.
    pending: ZSet,
    /// When [`State::sweep`] last ran (ms).
    swept_at: i64,
}

impl State {
    /// The orchestrator's keys, with what expired by `now` dropped.
    fn orchestrator(&mut self, id: &str, now: i64) -> &mut Orchestrator {
        let o = self.orchestrators.entry(id.to_owned()).or_default();
        o.expire(now);
        o
    }

    /// After a step: an emptied queue list loses its expiry (as a Redis key that empties is
    /// deleted), and an orchestrator that holds nothing any more is forgotten.
    fn tidy(&mut self, id: &str) {
        let Some(o) = self.orchestrators.get_mut(id) else { return };
        for (queue, expiry) in o.queues.iter().zip(o.queue_expiry.iter_mut()) {
            if queue.is_empty() {
                *expiry = 0;
            }
        }
        if o.is_empty() {
            self.orchestrators.remove(id);
        }
    }

    /// Drops everything that has expired (Redis drops expired keys by itself; here reads skip
    /// them, and this frees them).
    fn sweep(&mut self, now: i64) {
        self.swept_at = now;
        self.delivered.retain(|_, (_, expiry)| *expiry > now);
        self.daemons.retain(|_, (list, expiry)| *expiry > now && !list.is_empty());
        self.orchestrators.retain(|_, o| {
            o.expire(now);
            !o.is_empty()
        });
    }

    fn marker(&self, message_id: &str, now: i64) -> Option<&String> {
        self.delivered.get(message_id).filter(|(_, expiry)| *expiry > now).map(|(json, _)| json)
    }

    /// SET NX EX: writes the marker unless one lives; whether it was written.
    fn set_marker(&mut self, message_id: &str, marker: &str, ttl_seconds: u64, now: i64) -> bool {
        if self.marker(message_id, now).is_some() {
            return false;
        }
        self.delivered.insert(message_id.to_owned(), (marker.to_owned(), now + ttl_seconds as i64 * 1000));
        true
    }

    /// How many events every target daemon list (`daemon`'s and each copy's) has room for.
    fn room(&self, daemon: &str, copies: &[(&str, &str)], max_events: u64, now: i64) -> i64 {
        let lists = std::iter::once(daemon).chain(copies.iter().map(|(_, d)| *d));
        lists.map(|d| max_events as i64 - self.daemon_length(d, now) as i64).min().unwrap_or(0)
    }

    fn daemon_length(&self, daemon_id: &str, now: i64) -> usize {
        self.daemons.get(daemon_id).filter(|(_, expiry)| *expiry > now).map_or(0, |(list, _)| list.len())
    }

    /// LPUSH each event in turn (the last ends up newest) and EXPIRE.
    fn push_events<'e>(&mut self, daemon_id: &str, events: impl IntoIterator<Item = &'e str>, ttl_seconds: u64, now: i64) {
        let (list, expiry) = self.daemons.entry(daemon_id.to_owned()).or_default();
        if *expiry <= now {
            list.clear();
        }
        for event in events {
            list.push_front(event.to_owned());
        }
        *expiry = now + ttl_seconds as i64 * 1000;
    }

    /// Files the orchestrator in the pending index at the earlier of `queue_score` (when its
    /// queue is not empty) and its earliest receipt deadline, or removes it.
    fn file(&mut self, id: &str, queue_score: i64) {
        let o = &self.orchestrators[id];
        let queue = (o.queue_length() > 0).then_some(queue_score);
        let score = match (queue, o.receipts.first_score()) {
            (Some(q), Some(r)) => Some(q.min(r)),
            (q, r) => q.or(r),
        };
        match score {
            Some(score) => self.pending.add(id, score),
            None => {
                self.pending.remove(id);
            }
        }
    }

    fn track_receipt(&mut self, orchestrator_id: &str, message_id: &str, record: &str, deadline: i64, now: i64) {
        let o = self.orchestrator(orchestrator_id, now);
        o.inflight.insert(message_id.to_owned(), record.to_owned());
        o.receipts.add(message_id, deadline);
        self.pending.add_lower(orchestrator_id, deadline);
    }
}

/// The stores of this process, by (name, key prefix).
type Registry = Mutex<HashMap<(String, String), Weak<Mutex<State>>>>;

fn registry() -> &'static Registry {
    static STORES: OnceLock<Registry> = OnceLock::new();
    STORES.get_or_init(Default::default)
}

/// A [`Store`] in this process's memory.
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    limits: StoreLimits,
    closed: AtomicBool,
}

/// How often expired data is freed, in ms.
const SWEEP_INTERVAL_MS: i64 = 1000;

/// The wall clock in ms since the epoch (for operations the engine gives no time).
fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The store name in a `memory://` URL, or `None` when the URL is not one.
pub fn memory_name(url: &str) -> Option<String> {
    let rest = url.strip_prefix("memory://")?;
    let name = rest.trim_end_matches('/');
    Some(if name.is_empty() { "default".to_owned() } else { name.to_owned() })
}

impl MemoryStore {
    /// The store named `name` for keys behind `prefix`: the one other routers of this process
    /// use under that name and prefix, or a new empty one.
    pub fn open(name: &str, prefix: &str, limits: StoreLimits) -> Self {
        let mut stores = registry().lock().unwrap_or_else(|e| e.into_inner());
        stores.retain(|_, state| state.strong_count() > 0);
        let key = (name.to_owned(), prefix.to_owned());
        let state = match stores.get(&key).and_then(Weak::upgrade) {
            Some(state) => state,
            None => {
                let state = Arc::new(Mutex::new(State::default()));
                stores.insert(key, Arc::downgrade(&state));
                state
            }
        };
        MemoryStore { state, limits, closed: AtomicBool::new(false) }
    }

    /// Runs one atomic step on an orchestrator's keys, and then forgets what it emptied
    /// ([`State::tidy`]), whichever way the step ends.
    fn orchestrator_step<T>(&self, orchestrator_id: &str, f: impl FnOnce(&mut State) -> T) -> StoreResult<T> {
        self.step(|state| {
            let result = f(state);
            state.tidy(orchestrator_id);
            result
        })
    }

    /// Runs one atomic step (first freeing what expired, at most once a second).
    fn step<T>(&self, f: impl FnOnce(&mut State) -> T) -> StoreResult<T> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = now_ms();
        if now - state.swept_at >= SWEEP_INTERVAL_MS {
            state.sweep(now);
        }
        Ok(f(&mut state))
    }

    fn route_one(&self, state: &mut State, r: &RouteRequest<'_>) -> RouteReply {
        let l = &self.limits;
        let now = r.now_ms;
        let o = r.orchestrator_id;
        if r.queue_only {
            return self.queue(state, r, QueueStatus::Offline, r.expires_at_ms);
        }
        let orchestrator = state.orchestrator(o, now);
        let mut daemons = vec![r.daemon_id];
        if l.broadcast {
            let sessions = orchestrator.broadcast_sessions(now);
            if sessions.is_empty() {
                return self.queue(state, r, QueueStatus::Offline, r.expires_at_ms);
            }
            let copies: Vec<(&str, &str)> = r.copies.iter().map(|c| (c.session_id.as_str(), c.daemon_id.as_str())).collect();
            if !targets_are(&sessions, r.session_id, r.daemon_id, &copies) {
                return RouteReply::Stale { session: sessions_reply(&sessions) };
            }
            daemons.extend(r.copies.iter().map(|c| c.daemon_id.as_str()));
        } else {
            let raw = orchestrator.current_session(now);
            let Some(session) = raw.as_deref().and_then(active) else {
                return self.queue(state, r, QueueStatus::Offline, r.expires_at_ms);
            };
            if session.session_id != r.session_id || session.daemon_id != r.daemon_id {
                return RouteReply::Stale { session: raw.unwrap_or_default() };
            }
        }
        let orchestrator = state.orchestrator(o, now);
        let behind = orchestrator.queues[..=r.priority.rank()].iter().any(|q| !q.is_empty());
        let full = daemons.iter().any(|d| state.daemon_length(d, now) as u64 >= l.daemon_max_events);
        if behind || full {
            return self.queue(state, r, QueueStatus::Pending, now);
        }
        if !state.set_marker(r.message_id, r.marker, l.marker_ttl_seconds, now) {
            return RouteReply::AlreadyDelivered { marker: state.marker(r.message_id, now).cloned().unwrap_or_default() };
        }
        state.push_events(r.daemon_id, [r.daemon_event], l.daemon_events_ttl_seconds, now);
        for copy in r.copies {
            state.push_events(&copy.daemon_id, [copy.event.as_str()], l.daemon_events_ttl_seconds, now);
        }
        if let Some((record, deadline)) = r.receipt {
            state.track_receipt(o, r.message_id, record, deadline, now);
        }
        RouteReply::Delivered { session_id: r.session_id.to_owned(), copies: r.copies.iter().map(|c| c.session_id.clone()).collect() }
    }

    /// Queues the request's item (or refuses it when queueing is off), holding the cap as
    /// `enqueue_item` in common.lua does.
    fn queue(&self, state: &mut State, r: &RouteRequest<'_>, status: QueueStatus, score: i64) -> RouteReply {
        let l = &self.limits;
        if !l.queue_enabled {
            return RouteReply::Refused { status };
        }
        let level = r.priority.rank();
        let o = state.orchestrator(r.orchestrator_id, r.now_ms);
        let mut total = o.queue_length();
        if r.dedupe && o.queues[level].iter().any(|item| item == r.queue_item) {
            return RouteReply::Queued { status, queue_size: total, dropped: Vec::new() };
        }
        let mut dropped = Vec::new();
        while total >= l.max_queue_size {
            match (0..3).rev().find(|&lowest| !o.queues[lowest].is_empty()) {
                Some(lowest) if lowest >= level => {
                    dropped.extend(o.queues[lowest].pop_front());
                    total -= 1;
                }
                _ => return RouteReply::QueueFull { status, queue_size: total, dropped },
            }
        }
        o.queues[level].push_back(r.queue_item.to_owned());
        o.keep_queue_until(level, r.expires_at_ms + QUEUE_KEY_GRACE_MS);
        state.pending.add_lower(r.orchestrator_id, score);
        RouteReply::Queued { status, queue_size: total + 1, dropped }
    }

    /// The session a step or a snapshot reads: every target's as a JSON array with broadcast
    /// routing, else the primary's.
    fn read_session(&self, o: &mut Orchestrator, now: i64) -> Option<String> {
        if self.limits.broadcast {
            Some(sessions_reply(&o.broadcast_sessions(now)))
        } else {
            o.current_session(now)
        }
    }

    /// Whether a step's expected session (and broadcast copies) is still current, else the
    /// stale reply's session (`None` inside `Err` when there is none).
    fn check_session(&self, o: &mut Orchestrator, expected: (&str, &str), copies: &[(&str, &str)], now: i64) -> Result<(), Option<String>> {
        if self.limits.broadcast {
            let sessions = o.broadcast_sessions(now);
            if targets_are(&sessions, expected.0, expected.1, copies) {
                return Ok(());
            }
            return Err(Some(sessions_reply(&sessions)));
        }
        let raw = o.session.as_ref().map(|(json, _)| json.clone());
        if session_is(raw.as_deref(), expected.0, expected.1) {
            Ok(())
        } else {
            Err(raw)
        }
    }
}

impl Store for MemoryStore {
    async fn route(&self, r: &RouteRequest<'_>) -> StoreResult<RouteReply> {
        self.orchestrator_step(r.orchestrator_id, |state| self.route_one(state, r))
    }

    async fn route_many(&self, requests: &[RouteRequest<'_>]) -> StoreResult<Vec<StoreResult<RouteReply>>> {
        self.step(|state| {
            requests
                .iter()
                .map(|r| {
                    let reply = self.route_one(state, r);
                    state.tidy(r.orchestrator_id);
                    Ok(reply)
                })
                .collect()
        })
    }

    async fn register_session(&self, orchestrator_id: &str, session_id: &str, session: &str, now_ms: i64) -> StoreResult<u64> {
        let ttl_ms = self.limits.session_ttl_seconds as i64 * 1000;
        let multiple = self.limits.multiple_sessions;
        self.step(|state| {
            let o = state.orchestrator(orchestrator_id, now_ms);
            if multiple {
                o.current_session(now_ms);
                o.sessions.insert(session_id.to_owned(), (session.to_owned(), now_ms + ttl_ms));
                let primary = o.session.as_ref().map(|(json, _)| json.clone());
                if active(session).is_some() || primary.is_none() {
                    o.session = Some((session.to_owned(), now_ms + ttl_ms));
                } else if primary.as_deref().and_then(session_id_of).as_deref() == Some(session_id) {
                    o.session = Some((session.to_owned(), now_ms + ttl_ms));
                    o.current_session(now_ms);
                }
            } else {
                o.session = Some((session.to_owned(), now_ms + ttl_ms));
                o.sessions.clear();
            }
            let length = o.queue_length();
            if length > 0 {
                state.pending.add(orchestrator_id, now_ms);
            }
            length
        })
    }

    async fn unregister_session(&self, orchestrator_id: &str, session_id: Option<&str>, now_ms: i64) -> StoreResult<bool> {
        self.orchestrator_step(orchestrator_id, |state| {
            let o = state.orchestrator(orchestrator_id, now_ms);
            let removed = match session_id {
                None => {
                    let existed = o.session.is_some() || !o.sessions.is_empty();
                    o.session = None;
                    o.sessions.clear();
                    existed
                }
                Some(id) => {
                    let mut removed = o.sessions.remove(id).is_some();
                    let primary = o.session.as_ref().and_then(|(json, _)| session_id_of(json));
                    if primary.as_deref() == Some(id) {
                        removed = true;
                        o.session = None;
                        o.promote(now_ms, false);
                    }
                    removed
                }
            };
            removed
        })
    }

    async fn touch_session(&self, orchestrator_id: &str, session_id: Option<&str>, now_iso: &str, now_ms: i64) -> StoreResult<Option<Touched>> {
        let ttl_ms = self.limits.session_ttl_seconds as i64 * 1000;
        self.orchestrator_step(orchestrator_id, |state| {
            let o = state.orchestrator(orchestrator_id, now_ms);
            let raw = match session_id {
                None => o.current_session(now_ms),
                Some(id) => match o.sessions.get(id) {
                    Some((json, _)) => Some(json.clone()),
                    None => o.session.as_ref().map(|(json, _)| json.clone()).filter(|json| session_id_of(json).as_deref() == Some(id)),
                },
            };
            let raw = raw?;
            let raw = with_last_active_at(&raw, now_iso);
            let id = session_id_of(&raw);
            let primary = o.session.as_ref().and_then(|(json, _)| session_id_of(json));
            if active(&raw).is_some() || o.session.is_none() || primary == id {
                o.session = Some((raw.clone(), now_ms + ttl_ms));
            }
            if let Some(entry) = id.as_deref().and_then(|id| o.sessions.get_mut(id)) {
                *entry = (raw.clone(), now_ms + ttl_ms);
            }
            let queue_length = o.queue_length();
            if queue_length > 0 && active(&raw).is_some() {
                state.pending.add(orchestrator_id, now_ms);
            }
            Some(Touched { session: raw, queue_length })
        })
    }

    async fn sessions(&self, orchestrator_id: &str, now_ms: i64) -> StoreResult<Vec<String>> {
        self.orchestrator_step(orchestrator_id, |state| {
            let o = state.orchestrator(orchestrator_id, now_ms);
            let primary = o.current_session(now_ms);
            let primary_id = primary.as_deref().and_then(session_id_of);
            let mut sessions: Vec<String> = primary.into_iter().collect();
            sessions.extend(o.others_by_recency(now_ms, primary_id.as_deref()));
            sessions
        })
    }

    async fn queue_lengths(&self, orchestrator_id: &str) -> StoreResult<[u64; 3]> {
        self.orchestrator_step(orchestrator_id, |state| {
            let o = state.orchestrator(orchestrator_id, now_ms());
            [0, 1, 2].map(|level| o.queues[level].len() as u64)
        })
    }

    async fn snapshot(&self, orchestrator_id: &str, count: usize, now_ms: i64) -> StoreResult<QueueSnapshot> {
        self.orchestrator_step(orchestrator_id, |state| {
            let o = state.orchestrator(orchestrator_id, now_ms);
            let session = self.read_session(o, now_ms);
            let online = if self.limits.broadcast {
                session.as_deref().is_some_and(|s| s != "[]")
            } else {
                session.as_deref().and_then(active).is_some()
            };
            let bytes = |items: Vec<&String>| items.into_iter().map(|item| item.as_bytes().to_vec()).collect::<Vec<_>>();
            let (head, levels) = if online {
                let (head, levels) = o.head(count);
                (bytes(head), levels)
            } else {
                let firsts = [0, 1, 2].map(|level| o.queues[level].iter().take(count).collect::<Vec<_>>());
                let levels = [0, 1, 2].map(|level| firsts[level].len());
                (firsts.into_iter().flat_map(bytes).collect(), levels)
            };
            let length = o.queue_length();
            QueueSnapshot { session, length, head, levels, per_level: !online }
        })
    }

    async fn drain_step(&self, step: &DrainStep<'_>) -> StoreResult<DrainReply> {
        let l = &self.limits;
        let now = step.now_ms;
        self.orchestrator_step(step.orchestrator_id, |state| {
            let id = step.orchestrator_id;
            let o = state.orchestrator(id, now);
            if let Some(expected) = step.session {
                if let Err(session) = self.check_session(o, expected, &step.copies, now) {
                    return DrainReply::Stale { session };
                }
            }
            let n = step.items.len();
            let head: Vec<&String> = match step.levels {
                // The first items of each level, as planned.
                Some(counts) if (0..3).all(|level| o.queues[level].len() >= counts[level]) => {
                    (0..3).flat_map(|level| o.queues[level].iter().take(counts[level])).collect()
                }
                Some(_) => Vec::new(),
                None => o.head(n).0,
            };
            if head.len() < n || head.iter().zip(&step.items).any(|(item, (raw, _))| item.as_bytes() != *raw) {
                return DrainReply::Conflict;
            }
            let daemon = step.session.map_or("", |(_, daemon)| daemon);
            let mut room = state.room(daemon, &step.copies, l.daemon_max_events, now);
            let mut outcomes = Vec::with_capacity(n);
            let mut events: Vec<&str> = Vec::new();
            let mut copy_events: Vec<Vec<&str>> = vec![Vec::new(); step.copies.len()];
            let mut full = false;
            for (_, action) in &step.items {
                match action {
                    DrainAction::Drop => outcomes.push(ItemOutcome::Dropped),
                    DrainAction::Deliver { .. } if room <= 0 => {
                        full = true;
                        break;
                    }
                    DrainAction::Deliver { message_id, event, marker, receipt, copies } => {
                        if !state.set_marker(message_id, marker, l.marker_ttl_seconds, now) {
                            outcomes.push(ItemOutcome::AlreadyDelivered);
                            continue;
                        }
                        events.push(event);
                        for (list, copy) in copy_events.iter_mut().zip(copies) {
                            list.push(copy);
                        }
                        if l.receipts {
                            state.track_receipt(id, message_id, receipt, step.receipt_deadline_ms, now);
                        }
                        room -= 1;
                        outcomes.push(ItemOutcome::Delivered);
                    }
                }
            }
            let o = state.orchestrator(id, now);
            match step.levels {
                Some(counts) => (0..3).for_each(|level| {
                    o.queues[level].drain(..counts[level]);
                }),
                None => o.take_head(outcomes.len()),
            }
            if !events.is_empty() {
                state.push_events(daemon, events, l.daemon_events_ttl_seconds, now);
                for ((_, copy_daemon), list) in step.copies.iter().zip(copy_events) {
                    state.push_events(copy_daemon, list, l.daemon_events_ttl_seconds, now);
                }
            }
            state.file(id, if full { step.retry_at_ms } else { step.revisit_at_ms });
            let remaining = state.orchestrators[id].queue_length();
            DrainReply::Done { outcomes, remaining }
        })
    }

    async fn claim_due(&self, now_ms: i64, lease_until_ms: i64, limit: usize) -> StoreResult<Vec<String>> {
        self.step(|state| {
            let due = state.pending.up_to(now_ms, limit);
            for id in &due {
                state.pending.update(id, lease_until_ms);
            }
            due
        })
    }

    async fn acknowledge(&self, orchestrator_id: &str, message_ids: &[String]) -> StoreResult<Vec<String>> {
        self.orchestrator_step(orchestrator_id, |state| {
            let o = state.orchestrator(orchestrator_id, now_ms());
            let acknowledged = message_ids
                .iter()
                .filter(|id| {
                    let waiting = o.inflight.remove(id.as_str()).is_some();
                    if waiting {
                        o.receipts.remove(id);
                    }
                    waiting
                })
                .cloned()
                .collect();
            acknowledged
        })
    }

    async fn overdue_receipts(&self, orchestrator_id: &str, now_ms: i64, due_by_ms: i64, limit: usize) -> StoreResult<OverdueReceipts> {
        self.orchestrator_step(orchestrator_id, |state| {
            let o = state.orchestrator(orchestrator_id, now_ms);
            let session = self.read_session(o, now_ms);
            let mut overdue = Vec::new();
            for id in o.receipts.up_to(due_by_ms, limit) {
                match o.inflight.get(&id) {
                    Some(record) => overdue.push((id, record.clone())),
                    None => {
                        o.receipts.remove(&id);
                    }
                }
            }
            OverdueReceipts { session, overdue }
        })
    }

    async fn receipt_step(&self, step: &ReceiptStep<'_>) -> StoreResult<ReceiptReply> {
        let l = &self.limits;
        let now = step.now_ms;
        self.orchestrator_step(step.orchestrator_id, |state| {
            let id = step.orchestrator_id;
            let o = state.orchestrator(id, now);
            let redeliveries = step.items.iter().any(|(_, _, action)| matches!(action, ReceiptAction::Redeliver { .. }));
            if redeliveries {
                let expected = step.session.unwrap_or(("", ""));
                if self.check_session(o, expected, &step.copies, now).is_err() {
                    return ReceiptReply::Stale;
                }
            }
            let daemon = step.session.map_or("", |(_, daemon)| daemon);
            let mut room = state.room(daemon, &step.copies, l.daemon_max_events, now);
            let mut outcomes = Vec::with_capacity(step.items.len());
            let mut requeue: Vec<(usize, String)> = Vec::new();
            for (message_id, expected, action) in &step.items {
                let o = state.orchestrator(id, now);
                if o.inflight.get(*message_id).map(String::as_str) != Some(*expected) {
                    outcomes.push(ReceiptOutcome::Skipped);
                    continue;
                }
                match action {
                    ReceiptAction::DeadLetter { entry } => {
                        o.dead.push_back(entry.clone());
                        o.inflight.remove(*message_id);
                        o.receipts.remove(message_id);
                        outcomes.push(ReceiptOutcome::DeadLettered);
                    }
                    ReceiptAction::Requeue { item, priority } => {
                        o.inflight.remove(*message_id);
                        o.receipts.remove(message_id);
                        state.delivered.remove(*message_id);
                        requeue.push((priority.rank(), item.clone()));
                        outcomes.push(ReceiptOutcome::Requeued);
                    }
                    ReceiptAction::Redeliver { event, record, deadline_ms, copies } if room > 0 => {
                        o.inflight.insert((*message_id).to_owned(), record.clone());
                        o.receipts.add(message_id, *deadline_ms);
                        state.push_events(daemon, [event.as_str()], l.daemon_events_ttl_seconds, now);
                        for ((_, copy_daemon), copy) in step.copies.iter().zip(copies) {
                            state.push_events(copy_daemon, [copy.as_str()], l.daemon_events_ttl_seconds, now);
                        }
                        room -= 1;
                        outcomes.push(ReceiptOutcome::Redelivered);
                    }
                    ReceiptAction::Redeliver { .. } => {
                        o.receipts.add(message_id, step.full_retry_at_ms);
                        outcomes.push(ReceiptOutcome::DaemonFull);
                    }
                }
            }
            // Requeued in delivery order: the first of each level ends up at its head.
            let o = state.orchestrator(id, now);
            for (level, item) in requeue.into_iter().rev() {
                o.queues[level].push_front(item);
                o.keep_queue_until(level, step.queue_expires_at_ms + QUEUE_KEY_GRACE_MS);
            }
            state.file(id, step.queue_revisit_at_ms);
            ReceiptReply::Done(outcomes)
        })
    }

    async fn dead_letters(&self, orchestrator_id: &str) -> StoreResult<Vec<String>> {
        self.step(|state| state.orchestrators.get(orchestrator_id).map_or(Vec::new(), |o| o.dead.iter().cloned().collect()))
    }

    async fn requeue_dead_letters(
        &self,
        orchestrator_id: &str,
        expected: &[String],
        items: &[(String, Priority)],
        message_ids: &[String],
        revisit_at_ms: i64,
        queue_expires_at_ms: i64,
    ) -> StoreResult<bool> {
        self.orchestrator_step(orchestrator_id, |state| {
            if expected.is_empty() {
                return true;
            }
            let o = state.orchestrator(orchestrator_id, now_ms());
            if o.dead.len() < expected.len() || o.dead.iter().zip(expected).any(|(a, b)| a != b) {
                return false;
            }
            o.dead.drain(..expected.len());
            for (item, priority) in items.iter().rev() {
                o.queues[priority.rank()].push_front(item.clone());
                o.keep_queue_until(priority.rank(), queue_expires_at_ms + QUEUE_KEY_GRACE_MS);
            }
            for id in message_ids {
                state.delivered.remove(id);
            }
            state.file(orchestrator_id, revisit_at_ms);
            true
        })
    }

    async fn inspect(&self, orchestrator_id: &str) -> StoreResult<QueueInspection> {
        let now = now_ms();
        self.step(|state| {
            let Some(o) = state.orchestrators.get(orchestrator_id) else { return QueueInspection::default() };
            let live = |expiry: i64| expiry > now;
            let mut sessions: Vec<(String, i64)> = o.sessions.values().filter(|(_, e)| live(*e)).cloned().collect();
            sessions.sort_by(|a, b| (b.1, &b.0).cmp(&(a.1, &a.0)));
            let level = |i: usize| if live(o.queue_expiry[i]) { &o.queues[i] } else { &EMPTY };
            QueueInspection {
                primary: o.session.as_ref().filter(|(_, e)| live(*e)).map(|(json, _)| json.clone()),
                sessions,
                lengths: [0, 1, 2].map(|i| level(i).len() as u64),
                heads: [0, 1, 2].map(|i| level(i).front().map(|item| item.as_bytes().to_vec())),
                pending_receipts: o.receipts.len() as u64,
                dead_letters: o.dead.len() as u64,
            }
        })
    }

    async fn daemon_list_lengths(&self, daemon_ids: &[String]) -> StoreResult<Vec<u64>> {
        let now = now_ms();
        self.step(|state| daemon_ids.iter().map(|d| state.daemon_length(d, now) as u64).collect())
    }

    async fn queued_orchestrators(&self) -> StoreResult<Vec<String>> {
        let now = now_ms();
        self.step(|state| {
            let mut ids: Vec<String> = state
                .orchestrators
                .iter()
                .filter(|(_, o)| o.queues.iter().zip(&o.queue_expiry).any(|(q, e)| !q.is_empty() && *e > now))
                .map(|(id, _)| id.clone())
                .collect();
            ids.sort();
            ids
        })
    }

    async fn read_daemon_events(&self, daemon_id: &str, max: usize) -> StoreResult<Vec<String>> {
        let now = now_ms();
        self.step(|state| match state.daemons.get(daemon_id) {
            Some((list, expiry)) if *expiry > now => list.iter().rev().take(max).cloned().collect(),
            _ => Vec::new(),
        })
    }

    async fn acknowledge_daemon_events(&self, daemon_id: &str, event_ids: &[String]) -> StoreResult<u64> {
        let wanted: HashSet<&str> = event_ids.iter().map(String::as_str).collect();
        self.step(|state| {
            let now = now_ms();
            let Some((list, _)) = state.daemons.get_mut(daemon_id).filter(|(_, expiry)| *expiry > now) else { return 0 };
            let before = list.len();
            list.retain(|event| !event_id_of(event).is_some_and(|id| wanted.contains(id.as_str())));
            let removed = (before - list.len()) as u64;
            if list.is_empty() {
                state.daemons.remove(daemon_id);
            }
            removed
        })
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }
}

static EMPTY: VecDeque<String> = VecDeque::new();

/// The `id` of a daemon event's JSON.
fn event_id_of(event: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    serde_json::from_str::<Id>(event).ok().map(|e| e.id)
}

/// The session JSON with `lastActiveAt` set to `now_iso` (as touch_session.lua's gsub does).
fn with_last_active_at(raw: &str, now_iso: &str) -> String {
    const FIELD: &str = "\"lastActiveAt\":\"";
    let Some(start) = raw.find(FIELD).map(|i| i + FIELD.len()) else { return raw.to_owned() };
    let Some(len) = raw[start..].find('"') else { return raw.to_owned() };
    [&raw[..start], now_iso, &raw[start + len..]].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_sets_keep_redis_semantics() {
        let mut z = ZSet::default();
        z.add("a", 5);
        z.add_lower("a", 9);
        z.add_lower("b", 3);
        z.update("c", 1);
        assert_eq!(z.up_to(10, 10), ["b", "a"]);
        z.add_lower("a", 1);
        z.update("b", 20);
        assert_eq!(z.up_to(10, 1), ["a"]);
        assert_eq!(z.first_score(), Some(1));
        assert!(z.remove("a") && !z.remove("a"));
        assert_eq!(z.len(), 1);
    }

    #[test]
    fn touching_rewrites_only_last_active_at() {
        let raw = r#"{"sessionId":"s","daemonId":"d","status":"active","lastActiveAt":"2020-01-01T00:00:00.000Z","createdAt":"x"}"#;
        assert_eq!(
            with_last_active_at(raw, "2026-11-27T00:00:00.000Z"),
            r#"{"sessionId":"s","daemonId":"d","status":"active","lastActiveAt":"2026-11-27T00:00:00.000Z","createdAt":"x"}"#
        );
        assert_eq!(with_last_active_at("{}", "t"), "{}");
    }

    #[test]
    fn memory_urls_name_their_store() {
        assert_eq!(memory_name("memory://").as_deref(), Some("default"));
        assert_eq!(memory_name("memory://tests-1").as_deref(), Some("tests-1"));
        assert_eq!(memory_name("redis://x"), None);
    }
}
