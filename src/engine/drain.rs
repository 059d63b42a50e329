//! Draining an orchestrator's queue into its daemon's event list: in order, each message
//! exactly once, in atomic steps that check the queue head they were planned on.

use super::error::RouterError;
use super::events::{Deferred, DropReason, Event, EventKind};
use super::model::{to_json, DaemonEvent, DeliveredMarker, InflightRecord};
use super::router::{Classified, MessageUpdate, Router};
use super::sessions::KnownSession;
use super::time::{format_iso, now_ms};
use crate::store::{DrainAction, DrainReply, DrainStep, ItemOutcome, Store, StoreResult};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Queue items planned and committed in one step.
const DRAIN_BATCH: usize = 200;
/// Queue items a drain reads at once: the items of two steps, the second sent right behind the first.
const DRAIN_READ: usize = 2 * DRAIN_BATCH;
/// How soon a drain first looks again at a full daemon list (see `drain_once`).
const FULL_DAEMON_WAIT: Duration = Duration::from_millis(2);
/// Orchestrators claimed per look for due backlogs.
const CLAIM_LIMIT: usize = 64;
/// Steps in a row that may find the queue changed under them (another router draining it)
/// before this drain leaves the rest to that router.
const MAX_CONFLICTS: u32 = 32;

/// What one drain did, as `processQueuedMessages` resolves it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DrainSummary {
    /// Delivered to the daemon.
    pub processed: u64,
    /// Left the queue undelivered (expired, deleted or unreadable), each reported as dropped.
    pub failed: u64,
    /// Still queued afterwards.
    pub remaining: u64,
    /// Why messages the drain could have delivered stay queued, when they do (presence says the
    /// orchestrator is offline, or the messages could not be re-read); a later look tries again.
    pub deferred: Option<Deferred>,
}

/// One orchestrator's drain in this process: the lock that keeps drains one at a time, and
/// whether another drain was asked for while one ran.
#[derive(Default)]
pub(super) struct DrainSlot {
    lock: tokio::sync::Mutex<()>,
    again: AtomicBool,
    /// Drains of this orchestrator that failed in a row (kept while a retry waits, which holds
    /// the slot).
    failures: AtomicU32,
    /// A retry after a failed drain is waiting: another failure does not start a second one.
    retrying: AtomicBool,
}

/// The presence service's answer for one drain: asked at most once, and only once there is
/// something to deliver.
#[derive(Default)]
pub(super) struct Presence(Option<bool>);

impl Presence {
    /// Whether presence says the orchestrator is offline (see [`Router::presence_says_offline`]).
    pub(super) async fn offline<S: Store>(&mut self, router: &Router<S>, orchestrator_id: &str) -> bool {
        if let Some(offline) = self.0 {
            return offline;
        }
        let offline = router.presence_says_offline(orchestrator_id).await;
        self.0 = Some(offline);
        offline
    }
}

/// One planned item: its raw entry, its action, and what to report if it is dropped.
struct Planned<'a> {
    raw: &'a [u8],
    action: DrainAction,
    drop: Option<(String, DropReason)>,
    /// When a live item was queued (ms), for the delivery-latency histogram.
    queued_at_ms: Option<i64>,
}

impl<S: Store> Router<S> {
    /// Drains the orchestrator's queue now (`processQueuedMessages`); one drain per orchestrator
    /// runs at a time in this process.
    pub async fn process_queue(self: &Arc<Self>, orchestrator_id: &str) -> Result<DrainSummary, RouterError> {
        self.key_id("orchestratorId", orchestrator_id)?;
        self.check_open()?;
        self.drain(orchestrator_id).await
    }

    /// Drains in the background (after a route found a backlog ahead of it, or the ticker found
    /// one due). If a drain of that orchestrator is already running here, it is asked to look once
    /// more instead, so a burst of pending routes does not pile up one waiting drain each.
    pub(super) fn spawn_drain(self: &Arc<Self>, orchestrator_id: &str) {
        let slot = self.drain_slot(orchestrator_id);
        if slot.lock.try_lock().is_err() {
            slot.again.store(true, Ordering::Release);
            return;
        }
        let router = Arc::clone(self);
        let orchestrator_id = orchestrator_id.to_owned();
        tokio::spawn(async move {
            // The slot goes along, so that a count of failures in it lasts (see `drain_failed`).
            let _ = router.drain_in(&slot, &orchestrator_id, true).await;
        });
    }

