//! The route step (`route.lua`): a message goes to the daemon of its orchestrator's current
//! session, or into the orchestrator's queue under the cap, dropping the oldest lowest-priority
//! item to make room.

use super::sessions::{active, sessions_reply, targets_are};
use super::state::State;
use super::MemoryStore;
use crate::store::{QueueStatus, RouteReply, RouteRequest, QUEUE_KEY_GRACE_MS};

impl MemoryStore {
    /// Applies one route to the store's data: delivered, queued, refused, or stale (the session
    /// the router sent is not the current one).
    pub(super) fn route_one(&self, state: &mut State, r: &RouteRequest<'_>) -> RouteReply {
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
    /// `enqueue_item` in lib/queue.lua does.
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
}
