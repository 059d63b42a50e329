//! Routing one message: prepared once, routed through the session the memo believes is current
//! (learning the current one when the store says it changed), retried with backoff, and turned
//! into the caller's result with its events; queueing for an offline orchestrator.

use super::error::RouterError;
use super::events::{DropReason, Event, EventKind};
use super::memo::KnownSession;
use super::model::{self, message_id_of, to_json, Classified, DaemonEvent, DeliveredMarker, InflightRecord, Message, QueueItem};
use super::router::Router;
use super::time::{format_iso, now_ms};
use crate::store::{BroadcastCopy, QueueStatus, RouteReply, RouteRequest, Store, StoreError, StoreResult};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The result of routing one message, as `routeMessage` resolves it.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteOutcome {
    pub success: bool,
    pub status: RouteStatus,
    pub session_id: Option<String>,
    pub error: Option<String>,
    pub attempts: u32,
    /// With `durability`: whether replicas confirmed the route's writes (true on success; false
    /// when it failed because they did not). `None` without durability, and on other failures.
    pub durable: Option<bool>,
    /// The daemon of the delivering session, for a traced message delivered (the span names its
    /// event list); `None` otherwise, so that untraced results stay as they were.
    pub daemon_id: Option<String>,
}

/// Where a routed message ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteStatus {
    /// In the daemon's event list.
    Delivered,
    /// Queued: the orchestrator is offline.
    Offline,
    /// Queued behind a backlog or a full daemon event list; drained by itself.
    Pending,
    /// Not delivered and not queued.
    Failed,
}

impl RouteStatus {
    /// The deployed service's status string.
    pub fn as_str(self) -> &'static str {
        match self {
            RouteStatus::Delivered => "delivered",
            RouteStatus::Offline => "offline",
            RouteStatus::Pending => "pending",
            RouteStatus::Failed => "failed",
        }
    }
}

/// What a route writes for the session the router believes is current.
pub(super) struct Built {
    session_id: String,
    daemon_id: String,
    event: String,
    marker: String,
    receipt: Option<String>,
    /// Broadcast: the other target sessions, each with the event built for its daemon.
    copies: Vec<BroadcastCopy>,
}

/// A message prepared once and reused by every attempt, so retries are byte-identical.
pub(super) struct Prepared {
    pub(super) message_id: String,
    /// When the router took the message (for the delivery-latency histogram).
    started: std::time::Instant,
    event_id: String,
    item: QueueItem,
    item_json: String,
    expires_at_ms: i64,
    now_ms: i64,
    /// Its place in delivery order, fixed once so that every attempt records the same.
    order: i64,
}

impl<S: Store> Router<S> {
    /// Routes a prepared message with retries; `dedupe` from the first attempt when an earlier
    /// call may already have written it.
    pub(super) async fn route_prepared(self: &Arc<Self>, prepared: &Prepared, orchestrator_id: &str, queue_only: bool, dedupe: bool) -> RouteOutcome {
        self.route_prepared_after(prepared, orchestrator_id, queue_only, dedupe, 0).await
    }

    /// [`Router::route_prepared`] for a message that has failed `failed` attempts already (in a
    /// batch): they count against `retry.maxAttempts`.
    pub(super) async fn route_prepared_after(
        self: &Arc<Self>,
        prepared: &Prepared,
        orchestrator_id: &str,
        queue_only: bool,
        dedupe: bool,
        failed: u32,
    ) -> RouteOutcome {
        if queue_only && !self.config.offline_queue.enabled {
            return self.fail(&prepared.message_id, orchestrator_id, format!("Orchestrator is offline: {orchestrator_id}"), 1);
        }
        let result = self
            .with_retries_after(failed, &[(&prepared.message_id, orchestrator_id)], |attempt| {
                self.route_once(prepared, orchestrator_id, queue_only, dedupe || attempt > 1)
            })
            .await;
        match result {
            Ok((reply, attempts)) => self.outcome(prepared, orchestrator_id, reply, attempts),
            Err((error, attempts)) => self.failed_on(&prepared.message_id, orchestrator_id, &error, attempts),
        }
    }

