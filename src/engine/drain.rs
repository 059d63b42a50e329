//! Draining an orchestrator's queue into its daemon's event list: in order, each message
//! exactly once, in atomic steps that check the queue head they were planned on.
//!
//! A drain ([`Router::drain`]) holds the orchestrator's slot and makes passes ([`Router::pass`]):
//! overdue receipts first, then rounds (`plan`: read the head, plan and send its steps) until the
//! queue is empty, the orchestrator offline or its daemon full. `drain_now` is the caller's drain
//! (`processQueuedMessages`), `drain_later` a background one, and the ticker's `drain_due` claims
//! the backlogs due a look.

use super::error::RouterError;
use super::events::{Deferred, Event, EventKind};
use super::host::Presence;
use super::plan::{DrainSummary, DRAIN_BATCH};
use super::router::Router;
use super::slots::{DrainSlot, Pace};
use super::time::now_ms;
use crate::store::{DrainReply, Store};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Queue items a drain reads at once: the items of two steps, the second sent right behind the first.
const DRAIN_READ: usize = 2 * DRAIN_BATCH;
/// How soon a drain first looks again at a full daemon list (see `Router::pass`).
const FULL_DAEMON_WAIT: Duration = Duration::from_millis(2);
/// Orchestrators claimed per look for due backlogs.
const CLAIM_LIMIT: usize = 64;
/// Steps in a row that may find the queue changed under them (another router draining it)
/// before this drain leaves the rest to that router.
const MAX_CONFLICTS: u32 = 32;


impl<S: Store> Router<S> {
    /// Drains the orchestrator's queue now (`processQueuedMessages`); one drain per orchestrator
    /// runs at a time in this process.
    pub async fn drain_now(self: &Arc<Self>, orchestrator_id: &str) -> Result<DrainSummary, RouterError> {
        self.key_id("orchestratorId", orchestrator_id)?;
        self.check_open()?;
        self.drain(orchestrator_id, Pace::HandOff).await
    }

    /// Drains in the background (after a route found a backlog ahead of it, or the ticker found
    /// one due); never waits. If a drain of that orchestrator is already running here, it is
    /// asked to look once more instead, so a burst of pending routes does not pile up one waiting
    /// drain each (nor, while the daemon list is full, one look each).
    pub(super) fn drain_later(self: &Arc<Self>, orchestrator_id: &str) {
        self.drain_in_background(orchestrator_id, false);
    }

    /// [`Router::drain_later`] for a heartbeat: the daemon is alive and likely made room, so a
    /// drain waiting on its full list is woken to look at once.
    pub(super) fn drain_after_heartbeat(self: &Arc<Self>, orchestrator_id: &str) {
        self.drain_in_background(orchestrator_id, true);
    }

    fn drain_in_background(self: &Arc<Self>, orchestrator_id: &str, wake: bool) {
        let slot = self.drains.slot(orchestrator_id);
        if slot.lock.try_lock().is_err() {
            slot.again.store(true, Ordering::Release);
            if wake {
                slot.wake.notify_one();
            }
            return;
        }
        let router = Arc::clone(self);
        let orchestrator_id = orchestrator_id.to_owned();
        tokio::spawn(async move {
            // The slot goes along, so that a count of failures in it lasts (see `drain_failed`).
            let _ = router.drain_in(&slot, &orchestrator_id, Pace::KeepUp).await;
        });
    }

    /// Starts a background drain that keeps pace with a daemon taking events; it begins once the
    /// drain running now (which holds the orchestrator's slot) has returned.
    fn keep_pace_later(self: &Arc<Self>, orchestrator_id: &str) {
        let (router, orchestrator_id) = (Arc::clone(self), orchestrator_id.to_owned());
        tokio::spawn(async move {
            let _ = router.drain(&orchestrator_id, Pace::KeepUp).await;
        });
    }

