//! Overdue receipts, looked at first by each drain pass: a delivery not acknowledged in time is
//! delivered again, requeued while the orchestrator is offline, or dead-lettered after
//! `retry.maxAttempts` deliveries.

use super::events::{Event, EventKind};
use super::error::RouterError;
use super::host::Presence;
use super::model::{to_json, DaemonEvent, DeadLetter, InflightRecord, Priority, QueueItem};
use super::router::Router;
use super::time::{format_iso, now_ms};
use crate::store::{ReceiptAction, ReceiptOutcome, ReceiptReply, ReceiptStep, Store};
use std::collections::HashSet;
use std::sync::Arc;

/// Overdue messages read and acted on in one step. Requeued messages keep their order only
/// within one step, so this is large.
const OVERDUE_BATCH: usize = 1000;
/// Steps in a row over one orchestrator's overdue messages before the rest waits for the next look.
const MAX_STEPS: u32 = 8;

impl<S: Store> Router<S> {
    /// Redelivers, requeues or dead-letters the orchestrator's messages whose receipt is overdue;
    /// requeues instead of redelivering while `presence` says the orchestrator is offline.
    pub(super) async fn redeliver_overdue(self: &Arc<Self>, orchestrator_id: &str, presence: &mut Presence) -> Result<(), RouterError> {
        for _ in 0..MAX_STEPS {
            let now = now_ms();
            let overdue = self
                .bounded(self.store.overdue_receipts(orchestrator_id, now, now, OVERDUE_BATCH))
                .await
                ?;
            if overdue.overdue.is_empty() {
                return Ok(());
            }
            let mut session = overdue.session.as_deref().and_then(|raw| self.memo.learn(orchestrator_id, raw));
            if session.is_some() && self.presence_says_offline(presence, orchestrator_id).await {
                session = None;
            }
            // With nowhere to redeliver, every message still awaiting its receipt goes back to the
            // queue with the overdue ones, in one step and in delivery order: each step puts its
            // messages at the head of the queue, so one requeued by a later step would go ahead of
            // the earlier deliveries.
            let awaited = match session {
                Some(_) => None,
                None => Some(
                    self.bounded(self.store.overdue_receipts(orchestrator_id, now, i64::MAX, OVERDUE_BATCH))
                        .await
                        ?,
                ),
            };
            let due: HashSet<&str> = overdue.overdue.iter().map(|(id, _)| id.as_str()).collect();
            let mut records: Vec<(&str, &str, Option<InflightRecord>)> = awaited
                .as_ref()
                .map_or(&overdue.overdue, |awaited| &awaited.overdue)
                .iter()
                .map(|(id, raw)| (id.as_str(), raw.as_str(), serde_json::from_str(raw).ok()))
                .collect();
            records.sort_by_key(|(_, _, record)| record.as_ref().map_or(i64::MIN, |r| r.order));
            let now_iso = format_iso(now);
            let timeout_error = format!("not acknowledged within {} ms", self.config.delivery_timeout_ms);
            let items = records
                .iter()
                .map(|(id, raw, record)| {
                    let action = match (record, &session) {
                        (Some(record), _) if record.attempts >= self.config.retry.max_attempts && due.contains(id) => ReceiptAction::DeadLetter {
                            entry: to_json(&DeadLetter {
                                item: record.item.clone(),
                                attempts: record.attempts,
                                last_error: timeout_error.clone(),
                                dead_lettered_at: now_iso.clone(),
                            }),
                        },
                        (Some(record), None) => ReceiptAction::Requeue { item: record.item.clone(), priority: priority_of(&record.item) },
                        (Some(record), Some(session)) => match serde_json::from_str::<QueueItem>(&record.item) {
                            Ok(item) => {
                                let event =
                                    DaemonEvent::for_item(&record.event_id, &item, &session.daemon_id, orchestrator_id, &now_iso);
                                let next = InflightRecord {
                                    attempts: record.attempts + 1,
                                    session_id: session.session_id.clone(),
                                    last_error: Some(timeout_error.clone()),
                                    ..record.clone()
                                };
                                let copies = session
                                    .copies
                                    .iter()
                                    .map(|(_, daemon_id)| {
                                        to_json(&DaemonEvent::for_item(&record.event_id, &item, daemon_id, orchestrator_id, &now_iso))
                                    })
                                    .collect();
                                ReceiptAction::Redeliver {
                                    event: to_json(&event),
                                    record: to_json(&next),
                                    deadline_ms: self.receipt_deadline(now, next.attempts),
                                    copies,
                                }
                            }
                            Err(_) => unreadable(raw, &timeout_error, &now_iso),
                        },
                        (None, _) => unreadable(raw, &timeout_error, &now_iso),
                    };
                    (*id, *raw, action)
                })
                .collect();
            let step = ReceiptStep {
                orchestrator_id,
                session: session.as_ref().map(|s| (s.session_id.as_str(), s.daemon_id.as_str())),
                copies: session.as_ref().map_or(Vec::new(), |s| s.copy_refs()),
                items,
                full_retry_at_ms: now + self.config.drain_interval_ms as i64,
                queue_revisit_at_ms: now,
                queue_expires_at_ms: now + self.config.queue_ttl_ms(),
                now_ms: now,
            };
            let reply = self.bounded(self.store.receipt_step(&step)).await?;
            let ReceiptReply::Done(outcomes) = reply else { continue };
            let targets: Vec<&str> = session.iter().flat_map(|s| s.session_ids()).collect();
            self.report_receipt_step(orchestrator_id, &targets, &step, &records, &outcomes);
            if outcomes.iter().all(|o| matches!(o, ReceiptOutcome::DaemonFull | ReceiptOutcome::Skipped)) {
                return Ok(());
            }
        }
        Ok(())
    }

