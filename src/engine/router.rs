//! The [`Router`]: the engine's facade. It holds the store, the configuration and the parts that
//! own the router's state — the session memo ([`SessionMemo`]), the drains running here
//! ([`DrainSlots`]), the host's services ([`Hosts`]), delivery order, metrics — and the
//! background ticker; what it does is in the files beside it: routing (`route`, `batch`), draining
//! (`drain`, `plan`), sessions (`sessions`) and receipts (`receipts`).

use super::config::RouterConfig;
use super::slots::DrainSlots;
use super::error::RouterError;
use super::events::{DropReason, Event, EventKind, EventSink, Stamped};
use super::host::{Hosts, MessageSource, PresenceSource};
use super::memo::SessionMemo;
use super::model::Classified;
use super::time::now_ms;
use crate::store::{Store, StoreError, StoreResult};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::task::JoinHandle;

/// Routes messages to orchestrator daemons over a [`Store`].
pub struct Router<S: Store> {
    pub(super) store: S,
    pub(super) config: RouterConfig,
    pub(super) sink: Arc<dyn EventSink>,
    pub(super) memo: SessionMemo,
    pub(super) drains: DrainSlots,
    pub(super) hosts: Hosts,
    pub(super) orders: DeliveryOrder,
    pub(super) metrics: super::metrics::Metrics,
    ticker: Mutex<Option<JoinHandle<()>>>,
    closed: AtomicBool,
}

impl<S: Store> Router<S> {
    /// A router over `store`; it reports through `sink`.
    pub fn new(store: S, config: RouterConfig, sink: Arc<dyn EventSink>) -> Arc<Self> {
        Arc::new(Router {
            store,
            config,
            sink,
            memo: SessionMemo::default(),
            drains: DrainSlots::default(),
            hosts: Hosts::default(),
            ticker: Mutex::new(None),
            closed: AtomicBool::new(false),
            orders: DeliveryOrder::default(),
            metrics: super::metrics::Metrics::default(),
        })
    }

    /// Counts an event, and sends it if anyone listens to its kind; `build` runs only then.
    pub(super) fn emit(&self, kind: EventKind, build: impl FnOnce() -> Event) {
        self.metrics.on_event(kind);
        if self.sink.wants(kind) {
            self.sink.emit(Stamped { event: build(), timestamp: now_ms() });
        }
    }

    /// Runs one store operation bounded by `deliveryTimeoutMs`.
    pub(super) async fn bounded<T>(&self, operation: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
        within(Some(self.config.delivery_timeout_ms), operation).await
    }

    /// Bounds a call into the host (`what`: its message or presence service) by `deliveryTimeoutMs`.
    pub(super) async fn bounded_host<T>(&self, what: &str, call: impl Future<Output = Result<T, String>>) -> Result<T, String> {
        let limit = Duration::from_millis(self.config.delivery_timeout_ms);
        match tokio::time::timeout(limit, call).await {
            Ok(result) => result,
            Err(_) => Err(format!("{what} gave no answer within {} ms", self.config.delivery_timeout_ms)),
        }
    }

