//! The storage the routing engine runs on: the [`Store`] trait, whose every method is one atomic
//! step, and its implementations ([`redis::RedisStore`]).
//!
//! Records cross this boundary as the exact JSON strings kept in storage, so that a drain can
//! check byte for byte that the queue head it planned on is still the head it commits.

pub mod any;
pub mod error;
pub mod keys;
pub mod memory;
pub mod open;
pub mod pipe;
pub mod redis;

pub use error::{StoreError, StoreResult};

use std::future::Future;

/// How long a queue key outlives its newest item's expiry, so that a running router still finds
/// expired items and reports them (`message.dropped`, reason `expired`) before the key goes.
pub const QUEUE_KEY_GRACE_MS: i64 = 3_600_000;

/// Limits and lifetimes the store applies inside its atomic steps.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreLimits {
    pub max_queue_size: u64,
    pub queue_enabled: bool,
    pub daemon_max_events: u64,
    pub session_ttl_seconds: u64,
    /// An orchestrator may have several sessions (`sessions.multiple`).
    pub multiple_sessions: bool,
    pub marker_ttl_seconds: u64,
    pub daemon_events_ttl_seconds: u64,
    /// Delivered messages await an acknowledgement (and are redelivered without one).
    pub receipts: bool,
    /// Messages go to the daemon of every living active session (`sessions.routing: broadcast`).
    pub broadcast: bool,
    /// Redis Cluster: how often routers look for outboxes and due times a failed step left behind.
    pub sweep_interval_ms: u64,
    /// Writes count only once replicas confirm them (`durability`); `None`: once the server has them.
    pub durability: Option<Durability>,
}

/// How many replicas must confirm a write (Redis's WAIT, on the connection that wrote it) before
/// the step that made it succeeds, and how long to wait for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Durability {
    pub replicas: u64,
    pub timeout_ms: u64,
}

/// With broadcast routing, a session a message goes to beside the primary one, and the daemon
/// event built for its daemon.
#[derive(Debug, Clone, PartialEq)]
pub struct BroadcastCopy {
    pub session_id: String,
    pub daemon_id: String,
    pub event: String,
}

/// Why a message waits in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueStatus {
    /// The orchestrator has no active session.
    Offline,
    /// The orchestrator is online but a backlog or a full daemon event list is ahead of it.
    Pending,
}

/// How important a message is. The queue keeps one list per level; a drain empties the higher
/// levels first, and a full queue gives up the oldest message of its lowest level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    High,
    /// What a message without a priority has, including every item the deployed service queued.
    #[default]
    Normal,
    Low,
}

impl Priority {
    /// Every level, most important first (the order a drain reads them in).
    pub const LEVELS: [Priority; 3] = [Priority::High, Priority::Normal, Priority::Low];

    /// The number a daemon event carries in `priority`: higher is more important (3, 2, 1; never
    /// 0, so a daemon testing the field for truth never mistakes a low one for a missing one).
    pub fn value(self) -> u8 {
        match self {
            Priority::High => 3,
            Priority::Normal => 2,
            Priority::Low => 1,
        }
    }

    /// The level whose [`Priority::value`] is `value`.
    pub fn from_value(value: u32) -> Option<Self> {
        Priority::LEVELS.into_iter().find(|level| u32::from(level.value()) == value)
    }

    /// The level's place in [`Priority::LEVELS`], from 0 (high).
    pub fn rank(self) -> usize {
        self as usize
    }

    pub fn is_normal(&self) -> bool {
        *self == Priority::Normal
    }
}

/// One message to deliver now or queue, prepared by the engine.
#[derive(Debug, Clone)]
pub struct RouteRequest<'a> {
    pub orchestrator_id: &'a str,
    pub message_id: &'a str,
    /// The session the engine believes is current (empty when it does not know one).
    pub session_id: &'a str,
    pub daemon_id: &'a str,
    pub daemon_event: &'a str,
    pub marker: &'a str,
    pub queue_item: &'a str,
    /// The queue level the item goes to, if it is queued.
    pub priority: Priority,
    /// When the queue item expires, in ms since the epoch.
    pub expires_at_ms: i64,
    pub now_ms: i64,
    /// Set on retries: do not queue the item a second time if an earlier attempt did.
    pub dedupe: bool,
    /// Queue without looking for a session (the presence service says the orchestrator is offline).
    pub queue_only: bool,
    /// With receipts on: the in-flight record to keep until acknowledged, and its deadline.
    pub receipt: Option<(&'a str, i64)>,
    /// With broadcast routing: the other sessions the engine believes are targets (the session
    /// above is the primary); the store delivers only if they are exactly the living ones.
    pub copies: &'a [BroadcastCopy],
}

