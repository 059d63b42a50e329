//! Delivery receipts as the caller sees them: acknowledging delivered messages, and the
//! dead-letter list of those never acknowledged (read, and put back in the queue). What happens
//! to a delivery not acknowledged in time is in `overdue`.

use super::slots::Pace;
use super::error::RouterError;
use super::events::{Event, EventKind};
use super::model::{non_empty, to_json, DeadLetter, Priority, QueueItem};
use super::router::{within, Router};
use super::time::{format_iso, now_ms, parse_iso};
use crate::store::{RequeueStep, Store, StoreError};
use std::sync::Arc;

/// Tries at putting the dead letters back while something else changes the list.
const REQUEUE_TRIES: u32 = 8;

/// A dead letter as `getDeadLetters` returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetterInfo {
    pub item: QueueItem,
    pub attempts: u32,
    pub last_error: String,
    /// When it was dead-lettered, in ms since the epoch (`None` if unreadable).
    pub dead_lettered_at_ms: Option<i64>,
}

impl<S: Store> Router<S> {
    /// Ends the wait for these messages' receipts; returns how many were waiting.
    pub async fn acknowledge(self: &Arc<Self>, orchestrator_id: &str, message_ids: Vec<String>) -> Result<u64, RouterError> {
        self.key_id("orchestratorId", orchestrator_id)?;
        for id in &message_ids {
            non_empty("messageIds[]", id)?;
        }
        self.check_open()?;
        let acknowledged = self
            .bounded(self.store.acknowledge(orchestrator_id, &message_ids))
            .await
            ?;
        for message_id in &acknowledged {
            self.emit(EventKind::MessageAcknowledged, || Event::MessageAcknowledged {
                message_id: message_id.clone(),
                orchestrator_id: orchestrator_id.to_owned(),
            });
        }
        Ok(acknowledged.len() as u64)
    }

    /// The orchestrator's dead letters, oldest first.
    pub async fn dead_letters(self: &Arc<Self>, orchestrator_id: &str) -> Result<Vec<DeadLetterInfo>, RouterError> {
        self.key_id("orchestratorId", orchestrator_id)?;
        self.check_open()?;
        let entries = self.bounded(self.store.dead_letters(orchestrator_id)).await?;
        Ok(entries
            .iter()
            .filter_map(|raw| {
                let letter: DeadLetter = serde_json::from_str(raw).ok()?;
                Some(DeadLetterInfo {
                    item: serde_json::from_str(&letter.item).ok()?,
                    attempts: letter.attempts,
                    last_error: letter.last_error,
                    dead_lettered_at_ms: parse_iso(&letter.dead_lettered_at),
                })
            })
            .collect())
    }

    /// Puts the orchestrator's dead letters back at the head of its queue, in their order (each
    /// queued anew, so its expiry counts from now), and drains if it is online; returns how many.
    pub async fn requeue_dead_letters(self: &Arc<Self>, orchestrator_id: &str) -> Result<u64, RouterError> {
        self.key_id("orchestratorId", orchestrator_id)?;
        self.check_open()?;
        let moved = requeue_dead_letters(&self.store, orchestrator_id, self.config.queue_ttl_ms(), Some(self.config.delivery_timeout_ms)).await?;
        if moved > 0 {
            let _ = self.drain(orchestrator_id, Pace::HandOff).await;
        }
        Ok(moved)
    }
}

/// Puts the orchestrator's dead letters back at the head of its queue in one step, in their order
/// (each queued anew, kept `queue_ttl_ms` from now), filed as due at once so that a router drains
/// them; returns how many. Retries while something else changes the list; each request to the
/// store fails after `limit_ms` when given.
pub async fn requeue_dead_letters<S: Store>(store: &S, orchestrator_id: &str, queue_ttl_ms: i64, limit_ms: Option<u64>) -> Result<u64, StoreError> {
    for _ in 0..REQUEUE_TRIES {
        let entries = within(limit_ms, store.dead_letters(orchestrator_id)).await?;
        if entries.is_empty() {
            return Ok(0);
        }
        let now = now_ms();
        let items: Vec<(String, Priority)> = entries
            .iter()
            .map(|raw| requeued_item(raw, now))
            .map(|item| {
                let p = super::overdue::priority_of(&item);
                (item, p)
            })
            .collect();
        let message_ids: Vec<String> = items.iter().map(|(item, _)| super::model::message_id_of(item.as_bytes())).collect();
        let step = RequeueStep {
            orchestrator_id,
            expected: &entries,
            items: &items,
            message_ids: &message_ids,
            revisit_at_ms: now,
            queue_expires_at_ms: now + queue_ttl_ms,
        };
        if within(limit_ms, store.requeue_dead_letters(&step)).await? {
            return Ok(entries.len() as u64);
        }
    }
    Err(StoreError::Contended(format!("the dead-letter list of orchestrator {orchestrator_id} kept changing")))
}

/// The queue item of a dead letter, queued anew at `now_ms` (as it was if it cannot be read).
fn requeued_item(raw: &str, now_ms: i64) -> String {
    let Ok(letter) = serde_json::from_str::<DeadLetter>(raw) else { return raw.to_owned() };
    match serde_json::from_str::<QueueItem>(&letter.item) {
        Ok(mut item) => {
            item.queued_at = format_iso(now_ms);
            to_json(&item)
        }
        Err(_) => letter.item,
    }
}
