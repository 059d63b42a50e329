//! Planning and sending a drain's steps: each head item delivered (with the message service's
//! current copy) or dropped, two steps of a round sent back to back, the offline drop of what
//! expired, and reporting what each step did.

use super::error::RouterError;
use super::events::{Deferred, DropReason, Event, EventKind};
use super::host::MessageUpdate;
use super::memo::KnownSession;
use super::model::{to_json, Classified, DaemonEvent, DeliveredMarker, InflightRecord, QueueItem};
use super::router::Router;
use super::time::{format_iso, now_ms};
use crate::store::{DrainAction, DrainReply, DrainStep, ItemOutcome, Store, StoreResult};
use std::sync::Arc;

/// Queue items planned and committed in one step.
pub(super) const DRAIN_BATCH: usize = 200;

/// What one drain did, as `processQueuedMessages` resolves it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DrainSummary {
    /// Delivered to the daemon.
    pub processed: u64,
    /// Left the queue undelivered (expired, deleted or unreadable), each reported as dropped
    /// (`failed` in `processQueuedMessages`' result and the event, the deployed service's name).
    pub dropped: u64,
    /// Still queued afterwards.
    pub remaining: u64,
    /// Why messages the drain could have delivered stay queued, when they do (presence says the
    /// orchestrator is offline, or the messages could not be re-read); a later look tries again.
    pub deferred: Option<Deferred>,
}

/// One planned item: its raw entry, its action, and what to report if it is dropped.
pub(super) struct Planned<'a> {
    raw: &'a [u8],
    action: DrainAction,
    drop: Option<(String, DropReason)>,
    /// When a live item was queued (ms), for the delivery-latency histogram.
    queued_at_ms: Option<i64>,
    /// The producer span of a traced item to deliver (see [`QueueItem::traceparent`]).
    traceparent: Option<String>,
}