    /// Fails once the router is closed; otherwise makes sure its background work runs (it starts
    /// at the router's first call, so that constructing a router opens no connection).
    pub(super) fn check_open(self: &Arc<Self>) -> Result<(), RouterError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(RouterError::Closed);
        }
        self.ensure_ticker();
        Ok(())
    }

    /// Reports a message pushed to the daemon of `session_id`.
    pub(super) fn report_routed(&self, message_id: &str, orchestrator_id: &str, session_id: String, attempts: u32) {
        self.emit(EventKind::MessageRouted, || Event::MessageRouted {
            message_id: message_id.to_owned(),
            orchestrator_id: orchestrator_id.to_owned(),
            session_id,
            attempts,
        });
    }

    /// Reports a message that left the queue without being delivered.
    pub(super) fn report_drop(&self, orchestrator_id: &str, message_id: String, reason: DropReason) {
        self.metrics.dropped(reason);
        self.emit(EventKind::MessageDropped, || Event::MessageDropped {
            message_id,
            orchestrator_id: orchestrator_id.to_owned(),
            reason,
        });
    }

    /// Reads a raw queue entry now and tells whether it is still deliverable.
    pub(super) fn classify(&self, raw: &[u8], now: i64) -> Classified {
        Classified::of(raw, now, self.config.queue_ttl_ms())
    }

    /// What this router has done since it was created.
    pub fn metrics(&self) -> &super::metrics::Metrics {
        &self.metrics
    }

    /// Refuses an id (orchestrator or daemon) that is empty or cannot name keys in the store.
    pub(super) fn key_id(&self, field: &str, id: &str) -> Result<(), RouterError> {
        super::model::key_id(&self.store, field, id)
    }

    /// When a delivery (the `attempts`-th of its message) is due for redelivery without a receipt:
    /// `deliveryTimeoutMs` plus the retry backoff after it.
    pub(super) fn receipt_deadline(&self, delivered_at_ms: i64, attempts: u32) -> i64 {
        delivered_at_ms + self.config.delivery_timeout_ms as i64 + self.config.retry.delay_ms(attempts) as i64
    }

    /// Sets (or clears) the message service that drains re-read queued messages through.
    pub fn set_message_source(&self, source: Option<Arc<dyn MessageSource>>) {
        self.hosts.set_messages(source);
    }

    /// Sets (or clears) the presence service a drain asks before delivering.
    pub fn set_presence_source(&self, source: Option<Arc<dyn PresenceSource>>) {
        self.hosts.set_presence(source);
    }

    /// Stops background work and releases the store's connections; later calls fail.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        if let Some(ticker) = self.ticker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            ticker.abort();
        }
        self.store.close();
        // What the router learned per orchestrator goes now, not when the JS object is collected.
        self.memo.clear();
        self.drains.clear();
    }

    /// Whether [`Router::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Starts the background look for due backlogs, once, from inside the runtime.
    fn ensure_ticker(self: &Arc<Self>) {
        let mut ticker = self.ticker.lock().unwrap_or_else(|e| e.into_inner());
        if ticker.is_some() || self.closed.load(Ordering::Acquire) {
            return;
        }
        let router: Weak<Self> = Arc::downgrade(self);
        let interval = Duration::from_millis(self.config.drain_interval_ms);
        *ticker = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                match router.upgrade() {
                    Some(router) if !router.is_closed() => router.drain_due().await,
                    _ => return,
                }
            }
        }));
    }
}

/// Delivery-order values for in-flight records: ms × 1000, or just after the last one handed out,
/// so that two deliveries in the same millisecond keep their order when overdue messages are
/// requeued (per router: routers do not share a counter).
#[derive(Default)]
pub(super) struct DeliveryOrder {
    last: AtomicI64,
}

impl DeliveryOrder {
    /// Reserves `count` consecutive values at `now_ms` and returns the first.
    pub(super) fn reserve(&self, now_ms: i64, count: usize) -> i64 {
        let wanted = now_ms * 1000;
        let mut last = self.last.load(Ordering::Acquire);
        loop {
            let start = wanted.max(last + 1);
            match self.last.compare_exchange_weak(last, start + count.max(1) as i64 - 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return start,
                Err(seen) => last = seen,
            }
        }
    }
}

/// Runs one store operation, failing it with a timeout after `limit_ms` when given.
pub(super) async fn within<T>(limit_ms: Option<u64>, operation: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
    let Some(limit_ms) = limit_ms else { return operation.await };
    match tokio::time::timeout(Duration::from_millis(limit_ms), operation).await {
        Ok(result) => result,
        Err(_) => Err(StoreError::Timeout(format!("timed out after {limit_ms} ms"))),
    }
}