/// What became of a [`RouteRequest`].
#[derive(Debug, Clone, PartialEq)]
pub enum RouteReply {
    /// Pushed to the daemon's event list through this session (and, broadcast, through these
    /// other sessions too).
    Delivered { session_id: String, copies: Vec<String> },
    /// Already delivered earlier (its delivered marker, raw JSON).
    AlreadyDelivered { marker: String },
    /// The current session is not the one the engine believed (raw session JSON; broadcast: every
    /// target session's, as one JSON array, the primary first).
    Stale { session: String },
    /// Put in the orchestrator's queue; `dropped` are the raw items the cap pushed out.
    Queued { status: QueueStatus, queue_size: u64, dropped: Vec<String> },
    /// Not queued: the queue is full and every message in it outranks this one (`dropped` are
    /// raw items the cap pushed out before finding so, when the queue was over a lowered cap).
    QueueFull { status: QueueStatus, queue_size: u64, dropped: Vec<String> },
    /// The message could not be delivered and the offline queue is disabled.
    Refused { status: QueueStatus },
}

/// A read of an orchestrator's session and the head of its queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSnapshot {
    /// The primary session's JSON (broadcast: every target session's, as one JSON array).
    pub session: Option<String>,
    /// Messages queued, over every level.
    pub length: u64,
    /// Online: the first items in drain order (every high item, then normal, then low). Offline
    /// (`per_level`): the first items of each level, high's, then normal's, then low's. Raw
    /// bytes, so that an entry that is not UTF-8 is still matched exactly.
    pub head: Vec<Vec<u8>>,
    /// How many of `head` come from each level (high, normal, low).
    pub levels: [usize; 3],
    pub per_level: bool,
}

/// What a drain does with one queue item.
#[derive(Debug, Clone, PartialEq)]
pub enum DrainAction {
    /// Push this daemon event and write this delivered marker (and, with receipts on, this
    /// in-flight record); broadcast, push `copies` (one event per [`DrainStep::copies`]) too.
    Deliver { message_id: String, event: String, marker: String, receipt: String, copies: Vec<String> },
    /// Remove the item without delivering it.
    Drop,
}

/// One step of a drain: the queue head it was planned on and what to do with each item.
#[derive(Debug, Clone)]
pub struct DrainStep<'a> {
    pub orchestrator_id: &'a str,
    /// The session deliveries go through; `None` allows drops only.
    pub session: Option<(&'a str, &'a str)>,
    /// Broadcast: the other target sessions (session id, daemon id); the step runs only if the
    /// living targets are exactly `session` and these.
    pub copies: Vec<(&'a str, &'a str)>,
    /// The exact raw head items (in drain order, over the levels), each with its action.
    pub items: Vec<(&'a [u8], DrainAction)>,
    /// `Some(counts)` when the items are instead the first `counts[level]` items of each level,
    /// high's then normal's then low's, all dropped (an offline drain removing what expired).
    pub levels: Option<[usize; 3]>,
    /// Next look at this queue if the daemon's event list is full.
    pub retry_at_ms: i64,
    /// Next look at this queue otherwise (e.g. when its head expires).
    pub revisit_at_ms: i64,
    /// With receipts on: when the delivered items' receipts are due.
    pub receipt_deadline_ms: i64,
    pub now_ms: i64,
}

/// What happened to one item of a [`DrainStep`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemOutcome {
    Delivered,
    Dropped,
    /// Its delivered marker existed, so it was removed without a second push.
    AlreadyDelivered,
}

/// The result of a [`DrainStep`].
#[derive(Debug, Clone, PartialEq)]
pub enum DrainReply {
    /// The queue head is no longer what was planned on; nothing was done.
    Conflict,
    /// The session is no longer the one given; nothing was done (raw session JSON, if any).
    Stale { session: Option<String> },
    /// Items were taken in order; fewer outcomes than items means the daemon's list was full.
    Done { outcomes: Vec<ItemOutcome>, remaining: u64 },
}

/// A session refreshed by a heartbeat.
#[derive(Debug, Clone, PartialEq)]
pub struct Touched {
    pub session: String,
    pub queue_length: u64,
    /// The length of the daemon list asked about, when the session touched is that daemon's
    /// (`None`: not asked, another daemon's session, or not readable in the same step: a cluster).
    pub daemon_length: Option<u64>,
}

/// Delivered messages whose receipt deadline has passed, with the session they would go to.
#[derive(Debug, Clone, PartialEq)]
pub struct OverdueReceipts {
    /// As [`QueueSnapshot::session`].
    pub session: Option<String>,
    /// `(messageId, raw in-flight record)`, earliest deadline first.
    pub overdue: Vec<(String, String)>,
}