    /// Queues one message whatever the orchestrator's state (`queueMessageForOffline`).
    pub async fn queue(self: &Arc<Self>, message: Message, orchestrator_id: &str) -> Result<u64, RouterError> {
        let prepared = self.prepare(&message, orchestrator_id)?;
        self.check_open()?;
        if !self.config.offline_queue.enabled {
            return Err(RouterError::QueueDisabled { orchestrator_id: orchestrator_id.to_owned() });
        }
        let reply = self
            .with_retries(&[(&prepared.message_id, orchestrator_id)], |attempt| self.route_once(&prepared, orchestrator_id, true, attempt > 1))
            .await
            .map_err(|(error, _)| error)?;
        match reply.0 {
            RouteReply::Queued { queue_size, dropped, .. } => {
                self.report_queued(&prepared.message_id, orchestrator_id, queue_size, &dropped);
                self.metrics.routed(1);
                Ok(queue_size)
            }
            RouteReply::QueueFull { dropped, .. } => {
                self.report_full(&prepared, orchestrator_id, &dropped);
                Err(self.queue_full(orchestrator_id))
            }
            other => Err(StoreError::unexpected("a queue-only route", other).into()),
        }
    }

    pub(super) fn prepare(&self, message: &Message, orchestrator_id: &str) -> Result<Prepared, RouterError> {
        self.key_id("orchestratorId", orchestrator_id)?;
        message.validate(self.config.max_message_bytes)?;
        let now = now_ms();
        let item = QueueItem::new(message, now);
        Ok(Prepared {
            message_id: message.id.clone(),
            started: std::time::Instant::now(),
            event_id: model::new_event_id(now),
            item_json: to_json(&item),
            item,
            expires_at_ms: now + self.config.queue_ttl_ms(),
            now_ms: now,
            order: self.orders.reserve(now, 1),
        })
    }

    /// Runs `operation` until it succeeds or `retry.maxAttempts` attempts have failed, waiting
    /// the backoff between attempts: its value and the attempt that got it, or the last error and
    /// the attempts made. Each failed attempt is reported as `message.routing_error` for each of
    /// `messages` (message id, orchestrator id), and each retry counts once per message.
    pub(super) async fn with_retries<T, F, Fut>(&self, messages: &[(&str, &str)], operation: F) -> Result<(T, u32), (StoreError, u32)>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = StoreResult<T>>,
    {
        self.with_retries_after(0, messages, operation).await
    }

    /// [`Router::with_retries`] for messages that have failed `failed` attempts already: the
    /// first attempt made here is number `failed + 1`.
    pub(super) async fn with_retries_after<T, F, Fut>(&self, failed: u32, messages: &[(&str, &str)], mut operation: F) -> Result<(T, u32), (StoreError, u32)>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = StoreResult<T>>,
    {
        let retry = &self.config.retry;
        let mut attempt = failed + 1;
        loop {
            match self.bounded(operation(attempt)).await {
                Ok(value) => return Ok((value, attempt)),
                Err(error) => {
                    self.attempt_failed(messages, &error);
                    if attempt >= retry.max_attempts || self.is_closed() {
                        return Err((error, attempt));
                    }
                    tokio::time::sleep(Duration::from_millis(retry.delay_ms(attempt))).await;
                    self.metrics.retried(messages.len() as u64);
                    attempt += 1;
                }
            }
        }
    }

    /// Reports an attempt that failed with `error` as `message.routing_error` for each of
    /// `messages` (message id, orchestrator id).
    pub(super) fn attempt_failed(&self, messages: &[(&str, &str)], error: &StoreError) {
        for &(message_id, orchestrator_id) in messages {
            self.emit(EventKind::MessageRoutingError, || Event::MessageRoutingError {
                message_id: message_id.to_owned(),
                orchestrator_id: orchestrator_id.to_owned(),
                error: error.to_string(),
            });
        }
    }

    /// One attempt: route through the session this router knows, learning the current one if
    /// the store says it changed.
    async fn route_once(&self, prepared: &Prepared, orchestrator_id: &str, queue_only: bool, dedupe: bool) -> StoreResult<RouteReply> {
        let mut known = self.memo.known(orchestrator_id);
        for _ in 0..3 {
            let built = self.build(prepared, orchestrator_id, known.as_ref());
            match self.store.route(&self.request(prepared, orchestrator_id, &built, queue_only, dedupe)).await? {
                RouteReply::Stale { session } => known = self.memo.learn(orchestrator_id, &session),
                reply => return Ok(reply),
            }
        }
        Err(StoreError::Contended(format!("the session of orchestrator {orchestrator_id} kept changing")))
    }