    /// Starts a background drain that keeps pace with a daemon taking events; it begins once the
    /// drain running now (which holds the orchestrator's lock) has returned.
    fn keep_pace_later(self: &Arc<Self>, orchestrator_id: &str) {
        let (router, orchestrator_id) = (Arc::clone(self), orchestrator_id.to_owned());
        tokio::spawn(async move {
            let _ = router.drain_paced(&orchestrator_id, true).await;
        });
    }

    /// Claims the backlogs due a look and drains each (the ticker's work); starts the store's
    /// upkeep beside it when none is running, so that a long one never holds up the claims.
    pub(super) async fn drain_due(self: &Arc<Self>) {
        let now = now_ms();
        if !self.maintaining.swap(true, Ordering::AcqRel) {
            let router = Arc::clone(self);
            tokio::spawn(async move {
                // Cleared however the upkeep ends (a panic included), so the next tick can start one.
                struct Running<'a>(&'a AtomicBool);
                impl Drop for Running<'_> {
                    fn drop(&mut self) {
                        self.0.store(false, Ordering::Release);
                    }
                }
                let _running = Running(&router.maintaining);
                if !router.is_closed() {
                    router.store.maintain(now).await;
                }
            });
        }
        // Hides a claimed backlog from other routers while this one drains it; if this router
        // dies, another picks the backlog up when the lease ends.
        if let Ok(due) = self.bounded(self.store.claim_due(now, now + self.lease_ms(), CLAIM_LIMIT)).await {
            for orchestrator_id in due {
                self.spawn_drain(&orchestrator_id);
            }
        }
    }

    /// How long a claimed backlog stays hidden from other routers; also how soon a deferred drain
    /// is looked at again.
    fn lease_ms(&self) -> i64 {
        (self.config.drain_interval_ms * 4).max(1000) as i64
    }

    /// Whether the presence service says the orchestrator is not online. No service, or one that
    /// fails, leaves it to the sessions, as `routeMessage` does.
    async fn presence_says_offline(&self, orchestrator_id: &str) -> bool {
        let source = self.presence_source.read().unwrap_or_else(|e| e.into_inner()).clone();
        match source {
            Some(source) => matches!(self.bounded_host("the presence service", source.online(orchestrator_id.to_owned())).await, Ok(false)),
            None => false,
        }
    }

    /// The slot that keeps drains of one orchestrator in this process one at a time.
    fn drain_slot(&self, orchestrator_id: &str) -> Arc<DrainSlot> {
        let mut drains = self.drains.lock().unwrap_or_else(|e| e.into_inner());
        drains.retain(|_, lock| Arc::strong_count(lock) > 1);
        Arc::clone(drains.entry(orchestrator_id.to_owned()).or_default())
    }

    /// Drains until the queue is empty, the orchestrator is offline, or its daemon is full — and
    /// once more if another drain was asked for meanwhile. A caller's drain does not wait on a full
    /// daemon list: one the daemon is taking events from is handed to a background drain.
    pub(super) async fn drain(self: &Arc<Self>, orchestrator_id: &str) -> Result<DrainSummary, RouterError> {
        self.drain_paced(orchestrator_id, false).await
    }

    /// [`Router::drain`]; with `keep_pace`, a full daemon list that the daemon is taking events
    /// from is looked at again shortly instead of at the next tick.
    async fn drain_paced(self: &Arc<Self>, orchestrator_id: &str, keep_pace: bool) -> Result<DrainSummary, RouterError> {
        let slot = self.drain_slot(orchestrator_id);
        self.drain_in(&slot, orchestrator_id, keep_pace).await
    }

    /// [`Router::drain_paced`] in the orchestrator's `slot`.
    async fn drain_in(self: &Arc<Self>, slot: &Arc<DrainSlot>, orchestrator_id: &str, keep_pace: bool) -> Result<DrainSummary, RouterError> {
        let _one_at_a_time = slot.lock.lock().await;
        loop {
            let summary = match self.drain_once(orchestrator_id, keep_pace).await {
                Ok(summary) => summary,
                Err(error) => {
                    self.drain_failed(orchestrator_id, slot, &error);
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
    fn drain_failed(self: &Arc<Self>, orchestrator_id: &str, slot: &Arc<DrainSlot>, error: &RouterError) {
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
        if slot.retrying.swap(true, Ordering::AcqRel) {
            return;
        }
        // The retry holds the slot (and so the count of failures) until its drain has the slot too.
        let (router, slot, orchestrator_id) = (Arc::downgrade(self), Arc::clone(slot), orchestrator_id.to_owned());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(retry_in_ms)).await;
            slot.retrying.store(false, Ordering::Release);
            if let Some(router) = router.upgrade().filter(|router| !router.is_closed()) {
                router.spawn_drain(&orchestrator_id);
            }
        });
    }

    async fn drain_once(self: &Arc<Self>, orchestrator_id: &str, keep_pace: bool) -> Result<DrainSummary, RouterError> {
        let mut presence = Presence::default();
        if self.config.delivery_receipts {
            self.settle_overdue(orchestrator_id, &mut presence).await?;
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
            let known = snapshot.session.as_deref().and_then(|raw| self.learn_session(orchestrator_id, raw));
            let has_work = known.is_some() && !snapshot.head.is_empty();
            // While presence says offline, the drain only drops what expired, as with no session.
            let offline = has_work && presence.offline(self, orchestrator_id).await;
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
                Some(session) => self.drain_round(orchestrator_id, session, &snapshot.head, now).await,
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
                if !keep_pace {
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
                tokio::time::sleep(full_wait).await;
                idle_waited += full_wait;
                full_wait *= 2;
            }
        };
        if started {
            self.emit(EventKind::QueueProcessingCompleted, || Event::QueueProcessingCompleted {
                orchestrator_id: orchestrator_id.to_owned(),
                processed: summary.processed,
                failed: summary.failed,
                deferred: summary.deferred.clone(),
            });
        }
        result.map(|()| summary)
    }

    /// One round of a drain over the queue head read: plans the first DRAIN_BATCH items and sends
    /// their step; with more to take, plans the next DRAIN_BATCH while Redis runs the first and
    /// sends that step right behind it on the same connection (biased: the first is polled, so
    /// sent, first). The second expects the head the first leaves, so it commits only if the first
    /// took all. Returns each sent step's plan and reply, and the error that kept a second step
    /// from being planned (the first is still to be reported).
    async fn drain_round<'a>(
        self: &Arc<Self>,
        orchestrator_id: &str,
        session: &KnownSession,
        head: &'a [Vec<u8>],
        now: i64,
    ) -> (Vec<(Vec<Planned<'a>>, StoreResult<DrainReply>)>, Option<RouterError>) {
        let orders = self.reserve_orders(now, head.len());
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
    async fn drop_expired<'a>(
        &self,
        orchestrator_id: &str,
        head: &'a [Vec<u8>],
        levels: [usize; 3],
        read: usize,
        now: i64,
        recheck: Option<i64>,
    ) -> (Vec<Planned<'a>>, StoreResult<DrainReply>) {
        let ttl_ms = self.config.offline_queue.queue_ttl_seconds as i64 * 1000;
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
                plan.push(Planned { raw, action: DrainAction::Drop, drop: Some(drop), queued_at_ms: None });
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
            plan.push(Planned { raw, action: DrainAction::Drop, drop, queued_at_ms });
        }
        let source = self.message_source.read().unwrap_or_else(|e| e.into_inner()).clone();
        let updates = match source {
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

    fn report_step(
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
                    summary.failed += 1;
                    let (message_id, reason) = planned.drop.clone().unwrap_or((String::new(), DropReason::Invalid));
                    self.report_drop(orchestrator_id, message_id, reason);
                }
            }
        }
    }
}

/// Applies what the message service says a message is now (an edit).
fn apply_update(item: &mut super::model::QueueItem, update: MessageUpdate) {
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