impl<S: Store> Router<S> {
    /// One round of a drain over the queue head read: plans the first DRAIN_BATCH items and sends
    /// their step; with more to take, plans the next DRAIN_BATCH while Redis runs the first and
    /// sends that step right behind it on the same connection (biased: the first is polled, so
    /// sent, first). The second expects the head the first leaves, so it commits only if the first
    /// took all. Returns each sent step's plan and reply, and the error that kept a second step
    /// from being planned (the first is still to be reported).
    pub(super) async fn round<'a>(
        self: &Arc<Self>,
        orchestrator_id: &str,
        session: &KnownSession,
        head: &'a [Vec<u8>],
        now: i64,
    ) -> (Vec<(Vec<Planned<'a>>, StoreResult<DrainReply>)>, Option<RouterError>) {
        let orders = self.orders.reserve(now, head.len());
        let first = match self.plan(orchestrator_id, &head[..head.len().min(DRAIN_BATCH)], orders, session, now).await {
            Ok(plan) => plan,
            Err(e) => return (Vec::new(), Some(e)),
        };
        let first_step = self.step(orchestrator_id, session, &first, now);
        if !(first.len() == DRAIN_BATCH && head.len() > DRAIN_BATCH) {
            let reply = self.bounded(self.store.drain_step(&first_step)).await;
            return (vec![(first, reply)], None);
        }
        let second = async {
            let plan = self.plan(orchestrator_id, &head[DRAIN_BATCH..], orders + DRAIN_BATCH as i64, session, now).await?;
            let step = self.step(orchestrator_id, session, &plan, now);
            let reply = self.bounded(self.store.drain_step(&step)).await;
            Ok::<_, RouterError>((plan, reply))
        };
        let (first_reply, second) = tokio::join!(biased; self.bounded(self.store.drain_step(&first_step)), second);
        let mut replies = vec![(first, first_reply)];
        match second {
            Ok(sent) => {
                replies.push(sent);
                (replies, None)
            }
            Err(e) => (replies, Some(e)),
        }
    }

    /// Offline: drops what expired (or cannot be read) at the head of each level, in one step
    /// that checks those heads, and files the orchestrator for when the next queued message
    /// expires, or at `recheck` if sooner (a deferred drain). `head` holds the first items of each
    /// level (`levels` of each, read at most `read` per level); the rest waits, in order.
    pub(super) async fn drop_expired<'a>(
        &self,
        orchestrator_id: &str,
        head: &'a [Vec<u8>],
        levels: [usize; 3],
        read: usize,
        now: i64,
        recheck: Option<i64>,
    ) -> (Vec<Planned<'a>>, StoreResult<DrainReply>) {
        let ttl_ms = self.config.queue_ttl_ms();
        let mut plan = Vec::new();
        let mut counts = [0; 3];
        let mut revisit: Option<i64> = None;
        let mut start = 0;
        for (level, &count) in levels.iter().enumerate() {
            let segment = &head[start..start + count];
            start += count;
            for raw in segment {
                let drop = match self.classify(raw, now) {
                    Classified::Live(item) => {
                        revisit = Some(revisit.map_or(item.1 + ttl_ms, |r| r.min(item.1 + ttl_ms)));
                        break;
                    }
                    Classified::Expired(id) => (id, DropReason::Expired),
                    Classified::Invalid(id) => (id, DropReason::Invalid),
                };
                plan.push(Planned { raw, action: DrainAction::Drop, drop: Some(drop), queued_at_ms: None, traceparent: None });
                counts[level] += 1;
            }
            // A level read in full and dropped in full may hold more behind what was read.
            if counts[level] == count && count >= read {
                revisit = Some(now);
            }
        }
        if let Some(recheck) = recheck {
            revisit = Some(revisit.map_or(recheck, |r| r.min(recheck)));
        }
        let step = DrainStep {
            orchestrator_id,
            session: None,
            copies: Vec::new(),
            items: plan.iter().map(|p| (p.raw, p.action.clone())).collect(),
            levels: Some(counts),
            retry_at_ms: now + self.config.drain_interval_ms as i64,
            revisit_at_ms: revisit.unwrap_or(now + self.config.drain_interval_ms as i64),
            receipt_deadline_ms: self.receipt_deadline(now, 1),
            now_ms: now,
        };
        let reply = self.bounded(self.store.drain_step(&step)).await;
        (plan, reply)
    }

    /// Decides what to do with each head item (online): every item is delivered or dropped.
    /// `first_order` is the delivery-order value of `head[0]` (the next items take the next ones).
    async fn plan<'a>(
        &self,
        orchestrator_id: &str,
        head: &'a [Vec<u8>],
        first_order: i64,
        session: &KnownSession,
        now: i64,
    ) -> Result<Vec<Planned<'a>>, RouterError> {
        let mut plan = Vec::with_capacity(head.len());
        let mut live = Vec::new();
        for raw in head {
            let (drop, item, queued_at_ms) = match self.classify(raw, now) {
                Classified::Live(item) => (None, Some(item.0), Some(item.1)),
                Classified::Expired(id) => (Some((id, DropReason::Expired)), None, None),
                Classified::Invalid(id) => (Some((id, DropReason::Invalid)), None, None),
            };
            if let Some(item) = item {
                live.push((plan.len(), item));
            }
            plan.push(Planned { raw, action: DrainAction::Drop, drop, queued_at_ms, traceparent: None });
        }
        let updates = match self.hosts.messages() {
            Some(source) if !live.is_empty() => {
                let ids = live.iter().map(|(_, item)| item.message_id.clone()).collect();
                let updates = self.bounded_host("the message look-up", source.fetch(ids)).await.map_err(RouterError::MessageService)?;
                if updates.len() != live.len() {
                    return Err(RouterError::MessageService(format!(
                        "the message look-up returned {} messages for {} ids",
                        updates.len(),
                        live.len()
                    )));
                }
                Some(updates)
            }
            _ => None,
        };
        let now_iso = format_iso(now);
        for (n, (index, mut item)) in live.into_iter().enumerate() {
            let raw = std::str::from_utf8(plan[index].raw).unwrap_or_default();
            match updates.as_ref().map(|u| u[n].clone()) {
                Some(None) => {
                    plan[index].drop = Some((item.message_id, DropReason::Deleted));
                    continue;
                }
                Some(Some(update)) => {
                    apply_update(&mut item, update);
                    // An edit is held to the limit a routed message is: it is never delivered past it.
                    if item.content.len() as u64 > self.config.max_message_bytes {
                        plan[index].drop = Some((item.message_id, DropReason::TooLarge));
                        continue;
                    }
                }
                None => {}
            }
            let event_id = super::model::new_event_id(now);
            let event = to_json(&DaemonEvent::for_item(&event_id, &item, &session.daemon_id, orchestrator_id, &now_iso));
            let copies = session
                .copies
                .iter()
                .map(|(_, daemon_id)| to_json(&DaemonEvent::for_item(&event_id, &item, daemon_id, orchestrator_id, &now_iso)))
                .collect();
            let marker = DeliveredMarker { session_id: session.session_id.clone(), delivered_at: now_iso.clone() };
            let receipt = if self.config.delivery_receipts {
                to_json(&InflightRecord {
                    item: raw.to_owned(),
                    event_id,
                    attempts: 1,
                    order: first_order + index as i64,
                    session_id: session.session_id.clone(),
                    last_error: None,
                })
            } else {
                String::new()
            };
            plan[index].traceparent = item.traceparent.take();
            plan[index].action =
                DrainAction::Deliver { event, marker: to_json(&marker), receipt, message_id: item.message_id, copies };
        }
        Ok(plan)
    }

    /// The online step that applies `plan`.
    fn step<'a>(&self, orchestrator_id: &'a str, session: &'a KnownSession, plan: &[Planned<'a>], now: i64) -> DrainStep<'a> {
        DrainStep {
            orchestrator_id,
            session: Some((session.session_id.as_str(), session.daemon_id.as_str())),
            copies: session.copy_refs(),
            items: plan.iter().map(|p| (p.raw, p.action.clone())).collect(),
            levels: None,
            retry_at_ms: now + self.config.drain_interval_ms as i64,
            revisit_at_ms: now + self.config.drain_interval_ms as i64,
            receipt_deadline_ms: self.receipt_deadline(now, 1),
            now_ms: now,
        }
    }

    pub(super) fn report_step(
        &self,
        orchestrator_id: &str,
        session: Option<&KnownSession>,
        plan: &[Planned<'_>],
        outcomes: &[ItemOutcome],
        summary: &mut DrainSummary,
    ) {
        for (planned, outcome) in plan.iter().zip(outcomes) {
            match (outcome, &planned.action) {
                (ItemOutcome::Delivered, DrainAction::Deliver { message_id, .. }) => {
                    summary.processed += 1;
                    self.metrics.drained();
                    if let Some(queued_at_ms) = planned.queued_at_ms {
                        self.metrics.latency((now_ms() - queued_at_ms) as f64);
                    }
                    for session_id in session.iter().flat_map(|s| s.session_ids()) {
                        self.report_routed(message_id, orchestrator_id, session_id.to_owned(), 1);
                    }
                }
                (ItemOutcome::AlreadyDelivered, _) => summary.processed += 1,
                _ => {
                    summary.dropped += 1;
                    let (message_id, reason) = planned.drop.clone().unwrap_or((String::new(), DropReason::Invalid));
                    self.report_drop(orchestrator_id, message_id, reason);
                }
            }
        }
    }
}

