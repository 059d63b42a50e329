//! The receipt step (`redeliver_step.lua`): redelivers, requeues or dead-letters the messages
//! whose receipt is overdue, each only if its in-flight record is still the one the router read.

use super::state::State;
use super::MemoryStore;
use crate::store::{ReceiptAction, ReceiptOutcome, ReceiptReply, ReceiptStep, QUEUE_KEY_GRACE_MS};

impl MemoryStore {
    /// Applies one receipt step to the store's data.
    pub(super) fn receipt_one(&self, state: &mut State, step: &ReceiptStep<'_>) -> ReceiptReply {
        let l = &self.limits;
        let now = step.now_ms;
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
    }
}
