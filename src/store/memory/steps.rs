//! The [`Store`] operations of a [`MemoryStore`], each one atomic step under the store's lock,
//! doing what its Lua script does on Redis; the route, drain and receipt steps' work lives in
//! [`super::route`], [`super::drain`] and [`super::receipts`].

use super::sessions::{active, session_id_of, with_last_active_at};
use super::{now_ms, MemoryStore};
use crate::store::{RequeueStep, 
    DrainReply, DrainStep, OverdueReceipts, QueueInspection, QueueSnapshot, ReceiptReply, ReceiptStep, RouteReply,
    RouteRequest, Store, StoreResult, Touched, QUEUE_KEY_GRACE_MS,
};
use serde::Deserialize;
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::Ordering;

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

    async fn touch_session(&self, orchestrator_id: &str, session_id: Option<&str>, daemon_id: Option<&str>, now_iso: &str, now_ms: i64) -> StoreResult<Option<Touched>> {
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
            let daemon_length = daemon_id
                .filter(|daemon| active(&raw).is_some_and(|session| session.daemon_id == *daemon))
                .map(|daemon| state.daemon_length(daemon, now_ms) as u64);
            Some(Touched { session: raw, queue_length, daemon_length })
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
        self.orchestrator_step(step.orchestrator_id, |state| self.drain_one(state, step))
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
        self.orchestrator_step(step.orchestrator_id, |state| self.receipt_one(state, step))
    }

    async fn dead_letters(&self, orchestrator_id: &str) -> StoreResult<Vec<String>> {
        self.step(|state| state.orchestrators.get(orchestrator_id).map_or(Vec::new(), |o| o.dead.iter().cloned().collect()))
    }

    async fn requeue_dead_letters(&self, step: &RequeueStep<'_>) -> StoreResult<bool> {
        let RequeueStep { orchestrator_id, expected, items, message_ids, revisit_at_ms, queue_expires_at_ms } = *step;
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
        self.orchestrators_where(|o| o.queue_length() > 0)
    }

    async fn orchestrators(&self) -> StoreResult<Vec<String>> {
        self.orchestrators_where(|o| !o.is_empty())
    }

    async fn drop_queue(&self, orchestrator_id: &str, now_ms: i64) -> StoreResult<[u64; 3]> {
        self.orchestrator_step(orchestrator_id, |state| {
            let o = state.orchestrator(orchestrator_id, now_ms);
            let dropped = [0, 1, 2].map(|i| o.queues[i].len() as u64);
            o.queues.iter_mut().for_each(VecDeque::clear);
            state.file(orchestrator_id, now_ms);
            dropped
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