    /// Claims the backlogs due a look and drains each (the ticker's work); starts the store's
    /// upkeep beside it when none is running, so that a long one never holds up the claims.
    pub(super) async fn drain_due(self: &Arc<Self>) {
        let now = now_ms();
        if !self.drains.upkeep.swap(true, Ordering::AcqRel) {
            let router = Arc::clone(self);
            tokio::spawn(async move {
                // Cleared however the upkeep ends (a panic included), so the next tick can start one.
                struct Running<'a>(&'a AtomicBool);
                impl Drop for Running<'_> {
                    fn drop(&mut self) {
                        self.0.store(false, Ordering::Release);
                    }
                }
                let _running = Running(&router.drains.upkeep);
                if !router.is_closed() {
                    router.store.maintain(now).await;
                }
            });
        }
        // Hides a claimed backlog from other routers while this one drains it; if this router
        // dies, another picks the backlog up when the lease ends.
        if let Ok(due) = self.bounded(self.store.claim_due(now, now + self.lease_ms(), CLAIM_LIMIT)).await {
            for orchestrator_id in due {
                self.drain_later(&orchestrator_id);
            }
        }
    }

    /// How long a claimed backlog stays hidden from other routers; also how soon a deferred drain
    /// is looked at again.
    fn lease_ms(&self) -> i64 {
        (self.config.drain_interval_ms * 4).max(1000) as i64
    }

    /// Whether the presence service says the orchestrator is not online, asked once per drain
    /// (`presence` keeps the answer). No service, or one that fails, leaves it to the sessions, as
    /// `routeMessage` does.
    pub(super) async fn presence_says_offline(&self, presence: &mut Presence, orchestrator_id: &str) -> bool {
        if let Some(offline) = presence.0 {
            return offline;
        }
        let offline = match self.hosts.presence() {
            Some(source) => matches!(self.bounded_host("the presence service", source.online(orchestrator_id.to_owned())).await, Ok(false)),
            None => false,
        };
        presence.0 = Some(offline);
        offline
    }

    /// Drains the orchestrator's queue: passes until the queue is empty, the orchestrator is
    /// offline, or its daemon is full — and one pass more if another drain was asked for
    /// meanwhile. `pace` says what a full daemon list the daemon is taking events from does.
    pub(super) async fn drain(self: &Arc<Self>, orchestrator_id: &str, pace: Pace) -> Result<DrainSummary, RouterError> {
        let slot = self.drains.slot(orchestrator_id);
        self.drain_in(&slot, orchestrator_id, pace).await
    }

    /// [`Router::drain`] in the orchestrator's `slot`.
    async fn drain_in(self: &Arc<Self>, slot: &Arc<DrainSlot>, orchestrator_id: &str, pace: Pace) -> Result<DrainSummary, RouterError> {
        let _one_at_a_time = slot.lock.lock().await;
        loop {
            let started_at = now_ms();
            let summary = match self.pass(slot, orchestrator_id, pace).await {
                Ok(summary) => summary,
                Err(error) => {
                    self.drain_failed(orchestrator_id, slot, &error, started_at);
                    return Err(error);
                }
            };
            slot.failures.store(0, Ordering::Release);
            if !slot.again.swap(false, Ordering::AcqRel) {
                return Ok(summary);
            }
        }
    }

    /// A drain failed against Redis (a refused command, out of memory, the connection lost): it
    /// is reported with Redis's error, counted, and tried again after the retry policy's delay,
    /// whoever started it. The backlog stays queued as it was, so nothing waits on it silently.
    /// (`started_at`: when the pass that failed began.)
    fn drain_failed(self: &Arc<Self>, orchestrator_id: &str, slot: &Arc<DrainSlot>, error: &RouterError, started_at: i64) {
        if self.is_closed() {
            return;
        }
        let attempts = slot.failures.fetch_add(1, Ordering::AcqRel).saturating_add(1);
        let retry_in_ms = self.config.retry.delay_ms(attempts);
        self.emit(EventKind::QueueProcessingFailed, || Event::QueueProcessingFailed {
            orchestrator_id: orchestrator_id.to_owned(),
            error: error.to_string(),
            attempts,
            retry_in_ms,
        });
        self.emit(EventKind::TraceDrain, || Event::TraceDrain {
            orchestrator_id: orchestrator_id.to_owned(),
            daemon_id: None,
            started_at,
            delivered: 0,
            traceparents: Vec::new(),
            error: Some(error.to_string()),
        });
        if slot.retrying.swap(true, Ordering::AcqRel) {
            return;
        }
        // The retry holds the slot (and so the count of failures) until its drain has the slot too.
        let (router, slot, orchestrator_id) = (Arc::downgrade(self), Arc::clone(slot), orchestrator_id.to_owned());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(retry_in_ms)).await;
            slot.retrying.store(false, Ordering::Release);
            if let Some(router) = router.upgrade().filter(|router| !router.is_closed()) {
                router.drain_later(&orchestrator_id);
            }
        });
    }

    /// One pass over the queue: overdue receipts first, then rounds of steps over the queue head
    /// (see [`Router::drain`]).
    async fn pass(self: &Arc<Self>, slot: &DrainSlot, orchestrator_id: &str, pace: Pace) -> Result<DrainSummary, RouterError> {
        let mut presence = Presence::default();
        if self.config.delivery_receipts {
            self.redeliver_overdue(orchestrator_id, &mut presence).await?;
        }
        let mut summary = DrainSummary::default();
        let mut started = false;
        let mut conflicts = 0;
        let (mut full_wait, mut idle_waited) = (FULL_DAEMON_WAIT, Duration::ZERO);
        // After a round that found the daemon list full, read (and re-read through the message
        // service) only about twice what that round delivered: the room there is likely to be.
        let mut read = DRAIN_READ;
        let result = loop {
            let snapshot = match self.bounded(self.store.snapshot(orchestrator_id, read, now_ms())).await {
                Ok(snapshot) => snapshot,
                Err(e) => break Err(e.into()),
            };
            summary.remaining = snapshot.length;
            let known = snapshot.session.as_deref().and_then(|raw| self.memo.learn(orchestrator_id, raw));
            let has_work = known.is_some() && !snapshot.head.is_empty();
            // While presence says offline, the drain only drops what expired, as with no session.
            let offline = has_work && self.presence_says_offline(&mut presence, orchestrator_id).await;
            let session = known.filter(|_| !offline);
            if has_work && !started {
                started = true;
                self.emit(EventKind::QueueProcessingStarted, || Event::QueueProcessingStarted {
                    orchestrator_id: orchestrator_id.to_owned(),
                    queue_size: snapshot.length,
                });
            }
            let now = now_ms();
            let recheck = offline.then(|| now + self.lease_ms());
            let (replies, mut failed) = match &session {
                Some(session) => self.round(orchestrator_id, session, &snapshot.head, now).await,
                None => (vec![self.drop_expired(orchestrator_id, &snapshot.head, snapshot.levels, read, now, recheck).await], None),
            };
            // Every reply is looked at: a step can commit after an earlier one conflicted (another
            // router took exactly the earlier one's items), and its deliveries must be reported.
            let (mut done, mut conflicted, mut daemon_full, mut finished, mut taken) = (false, false, false, false, 0);
            for (chunk, reply) in &replies {
                match reply {
                    Err(e) => failed = failed.or_else(|| Some(e.clone().into())),
                    Ok(DrainReply::Conflict | DrainReply::Stale { .. }) => conflicted = true,
                    Ok(DrainReply::Done { outcomes, remaining }) => {
                        done = true;
                        taken += outcomes.len();
                        summary.remaining = *remaining;
                        self.report_step(orchestrator_id, session.as_ref(), chunk, outcomes, &mut summary);
                        if let Some(session) = &session {
                            self.trace_step(orchestrator_id, session, chunk, outcomes, now);
                        }
                        daemon_full |= outcomes.len() < chunk.len();
                        finished |= *remaining == 0 || session.is_none() || chunk.is_empty();
                    }
                }
            }
            if let Some(error) = failed {
                let RouterError::MessageService(error) = error else { break Err(error) };
                // The messages stay queued, in order; expired ones still go, and the orchestrator is
                // filed for another look soon (one step that may find the head changed: harmless).
                summary.deferred = Some(Deferred::LookupFailed { error });
                let (plan, reply) =
                    self.drop_expired(orchestrator_id, &snapshot.head, snapshot.levels, read, now, Some(now + self.lease_ms())).await;
                if let Ok(DrainReply::Done { outcomes, remaining }) = &reply {
                    summary.remaining = *remaining;
                    self.report_step(orchestrator_id, None, &plan, outcomes, &mut summary);
                }
                break Ok(());
            }
            if recheck.is_some() && summary.remaining > 0 {
                summary.deferred = Some(Deferred::Offline);
            }
            if finished {
                break Ok(());
            }
            if conflicted && !done {
                conflicts += 1;
                if conflicts > MAX_CONFLICTS {
                    break Ok(());
                }
                continue;
            }
            conflicts = 0;
            read = DRAIN_READ;
            if daemon_full {
                read = (taken * 2).clamp(16, DRAIN_READ);
                // A full daemon list is looked at again shortly instead of at the next tick: after
                // 2 ms, doubling while rounds deliver nothing and back to 2 ms when one does, until
                // the waits since the last delivery add up to drainIntervalMs (the tick's job then).
                let delivered = taken > 0;
                if pace == Pace::HandOff {
                    if delivered {
                        self.keep_pace_later(orchestrator_id);
                    }
                    break Ok(());
                }
                if delivered {
                    full_wait = FULL_DAEMON_WAIT;
                    idle_waited = Duration::ZERO;
                }
                if idle_waited >= Duration::from_millis(self.config.drain_interval_ms) {
                    break Ok(());
                }
                // A heartbeat while waiting says the daemon is alive and taking events: look again
                // at once, and start the waits over.
                tokio::select! {
                    () = tokio::time::sleep(full_wait) => {
                        idle_waited += full_wait;
                        full_wait *= 2;
                    }
                    () = slot.wake.notified() => {
                        slot.again.store(false, Ordering::Release);
                        full_wait = FULL_DAEMON_WAIT;
                        idle_waited = Duration::ZERO;
                    }
                }
            }
        };
        if started {
            self.emit(EventKind::QueueProcessingCompleted, || Event::QueueProcessingCompleted {
                orchestrator_id: orchestrator_id.to_owned(),
                processed: summary.processed,
                dropped: summary.dropped,
                deferred: summary.deferred.clone(),
            });
        }
        result.map(|()| summary)
    }
}
