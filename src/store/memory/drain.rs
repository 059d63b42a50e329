//! The drain step (`drain_step.lua`): takes the queue head a drain planned on, if it is still
//! the head, delivering each item once (the delivered marker) while the daemon list has room.

use super::state::State;
use super::MemoryStore;
use crate::store::{DrainAction, DrainReply, DrainStep, ItemOutcome};

impl MemoryStore {
    /// Applies one drain step to the store's data.
    pub(super) fn drain_one(&self, state: &mut State, step: &DrainStep<'_>) -> DrainReply {
        let l = &self.limits;
        let now = step.now_ms;
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
    }
}