/// What to do with one overdue message.
#[derive(Debug, Clone, PartialEq)]
pub enum ReceiptAction {
    /// Push this daemon event again (broadcast: and `copies`, one per [`ReceiptStep::copies`])
    /// and keep this record until `deadline_ms`.
    Redeliver { event: String, record: String, deadline_ms: i64, copies: Vec<String> },
    /// Append this entry to the dead-letter list.
    DeadLetter { entry: String },
    /// Put this queue item back at the head of its level of the queue (in the order given),
    /// removing its delivered marker so that the drain delivers it again.
    Requeue { item: String, priority: Priority },
}

/// One step over overdue messages, each acted on only if its record is still `record`.
#[derive(Debug, Clone)]
pub struct ReceiptStep<'a> {
    pub orchestrator_id: &'a str,
    pub session: Option<(&'a str, &'a str)>,
    /// Broadcast: the other target sessions, as in [`DrainStep::copies`].
    pub copies: Vec<(&'a str, &'a str)>,
    /// `(messageId, expected raw record, action)`; requeues in delivery order.
    pub items: Vec<(&'a str, &'a str, ReceiptAction)>,
    /// New deadline of a redelivery the full daemon list held back.
    pub full_retry_at_ms: i64,
    /// Index score for the queue if it is not empty afterwards.
    pub queue_revisit_at_ms: i64,
    /// Keep the queue key at least until then if items are put back.
    pub queue_expires_at_ms: i64,
    pub now_ms: i64,
}

/// What happened to one item of a [`ReceiptStep`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptOutcome {
    Redelivered,
    DeadLettered,
    Requeued,
    /// The daemon's list was full; the deadline moved.
    DaemonFull,
    /// Acknowledged or handled by another router meanwhile.
    Skipped,
}

/// The result of a [`ReceiptStep`].
#[derive(Debug, Clone, PartialEq)]
pub enum ReceiptReply {
    /// The session changed; nothing was done.
    Stale,
    Done(Vec<ReceiptOutcome>),
}

/// Moves the first `expected.len()` dead letters (if still `expected`) to the head of their
/// levels of the queue as `items` (each with its level), removing their delivered markers
/// (`message_ids`, same order) so that they are delivered again.
#[derive(Debug, Clone)]
pub struct RequeueStep<'a> {
    pub orchestrator_id: &'a str,
    pub expected: &'a [String],
    pub items: &'a [(String, Priority)],
    pub message_ids: &'a [String],
    /// Index score for the queue afterwards.
    pub revisit_at_ms: i64,
    /// Keep the queue key at least until then.
    pub queue_expires_at_ms: i64,
}

/// What an operator sees of one orchestrator, read without writing anything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueInspection {
    /// The primary session's JSON as stored (whatever its status).
    pub primary: Option<String>,
    /// With several sessions: each session's JSON and when it expires (ms), unfiltered.
    pub sessions: Vec<(String, i64)>,
    /// Messages queued at each level (high, normal, low).
    pub lengths: [u64; 3],
    /// The oldest item of each level (its head), raw.
    pub heads: [Option<Vec<u8>>; 3],
    /// Delivered messages awaiting a receipt.
    pub pending_receipts: u64,
    pub dead_letters: u64,
}

