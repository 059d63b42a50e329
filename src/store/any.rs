//! [`AnyStore`]: the store a router runs on, chosen at construction by its `redis` option —
//! Redis, or this process's memory for `memory://` URLs.

use super::memory::MemoryStore;
use super::redis::RedisStore;
use super::*;

/// Either store; every operation goes to the one it holds.
// One per router, built once and never moved again: its size does not matter, and a box would add
// an indirection to every call.
#[allow(clippy::large_enum_variant)]
pub enum AnyStore {
    Redis(RedisStore),
    Memory(MemoryStore),
}

/// Runs `$call` on whichever store `$self` holds.
macro_rules! each {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            AnyStore::Redis($store) => $call,
            AnyStore::Memory($store) => $call,
        }
    };
}

impl Store for AnyStore {
    async fn route(&self, request: &RouteRequest<'_>) -> StoreResult<RouteReply> {
        each!(self, store => store.route(request).await)
    }

    async fn route_many(&self, requests: &[RouteRequest<'_>]) -> StoreResult<Vec<StoreResult<RouteReply>>> {
        each!(self, store => store.route_many(requests).await)
    }

    async fn register_session(&self, orchestrator_id: &str, session_id: &str, session: &str, now_ms: i64) -> StoreResult<u64> {
        each!(self, store => store.register_session(orchestrator_id, session_id, session, now_ms).await)
    }

    async fn unregister_session(&self, orchestrator_id: &str, session_id: Option<&str>, now_ms: i64) -> StoreResult<bool> {
        each!(self, store => store.unregister_session(orchestrator_id, session_id, now_ms).await)
    }

    async fn touch_session(&self, orchestrator_id: &str, session_id: Option<&str>, daemon_id: Option<&str>, now_iso: &str, now_ms: i64) -> StoreResult<Option<Touched>> {
        each!(self, store => store.touch_session(orchestrator_id, session_id, daemon_id, now_iso, now_ms).await)
    }

    async fn sessions(&self, orchestrator_id: &str, now_ms: i64) -> StoreResult<Vec<String>> {
        each!(self, store => store.sessions(orchestrator_id, now_ms).await)
    }

    async fn queue_lengths(&self, orchestrator_id: &str) -> StoreResult<[u64; 3]> {
        each!(self, store => store.queue_lengths(orchestrator_id).await)
    }

    async fn snapshot(&self, orchestrator_id: &str, count: usize, now_ms: i64) -> StoreResult<QueueSnapshot> {
        each!(self, store => store.snapshot(orchestrator_id, count, now_ms).await)
    }

    async fn drain_step(&self, step: &DrainStep<'_>) -> StoreResult<DrainReply> {
        each!(self, store => store.drain_step(step).await)
    }

    async fn claim_due(&self, now_ms: i64, lease_until_ms: i64, limit: usize) -> StoreResult<Vec<String>> {
        each!(self, store => store.claim_due(now_ms, lease_until_ms, limit).await)
    }

    async fn acknowledge(&self, orchestrator_id: &str, message_ids: &[String]) -> StoreResult<Vec<String>> {
        each!(self, store => store.acknowledge(orchestrator_id, message_ids).await)
    }

    async fn overdue_receipts(&self, orchestrator_id: &str, now_ms: i64, due_by_ms: i64, limit: usize) -> StoreResult<OverdueReceipts> {
        each!(self, store => store.overdue_receipts(orchestrator_id, now_ms, due_by_ms, limit).await)
    }

    async fn receipt_step(&self, step: &ReceiptStep<'_>) -> StoreResult<ReceiptReply> {
        each!(self, store => store.receipt_step(step).await)
    }

    async fn dead_letters(&self, orchestrator_id: &str) -> StoreResult<Vec<String>> {
        each!(self, store => store.dead_letters(orchestrator_id).await)
    }

    async fn requeue_dead_letters(&self, step: &RequeueStep<'_>) -> StoreResult<bool> {
        each!(self, store => store.requeue_dead_letters(step).await)
    }

    async fn inspect(&self, orchestrator_id: &str) -> StoreResult<QueueInspection> {
        each!(self, store => store.inspect(orchestrator_id).await)
    }

    async fn daemon_list_lengths(&self, daemon_ids: &[String]) -> StoreResult<Vec<u64>> {
        each!(self, store => store.daemon_list_lengths(daemon_ids).await)
    }

    async fn queued_orchestrators(&self) -> StoreResult<Vec<String>> {
        each!(self, store => store.queued_orchestrators().await)
    }

    async fn orchestrators(&self) -> StoreResult<Vec<String>> {
        each!(self, store => store.orchestrators().await)
    }

    async fn drop_queue(&self, orchestrator_id: &str, now_ms: i64) -> StoreResult<[u64; 3]> {
        each!(self, store => store.drop_queue(orchestrator_id, now_ms).await)
    }

    async fn read_daemon_events(&self, daemon_id: &str, max: usize) -> StoreResult<Vec<String>> {
        each!(self, store => store.read_daemon_events(daemon_id, max).await)
    }

    async fn acknowledge_daemon_events(&self, daemon_id: &str, event_ids: &[String]) -> StoreResult<u64> {
        each!(self, store => store.acknowledge_daemon_events(daemon_id, event_ids).await)
    }

    fn id_problem(&self, id: &str) -> Option<String> {
        each!(self, store => store.id_problem(id))
    }

    async fn maintain(&self, now_ms: i64) {
        each!(self, store => store.maintain(now_ms).await)
    }

    fn close(&self) {
        each!(self, store => store.close())
    }
}