impl<S: Store> Router<S> {
    /// While a tracer provider is registered (the JS layer then asks for
    /// [`EventKind::TraceDrain`]): what the span of a step that delivered to `session`, planned at
    /// `started_at`, says.
    pub(super) fn trace_step(&self, orchestrator_id: &str, session: &KnownSession, plan: &[Planned<'_>], outcomes: &[ItemOutcome], started_at: i64) {
        if !self.sink.wants(EventKind::TraceDrain) {
            return;
        }
        let delivered: Vec<&Planned<'_>> =
            plan.iter().zip(outcomes).filter(|(_, outcome)| matches!(outcome, ItemOutcome::Delivered)).map(|(planned, _)| planned).collect();
        if delivered.is_empty() {
            return;
        }
        self.emit(EventKind::TraceDrain, || Event::TraceDrain {
            orchestrator_id: orchestrator_id.to_owned(),
            daemon_id: Some(session.daemon_id.clone()),
            started_at,
            delivered: delivered.len() as u64,
            traceparents: delivered.iter().filter_map(|planned| planned.traceparent.clone()).collect(),
            error: None,
        });
    }
}

/// Applies what the message service says a message is now (an edit).
fn apply_update(item: &mut QueueItem, update: MessageUpdate) {
    item.content = update.content;
    if let Some(channel_id) = update.channel_id {
        item.channel_id = channel_id;
    }
    if update.author_id.is_some() {
        item.author_id = update.author_id;
    }
    if let Some(created_at_ms) = update.created_at_ms {
        item.created_at = Some(format_iso(created_at_ms));
    }
}