    fn report_receipt_step(
        &self,
        orchestrator_id: &str,
        targets: &[&str],
        step: &ReceiptStep<'_>,
        records: &[(&str, &str, Option<InflightRecord>)],
        outcomes: &[ReceiptOutcome],
    ) {
        for (((message_id, _, record), (_, _, action)), outcome) in records.iter().zip(&step.items).zip(outcomes) {
            let attempts = record.as_ref().map_or(0, |r| r.attempts);
            match (outcome, action) {
                (ReceiptOutcome::Redelivered, _) => {
                    if let Some((_, daemon_id)) = step.session {
                        self.emit(EventKind::TraceRedelivery, || Event::TraceRedelivery {
                            message_id: (*message_id).to_owned(),
                            orchestrator_id: orchestrator_id.to_owned(),
                            daemon_id: daemon_id.to_owned(),
                            attempts: attempts + 1,
                            started_at: step.now_ms,
                            traceparent: record.as_ref().and_then(|r| serde_json::from_str::<QueueItem>(&r.item).ok()).and_then(|item| item.traceparent),
                        });
                    }
                    for session_id in targets {
                        self.emit(EventKind::MessageRedelivered, || Event::MessageRedelivered {
                            message_id: (*message_id).to_owned(),
                            orchestrator_id: orchestrator_id.to_owned(),
                            session_id: (*session_id).to_owned(),
                            attempts: attempts + 1,
                        });
                    }
                }
                (ReceiptOutcome::DeadLettered, ReceiptAction::DeadLetter { entry }) => {
                    let error = serde_json::from_str::<DeadLetter>(entry).map(|d| d.last_error).unwrap_or_default();
                    self.emit(EventKind::MessageDeadLettered, || Event::MessageDeadLettered {
                        message_id: (*message_id).to_owned(),
                        orchestrator_id: orchestrator_id.to_owned(),
                        attempts,
                        error: error.clone(),
                    });
                    self.emit(EventKind::MessageRoutingFailed, || Event::MessageRoutingFailed {
                        message_id: (*message_id).to_owned(),
                        orchestrator_id: orchestrator_id.to_owned(),
                        attempts,
                        error,
                    });
                }
                _ => {}
            }
        }
    }
}

/// A record that cannot be read is dead-lettered as it is, so that it is kept and reported.
fn unreadable(raw: &str, error: &str, now_iso: &str) -> ReceiptAction {
    ReceiptAction::DeadLetter {
        entry: to_json(&DeadLetter { item: raw.to_owned(), attempts: 0, last_error: error.to_owned(), dead_lettered_at: now_iso.to_owned() }),
    }
}

/// The priority level of a raw queue item (normal when it cannot be read).
pub(super) fn priority_of(raw: &str) -> Priority {
    #[derive(serde::Deserialize)]
    struct Level {
        #[serde(default)]
        priority: Priority,
    }
    serde_json::from_str::<Level>(raw).map_or(Priority::Normal, |level| level.priority)
}
