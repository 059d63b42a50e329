//! The data one memory store holds — each orchestrator's keys, the delivered markers, the
//! daemon event lists and the pending index — with their expiry, and the reads and writes the
//! steps share (a Redis command each, or a few).

use super::zset::ZSet;
use std::collections::{HashMap, VecDeque};

/// One orchestrator's keys.
#[derive(Debug, Default)]
pub(super) struct Orchestrator {
    /// `routing:session:<id>`: the primary session's JSON and when it expires (ms).
    pub(super) session: Option<(String, i64)>,
    /// `routing:sessions:<id>` and `routing:session-records:<id>`: session id → (JSON, expiry ms).
    pub(super) sessions: HashMap<String, (String, i64)>,
    /// The queue levels (high, normal, low), oldest first, and when each list expires (ms).
    pub(super) queues: [VecDeque<String>; 3],
    pub(super) queue_expiry: [i64; 3],
    /// `routing:inflight:<id>` and `routing:receipts:<id>`.
    pub(super) inflight: HashMap<String, String>,
    pub(super) receipts: ZSet,
    /// `routing:dead:<id>`, oldest first.
    pub(super) dead: VecDeque<String>,
}

impl Orchestrator {
    /// Drops what has expired by `now`.
    pub(super) fn expire(&mut self, now: i64) {
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

    pub(super) fn is_empty(&self) -> bool {
        self.session.is_none()
            && self.sessions.is_empty()
            && self.queues.iter().all(VecDeque::is_empty)
            && self.inflight.is_empty()
            && self.receipts.len() == 0
            && self.dead.is_empty()
    }

    pub(super) fn queue_length(&self) -> u64 {
        self.queues.iter().map(|q| q.len() as u64).sum()
    }

    /// The first `n` items in drain order, and how many each level gave.
    pub(super) fn head(&self, n: usize) -> (Vec<&String>, [usize; 3]) {
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
    pub(super) fn take_head(&mut self, mut n: usize) {
        for queue in &mut self.queues {
            let take = n.min(queue.len());
            queue.drain(..take);
            n -= take;
        }
    }

    pub(super) fn keep_queue_until(&mut self, level: usize, expiry: i64) {
        self.queue_expiry[level] = self.queue_expiry[level].max(expiry);
    }
}

/// Everything one store holds.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) orchestrators: HashMap<String, Orchestrator>,
    /// `routing:delivered:<messageId>`: marker JSON and expiry (ms).
    pub(super) delivered: HashMap<String, (String, i64)>,
    /// `daemon:events:<daemonId>`: newest first, and when the list expires (ms).
    pub(super) daemons: HashMap<String, (VecDeque<String>, i64)>,
    /// `routing:pending`.
    pub(super) pending: ZSet,
    /// When [`State::sweep`] last ran (ms).
    pub(super) swept_at: i64,
}

impl State {
    /// The orchestrator's keys, with what expired by `now` dropped.
    pub(super) fn orchestrator(&mut self, id: &str, now: i64) -> &mut Orchestrator {
        let o = self.orchestrators.entry(id.to_owned()).or_default();
        o.expire(now);
        o
    }

    /// After a step: an emptied queue list loses its expiry (as a Redis key that empties is
    /// deleted), and an orchestrator that holds nothing any more is forgotten.
    pub(super) fn tidy(&mut self, id: &str) {
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
    pub(super) fn sweep(&mut self, now: i64) {
        self.swept_at = now;
        self.delivered.retain(|_, (_, expiry)| *expiry > now);
        self.daemons.retain(|_, (list, expiry)| *expiry > now && !list.is_empty());
        self.orchestrators.retain(|_, o| {
            o.expire(now);
            !o.is_empty()
        });
    }

    pub(super) fn marker(&self, message_id: &str, now: i64) -> Option<&String> {
        self.delivered.get(message_id).filter(|(_, expiry)| *expiry > now).map(|(json, _)| json)
    }

    /// SET NX EX: writes the marker unless one lives; whether it was written.
    pub(super) fn set_marker(&mut self, message_id: &str, marker: &str, ttl_seconds: u64, now: i64) -> bool {
        if self.marker(message_id, now).is_some() {
            return false;
        }
        self.delivered.insert(message_id.to_owned(), (marker.to_owned(), now + ttl_seconds as i64 * 1000));
        true
    }

    /// How many events every target daemon list (`daemon`'s and each copy's) has room for.
    pub(super) fn room(&self, daemon: &str, copies: &[(&str, &str)], max_events: u64, now: i64) -> i64 {
        let lists = std::iter::once(daemon).chain(copies.iter().map(|(_, d)| *d));
        lists.map(|d| max_events as i64 - self.daemon_length(d, now) as i64).min().unwrap_or(0)
    }

    pub(super) fn daemon_length(&self, daemon_id: &str, now: i64) -> usize {
        self.daemons.get(daemon_id).filter(|(_, expiry)| *expiry > now).map_or(0, |(list, _)| list.len())
    }

    /// LPUSH each event in turn (the last ends up newest) and EXPIRE.
    pub(super) fn push_events<'e>(&mut self, daemon_id: &str, events: impl IntoIterator<Item = &'e str>, ttl_seconds: u64, now: i64) {
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
    pub(super) fn file(&mut self, id: &str, queue_score: i64) {
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

    pub(super) fn track_receipt(&mut self, orchestrator_id: &str, message_id: &str, record: &str, deadline: i64, now: i64) {
        let o = self.orchestrator(orchestrator_id, now);
        o.inflight.insert(message_id.to_owned(), record.to_owned());
        o.receipts.add(message_id, deadline);
        self.pending.add_lower(orchestrator_id, deadline);
    }
}