    /// The JSON a route writes, for the session the router believes is current.
    pub(super) fn build(&self, prepared: &Prepared, orchestrator_id: &str, known: Option<&KnownSession>) -> Built {
        let (session_id, daemon_id) = known.map_or((String::new(), String::new()), |k| (k.session_id.clone(), k.daemon_id.clone()));
        let now_iso = format_iso(now_ms());
        let event = to_json(&DaemonEvent::for_item(&prepared.event_id, &prepared.item, &daemon_id, orchestrator_id, &now_iso));
        let copies = known.map_or(Vec::new(), |k| {
            k.copies
                .iter()
                .map(|(session_id, daemon_id)| BroadcastCopy {
                    session_id: session_id.clone(),
                    daemon_id: daemon_id.clone(),
                    event: to_json(&DaemonEvent::for_item(&prepared.event_id, &prepared.item, daemon_id, orchestrator_id, &now_iso)),
                })
                .collect()
        });
        let marker = to_json(&DeliveredMarker { session_id: session_id.clone(), delivered_at: now_iso });
        let receipt = self.config.delivery_receipts.then(|| {
            to_json(&InflightRecord {
                item: prepared.item_json.clone(),
                event_id: prepared.event_id.clone(),
                attempts: 1,
                order: prepared.order,
                session_id: session_id.clone(),
                last_error: None,
            })
        });
        Built { session_id, daemon_id, event, marker, receipt, copies }
    }