/// The storage the routing engine runs on; every method is one atomic step.
pub trait Store: Send + Sync + 'static {
    /// Delivers a message through the expected session, or queues it, in one step.
    fn route(&self, request: &RouteRequest<'_>) -> impl Future<Output = StoreResult<RouteReply>> + Send;
    /// Routes many messages in one pipelined round; one reply (or error) per request, in order.
    fn route_many(&self, requests: &[RouteRequest<'_>]) -> impl Future<Output = StoreResult<Vec<StoreResult<RouteReply>>>> + Send;
    /// Stores a session as the orchestrator's primary one (beside the others with
    /// [`StoreLimits::multiple_sessions`], else replacing the one there was); returns the length
    /// of the orchestrator's queue.
    fn register_session(&self, orchestrator_id: &str, session_id: &str, session: &str, now_ms: i64) -> impl Future<Output = StoreResult<u64>> + Send;
    /// Deletes one session (`Some(id)`) or all of them; returns whether one existed. When the
    /// primary goes, the most recently active living other one becomes the primary.
    fn unregister_session(&self, orchestrator_id: &str, session_id: Option<&str>, now_ms: i64) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Refreshes `lastActiveAt` and the TTL of an existing session (the primary, or the one named,
    /// which becomes the primary), never creating one; with `daemon_id`, also says how long that
    /// daemon's list is if the session touched is its (see [`Touched::daemon_length`]).
    fn touch_session(&self, orchestrator_id: &str, session_id: Option<&str>, daemon_id: Option<&str>, now_iso: &str, now_ms: i64) -> impl Future<Output = StoreResult<Option<Touched>>> + Send;
    /// The raw JSON of the orchestrator's living sessions, the primary first, then the others,
    /// most recently active first. The primary is the most recently active: when it expired,
    /// the next living one takes its place.
    fn sessions(&self, orchestrator_id: &str, now_ms: i64) -> impl Future<Output = StoreResult<Vec<String>>> + Send;
    /// How many messages each level of the orchestrator's queue holds (high, normal, low).
    fn queue_lengths(&self, orchestrator_id: &str) -> impl Future<Output = StoreResult<[u64; 3]>> + Send;
    /// Reads the session and the first `count` queue items in drain order.
    fn snapshot(&self, orchestrator_id: &str, count: usize, now_ms: i64) -> impl Future<Output = StoreResult<QueueSnapshot>> + Send;
    /// Applies a drain step if the queue head and the session are still as planned.
    fn drain_step(&self, step: &DrainStep<'_>) -> impl Future<Output = StoreResult<DrainReply>> + Send;
    /// Claims up to `limit` orchestrators whose queue is due a look, hiding them from other
    /// claimers until `lease_until_ms`.
    fn claim_due(&self, now_ms: i64, lease_until_ms: i64, limit: usize) -> impl Future<Output = StoreResult<Vec<String>>> + Send;
    /// Ends the wait for these messages' receipts; returns the ids that were waiting.
    fn acknowledge(&self, orchestrator_id: &str, message_ids: &[String]) -> impl Future<Output = StoreResult<Vec<String>>> + Send;
    /// Reads the session (as of `now_ms`) and up to `limit` messages whose receipt deadline is at
    /// or before `due_by_ms` (`now_ms` for the overdue ones; later, to read ones still awaited too).
    fn overdue_receipts(
        &self,
        orchestrator_id: &str,
        now_ms: i64,
        due_by_ms: i64,
        limit: usize,
    ) -> impl Future<Output = StoreResult<OverdueReceipts>> + Send;
    /// Applies a step over overdue messages.
    fn receipt_step(&self, step: &ReceiptStep<'_>) -> impl Future<Output = StoreResult<ReceiptReply>> + Send;
    /// Reads the orchestrator's dead-letter list (raw entries, oldest first).
    fn dead_letters(&self, orchestrator_id: &str) -> impl Future<Output = StoreResult<Vec<String>>> + Send;
    /// Applies a [`RequeueStep`]; returns false when the dead-letter list changed.
    fn requeue_dead_letters(&self, step: &RequeueStep<'_>) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Reads what an operator sees of one orchestrator, in one step, writing nothing.
    fn inspect(&self, orchestrator_id: &str) -> impl Future<Output = StoreResult<QueueInspection>> + Send;
    /// How many events each of these daemons' event lists holds.
    fn daemon_list_lengths(&self, daemon_ids: &[String]) -> impl Future<Output = StoreResult<Vec<u64>>> + Send;
    /// Every orchestrator that has a queue (at any level), in no particular order.
    fn queued_orchestrators(&self) -> impl Future<Output = StoreResult<Vec<String>>> + Send;
    /// Every orchestrator the store holds anything of (a session, a queue, messages awaiting a
    /// receipt, dead letters), in no particular order.
    fn orchestrators(&self) -> impl Future<Output = StoreResult<Vec<String>>> + Send;
    /// Deletes every level of the orchestrator's queue in one step, refiling it in the due index
    /// for what remains (receipts awaited); returns how many messages each level held.
    fn drop_queue(&self, orchestrator_id: &str, now_ms: i64) -> impl Future<Output = StoreResult<[u64; 3]>> + Send;
    /// Up to `max` events of a daemon's event list, oldest first (what an in-process daemon reads).
    fn read_daemon_events(&self, daemon_id: &str, max: usize) -> impl Future<Output = StoreResult<Vec<String>>> + Send;
    /// Removes the events with these ids from a daemon's event list; returns how many went.
    fn acknowledge_daemon_events(&self, daemon_id: &str, event_ids: &[String]) -> impl Future<Output = StoreResult<u64>> + Send;
    /// Why `id` (an orchestrator or daemon id) cannot name keys in this store, if it cannot (on a
    /// Redis Cluster, a brace would change the hash tag).
    fn id_problem(&self, id: &str) -> Option<String> {
        let _ = id;
        None
    }
    /// Background upkeep, which the engine runs beside its drains, one at a time per router: on a
    /// Redis Cluster, a part of the sweep (see `redis::cluster`); nothing on the other stores.
    fn maintain(&self, now_ms: i64) -> impl Future<Output = ()> + Send {
        let _ = now_ms;
        async {}
    }
    /// Releases connections; later calls fail.
    fn close(&self);
}