    /// The store request for a built message.
    pub(super) fn request<'a>(
        &self,
        prepared: &'a Prepared,
        orchestrator_id: &'a str,
        built: &'a Built,
        queue_only: bool,
        dedupe: bool,
    ) -> RouteRequest<'a> {
        RouteRequest {
            orchestrator_id,
            message_id: &prepared.message_id,
            session_id: &built.session_id,
            daemon_id: &built.daemon_id,
            daemon_event: &built.event,
            marker: &built.marker,
            queue_item: &prepared.item_json,
            priority: prepared.item.priority,
            expires_at_ms: prepared.expires_at_ms,
            // The attempt's own time: a retry seconds later must not see a session as living
            // that has expired since the message was prepared.
            now_ms: now_ms(),
            dedupe,
            queue_only,
            receipt: built.receipt.as_deref().map(|record| (record, self.receipt_deadline(prepared.now_ms, 1))),
            copies: &built.copies,
        }
    }

    /// Turns a store reply into the caller's result, reporting what happened.
    pub(super) fn outcome(self: &Arc<Self>, prepared: &Prepared, orchestrator_id: &str, reply: RouteReply, attempts: u32) -> RouteOutcome {
        let mut outcome = self.outcome_of(prepared, orchestrator_id, reply, attempts);
        if prepared.item.traceparent.is_some() {
            if let Some(session_id) = outcome.session_id.as_deref() {
                outcome.daemon_id = self.memo.known(orchestrator_id).filter(|k| k.session_id == session_id).map(|k| k.daemon_id);
            }
        }
        outcome
    }

    fn outcome_of(self: &Arc<Self>, prepared: &Prepared, orchestrator_id: &str, reply: RouteReply, attempts: u32) -> RouteOutcome {
        let message_id = &prepared.message_id;
        let queued = |status| RouteOutcome { success: true, status, session_id: None, error: None, attempts, durable: self.confirmed(), daemon_id: None };
        if matches!(reply, RouteReply::Delivered { .. } | RouteReply::AlreadyDelivered { .. }) {
            self.metrics.latency(prepared.started.elapsed().as_secs_f64() * 1000.0);
        }
        match reply {
            RouteReply::Delivered { session_id, copies } => {
                for copy in copies {
                    self.report_routed(message_id, orchestrator_id, copy, attempts);
                }
                self.delivered(message_id, orchestrator_id, session_id, attempts)
            }
            RouteReply::AlreadyDelivered { marker } => {
                // Delivered by an earlier attempt (or another router): report it as delivered,
                // through the session its marker names.
                let session_id = serde_json::from_str::<DeliveredMarker>(&marker).map(|m| m.session_id).unwrap_or_default();
                self.delivered(message_id, orchestrator_id, session_id, attempts)
            }
            RouteReply::Queued { status, queue_size, dropped } => {
                self.report_queued(message_id, orchestrator_id, queue_size, &dropped);
                if status == QueueStatus::Pending {
                    self.drain_later(orchestrator_id);
                    queued(RouteStatus::Pending)
                } else {
                    queued(RouteStatus::Offline)
                }
            }
            RouteReply::QueueFull { dropped, .. } => {
                self.report_full(prepared, orchestrator_id, &dropped);
                let error = self.queue_full(orchestrator_id).to_string();
                self.fail(message_id, orchestrator_id, error, attempts)
            }
            RouteReply::Refused { status } => {
                let error = match status {
                    QueueStatus::Offline => format!("Orchestrator is offline: {orchestrator_id}"),
                    QueueStatus::Pending => format!(
                        "The daemon of orchestrator {orchestrator_id} has a full event list and the offline queue is disabled"
                    ),
                };
                self.fail(message_id, orchestrator_id, error, attempts)
            }
            RouteReply::Stale { .. } => unreachable!("route_once resolves stale sessions"),
        }
    }

    fn delivered(&self, message_id: &str, orchestrator_id: &str, session_id: String, attempts: u32) -> RouteOutcome {
        self.report_routed(message_id, orchestrator_id, session_id.clone(), attempts);
        RouteOutcome { success: true, status: RouteStatus::Delivered, session_id: Some(session_id), error: None, attempts, durable: self.confirmed(), daemon_id: None }
    }

    /// `durable` of a route that succeeded: confirmed, when durability is on (its writes were).
    fn confirmed(&self) -> Option<bool> {
        self.config.durability.map(|_| true)
    }

    /// The result of a route whose last attempt failed with `error`.
    pub(super) fn failed_on(&self, message_id: &str, orchestrator_id: &str, error: &StoreError, attempts: u32) -> RouteOutcome {
        let mut outcome = self.fail(message_id, orchestrator_id, error.to_string(), attempts);
        if matches!(error, StoreError::NotReplicated { .. }) {
            outcome.durable = Some(false);
        }
        outcome
    }

    pub(super) fn fail(&self, message_id: &str, orchestrator_id: &str, error: String, attempts: u32) -> RouteOutcome {
        self.emit(EventKind::MessageRoutingFailed, || Event::MessageRoutingFailed {
            message_id: message_id.to_owned(),
            orchestrator_id: orchestrator_id.to_owned(),
            attempts,
            error: error.clone(),
        });
        RouteOutcome { success: false, status: RouteStatus::Failed, session_id: None, error: Some(error), attempts, durable: None, daemon_id: None }
    }

    fn report_queued(&self, message_id: &str, orchestrator_id: &str, queue_size: u64, dropped: &[String]) {
        self.report_dropped(orchestrator_id, dropped.iter().map(|raw| raw.as_bytes()), now_ms());
        self.emit(EventKind::MessageQueued, || Event::MessageQueued {
            message_id: message_id.to_owned(),
            orchestrator_id: orchestrator_id.to_owned(),
            queue_size,
        });
    }

    /// Reports a message the full queue did not take (and what it pushed out before finding so).
    fn report_full(&self, prepared: &Prepared, orchestrator_id: &str, dropped: &[String]) {
        self.report_dropped(orchestrator_id, dropped.iter().map(|raw| raw.as_bytes()), now_ms());
        self.report_drop(orchestrator_id, prepared.message_id.clone(), DropReason::QueueFull);
    }

    fn queue_full(&self, orchestrator_id: &str) -> RouterError {
        RouterError::QueueFull { orchestrator_id: orchestrator_id.to_owned(), max_queue_size: self.config.offline_queue.max_queue_size }
    }

    /// Reports items the queue cap pushed out: `expired` if they had outlived their TTL anyway.
    fn report_dropped<'a>(&self, orchestrator_id: &str, dropped: impl Iterator<Item = &'a [u8]>, now: i64) {
        for raw in dropped {
            let reason = match self.classify(raw, now) {
                Classified::Live(_) => DropReason::QueueFull,
                Classified::Expired(_) => DropReason::Expired,
                Classified::Invalid(_) => DropReason::Invalid,
            };
            self.metrics.dropped(reason);
            self.emit(EventKind::MessageDropped, || Event::MessageDropped {
                message_id: message_id_of(raw),
                orchestrator_id: orchestrator_id.to_owned(),
                reason,
            });
        }
    }
}
