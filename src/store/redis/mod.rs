//! The Redis implementation of [`Store`]: one Lua script per atomic step (loaded once, called by
//! SHA, every key passed in `KEYS`) over one auto-reconnecting multiplexed connection (to one
//! server, or to the primary Redis Sentinel names, followed through failovers); routes go
//! through a [`Pipe`] instead when the owner carries one (see [`crate::store::pipe`]). On a Redis
//! Cluster the same scripts run in each orchestrator's slot, and what crosses slots is done in the
//! steps `cluster` describes.
//!
//! Each step is built by [`calls`] (its `KEYS` and `ARGV`), sent by [`transport`], and read by
//! [`replies`]; [`scripts`] holds the Lua, [`config`] reads where to connect.

mod calls;
mod cluster;
mod config;
mod replies;
mod scripts;
mod sentinel;
mod sweep;
mod transport;

pub use config::{cluster_target, connection_info, redact_url, sentinel_target, ClusterTarget, SentinelTarget};
pub use scripts::route_source;

use self::calls::{step_daemons, Calls, Invocation, ROUTE_BATCH};
use self::scripts::{RouteScript, Scripts};
use self::transport::{Client, Connection};
use super::keys::{Key, Keys};
use super::pipe::Pipe;
use super::{
    DrainAction, DrainReply, DrainStep, OverdueReceipts, Priority, QueueInspection, QueueSnapshot, ReceiptAction, ReceiptReply,
    ReceiptStep, RequeueStep, RouteReply, RouteRequest, Store, StoreError, StoreLimits, StoreResult, Touched,
};
use redis::{ConnectionInfo, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A [`Store`] on one Redis server, or on a Redis Cluster.
pub struct RedisStore {
    client: Client,
    timeout: Duration,
    /// The connection, and what it was made for (see [`transport::Mark`]).
    connection: Mutex<Option<(Connection, transport::Mark)>>,
    /// One server: the connection of registrations and heartbeats, likewise (see
    /// [`RedisStore::session_connection`]).
    session_connection: Mutex<Option<(Connection, transport::Mark)>>,
    /// Cluster: when this router next looks for outboxes and due times left behind (ms).
    next_sweep_ms: std::sync::atomic::AtomicI64,
    /// Cluster: where this router's sweep stands (see `sweep::Sweep`).
    sweep: Mutex<sweep::Sweep>,
    /// Cluster: this router's token in the sweep lock.
    sweep_token: String,
    closed: std::sync::atomic::AtomicBool,
    keys: Keys,
    limits: StoreLimits,
    scripts: &'static Scripts,
    /// When each daemon list's TTL was last refreshed by a route (see [`calls::ListTtl`]).
    list_ttl: calls::ListTtl,
    /// Carries routes when set (the binding's JS-thread connection); everything else, and routes
    /// without it, go through `connection`.
    pipe: Option<Arc<Pipe>>,
    /// Whether routes call their scripts as Redis Functions (see [`scripts::Function`]): until
    /// the server or the user refuses them.
    functions: std::sync::atomic::AtomicBool,
}

impl RedisStore {
    /// How this store names its keys.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// A store that connects to `info` on first use; each request is bounded by `timeout`. Routes
    /// go through `pipe` when given. Over TLS, `ca` (PEM) replaces the system's trusted roots.
    pub fn new(
        info: ConnectionInfo,
        ca: Option<&str>,
        keys: Keys,
        limits: StoreLimits,
        timeout: Duration,
        pipe: Option<Arc<Pipe>>,
    ) -> Result<Self, String> {
        let client = match ca {
            Some(ca) => redis::Client::build_with_tls(info, redis::TlsCertificates { client_tls: None, root_cert: Some(ca.as_bytes().to_vec()) }),
            None => redis::Client::open(info),
        }
        .map_err(|e| e.to_string())?;
        Ok(Self::with_client(Client::Single(client), keys, limits, timeout, pipe))
    }

    /// A store on the primary `target`'s Sentinels name, found on first use and again after a
    /// failover; each request is bounded by `timeout`. Routes go through `pipe` when given (made
    /// with [`Pipe::logging_in`] and no target: the store points it at the primary).
    pub fn sentinel(target: SentinelTarget, keys: Keys, limits: StoreLimits, timeout: Duration, pipe: Option<Arc<Pipe>>) -> Result<Self, String> {
        let primary = sentinel::Primary::new(target, timeout)?;
        Ok(Self::with_client(Client::Sentinel(primary), keys, limits, timeout, pipe))
    }

    fn with_client(client: Client, keys: Keys, limits: StoreLimits, timeout: Duration, pipe: Option<Arc<Pipe>>) -> Self {
        RedisStore {
            client,
            timeout,
            connection: Mutex::new(None),
            session_connection: Mutex::new(None),
            next_sweep_ms: 0.into(),
            sweep: Mutex::default(),
            sweep_token: sweep::token(),
            closed: false.into(),
            scripts: Scripts::shared(keys.is_cluster()),
            list_ttl: calls::ListTtl::default(),
            keys,
            limits,
            pipe,
            functions: std::sync::atomic::AtomicBool::new(true),
        }
    }

    /// The builders of this store's script calls.
    fn calls(&self) -> Calls<'_> {
        Calls { keys: &self.keys, limits: &self.limits, scripts: self.scripts, list_ttl: &self.list_ttl }
    }

    /// Runs a drain or receipt step that delivers to `daemons` (if any); on a cluster, with the
    /// extras it takes last, then what follows it (see `cluster`), answering the step's own reply.
    async fn run_step(&self, mut invocation: Invocation, orchestrator_id: &str, daemons: Option<Vec<&str>>) -> StoreResult<Value> {
        let Some(extras) = self.extras(orchestrator_id, daemons.as_deref().unwrap_or_default(), true).await? else {
            return self.write(&invocation).await;
        };
        invocation.key(&extras.seq_key).key(&extras.due_key).arg(&extras.args);
        let wrapped = self.write(&invocation).await?;
        self.after_step(orchestrator_id, wrapped).await
    }

    /// After a step that may have filed the orchestrator in the index: on a cluster, copies its
    /// due time into the index routers claim from (on one server the step wrote the index).
    async fn filed(&self, orchestrator_id: &str) {
        if self.keys.is_cluster() {
            self.sync_due(orchestrator_id).await;
        }
    }

    /// Which of an orchestrator's keys holds another type than the router writes there, as an
    /// error naming it (after an inspection met WRONGTYPE); `None` when none does (any more).
    async fn wrong_type(&self, orchestrator_id: &str) -> Option<StoreError> {
        let k = &self.keys;
        let mut expected = vec![
            (k.session(orchestrator_id), "string"),
            (k.key(Key::Sessions, orchestrator_id), "zset"),
            (k.key(Key::SessionRecords, orchestrator_id), "hash"),
        ];
        expected.extend(k.queues(orchestrator_id).into_iter().map(|queue| (queue, "list")));
        expected.push((k.receipts(orchestrator_id), "zset"));
        expected.push((k.dead(orchestrator_id), "list"));
        let mut pipeline = redis::pipe();
        for (key, _) in &expected {
            pipeline.cmd("TYPE").arg(key);
        }
        let mut connection = self.connection().await.ok()?;
        let kinds: Vec<String> = pipeline.query_async(&mut connection).await.ok()?;
        let wrong: Vec<String> = expected
            .iter()
            .zip(kinds)
            .filter(|((_, want), kind)| kind != "none" && kind != want)
            .map(|((key, want), kind)| format!("{key} holds a {kind}, not a {want}"))
            .collect();
        (!wrong.is_empty()).then(|| StoreError::Refused { code: "WRONGTYPE".into(), message: wrong.join("; ") })
    }
}

impl Store for RedisStore {
    async fn route(&self, r: &RouteRequest<'_>) -> StoreResult<RouteReply> {
        let no_reply = || StoreError::UnexpectedReply("no reply to route".into());
        // One message on one server, without broadcast, takes the one-message script (the hot
        // path); the others route as a batch of one.
        if self.limits.broadcast || self.keys.is_cluster() {
            return self.route_many(std::slice::from_ref(r)).await?.pop().ok_or_else(no_reply)?;
        }
        let mut replies = self.eval_routes(&[std::slice::from_ref(r)], RouteScript::Single).await?;
        replies::route(&replies.pop().ok_or_else(no_reply)??)
    }

    async fn route_many(&self, requests: &[RouteRequest<'_>]) -> StoreResult<Vec<StoreResult<RouteReply>>> {
        let kind = if self.limits.broadcast { RouteScript::Broadcast } else { RouteScript::Batch };
        if self.keys.is_cluster() {
            return Ok(self.cluster_routes(requests, kind).await);
        }
        let calls: Vec<&[RouteRequest<'_>]> = requests.chunks(ROUTE_BATCH).collect();
        let replies = self.eval_routes(&calls, kind).await?;
        let mut results = Vec::with_capacity(requests.len());
        for (chunk, reply) in calls.iter().zip(replies) {
            results.extend(replies::batch(chunk.len(), reply));
        }
        Ok(results)
    }

    async fn register_session(&self, orchestrator_id: &str, session_id: &str, session: &str, now_ms: i64) -> StoreResult<u64> {
        let reply = self.write_session_step(&self.calls().register_session(orchestrator_id, session_id, session, now_ms)).await?;
        let queued = replies::count("register_session", &reply)?;
        if queued > 0 {
            self.filed(orchestrator_id).await;
        }
        Ok(queued)
    }

    async fn unregister_session(&self, orchestrator_id: &str, session_id: Option<&str>, now_ms: i64) -> StoreResult<bool> {
        let reply = self.write_session_step(&self.calls().unregister_session(orchestrator_id, session_id, now_ms)).await?;
        Ok(replies::count("unregister_session", &reply)? > 0)
    }

    async fn touch_session(&self, orchestrator_id: &str, session_id: Option<&str>, daemon_id: Option<&str>, now_iso: &str, now_ms: i64) -> StoreResult<Option<Touched>> {
        // On a cluster the daemon list is in another slot than the session: not read here.
        let daemon_id = daemon_id.filter(|_| !self.keys.is_cluster());
        let reply = self.write_session_step(&self.calls().touch_session(orchestrator_id, session_id, daemon_id, now_iso, now_ms)).await?;
        let touched = replies::touched(&reply)?;
        if touched.as_ref().is_some_and(|t| t.queue_length > 0) {
            self.filed(orchestrator_id).await;
        }
        Ok(touched)
    }

    async fn sessions(&self, orchestrator_id: &str, now_ms: i64) -> StoreResult<Vec<String>> {
        replies::ids("read_sessions", &self.run(&self.calls().sessions(orchestrator_id, now_ms)).await?)
    }

    async fn queue_lengths(&self, orchestrator_id: &str) -> StoreResult<[u64; 3]> {
        replies::level_lengths("queue_lengths", self.run(&self.calls().queue_lengths(orchestrator_id)).await?)
    }

    async fn snapshot(&self, orchestrator_id: &str, count: usize, now_ms: i64) -> StoreResult<QueueSnapshot> {
        replies::snapshot(&self.run(&self.calls().snapshot(orchestrator_id, count, now_ms)).await?)
    }

    async fn drain_step(&self, step: &DrainStep<'_>) -> StoreResult<DrainReply> {
        let delivers = step.items.iter().any(|(_, action)| matches!(action, DrainAction::Deliver { .. }));
        let daemons = delivers.then(|| step_daemons(step.session, &step.copies));
        replies::drain_step(self.run_step(self.calls().drain_step(step), step.orchestrator_id, daemons).await?)
    }

    async fn acknowledge(&self, orchestrator_id: &str, message_ids: &[String]) -> StoreResult<Vec<String>> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        replies::ids("acknowledge", &self.write(&self.calls().acknowledge(orchestrator_id, message_ids)).await?)
    }

    async fn overdue_receipts(&self, orchestrator_id: &str, now_ms: i64, due_by_ms: i64, limit: usize) -> StoreResult<OverdueReceipts> {
        replies::overdue_receipts(&self.run(&self.calls().overdue_receipts(orchestrator_id, now_ms, due_by_ms, limit)).await?)
    }

    async fn receipt_step(&self, step: &ReceiptStep<'_>) -> StoreResult<ReceiptReply> {
        let redelivers = step.items.iter().any(|(_, _, action)| matches!(action, ReceiptAction::Redeliver { .. }));
        let daemons = redelivers.then(|| step_daemons(step.session, &step.copies));
        replies::receipt_step(self.run_step(self.calls().receipt_step(step), step.orchestrator_id, daemons).await?)
    }

    async fn dead_letters(&self, orchestrator_id: &str) -> StoreResult<Vec<String>> {
        let mut connection = self.connection().await?;
        let entries = redis::cmd("LRANGE").arg(self.keys.dead(orchestrator_id)).arg(0).arg(-1).query_async(&mut connection).await;
        self.checked(entries)
    }

    async fn requeue_dead_letters(&self, step: &RequeueStep<'_>) -> StoreResult<bool> {
        let requeued = match self.write(&self.calls().requeue_dead(step)).await? {
            Value::Int(n) => n >= 0,
            other => return Err(StoreError::unexpected("requeue_dead", &other)),
        };
        self.filed(step.orchestrator_id).await;
        Ok(requeued)
    }

    async fn claim_due(&self, now_ms: i64, lease_until_ms: i64, limit: usize) -> StoreResult<Vec<String>> {
        replies::ids("claim_due", &self.run(&self.calls().claim_due(now_ms, lease_until_ms, limit)).await?)
    }

    async fn inspect(&self, orchestrator_id: &str) -> StoreResult<QueueInspection> {
        match self.run(&self.calls().inspect(orchestrator_id)).await {
            Ok(reply) => replies::inspection(reply),
            Err(StoreError::Refused { code, message }) if code == "WRONGTYPE" => {
                Err(self.wrong_type(orchestrator_id).await.unwrap_or(StoreError::Refused { code, message }))
            }
            Err(error) => Err(error),
        }
    }

    async fn daemon_list_lengths(&self, daemon_ids: &[String]) -> StoreResult<Vec<u64>> {
        if daemon_ids.is_empty() {
            return Ok(Vec::new());
        }
        if self.keys.is_cluster() {
            return self.lengths_apart(daemon_ids).await;
        }
        let mut connection = self.connection().await?;
        let mut pipeline = redis::pipe();
        for daemon_id in daemon_ids {
            pipeline.llen(self.keys.daemon_events(daemon_id));
        }
        self.checked(pipeline.query_async(&mut connection).await)
    }

    async fn queued_orchestrators(&self) -> StoreResult<Vec<String>> {
        self.orchestrators_with(&Priority::LEVELS.map(Key::queue_of)).await
    }

    async fn orchestrators(&self) -> StoreResult<Vec<String>> {
        self.orchestrators_with(&Key::HELD).await
    }

    async fn drop_queue(&self, orchestrator_id: &str, now_ms: i64) -> StoreResult<[u64; 3]> {
        let dropped = replies::level_lengths("drop_queue", self.write(&self.calls().drop_queue(orchestrator_id, now_ms)).await?)?;
        self.filed(orchestrator_id).await;
        Ok(dropped)
    }

    async fn read_daemon_events(&self, daemon_id: &str, max: usize) -> StoreResult<Vec<String>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let mut connection = self.connection().await?;
        let events: redis::RedisResult<Vec<String>> =
            redis::cmd("LRANGE").arg(self.keys.daemon_events(daemon_id)).arg(-(max as i64)).arg(-1).query_async(&mut connection).await;
        let mut events = self.checked(events)?;
        events.reverse();
        Ok(events)
    }

    async fn acknowledge_daemon_events(&self, daemon_id: &str, event_ids: &[String]) -> StoreResult<u64> {
        if event_ids.is_empty() {
            return Ok(0);
        }
        replies::count("acknowledge_events", &self.write(&self.calls().acknowledge_events(daemon_id, event_ids)).await?)
    }

    fn id_problem(&self, id: &str) -> Option<String> {
        if self.keys.is_cluster() { crate::store::keys::cluster_id_problem(id) } else { None }
    }

    async fn maintain(&self, now_ms: i64) {
        if self.keys.is_cluster() {
            self.sweep_if_due(now_ms).await;
        }
    }

    fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::Release);
        self.drop_connections();
        if let transport::Client::Sentinel(primary) = &self.client {
            primary.close();
        }
        if let Some(pipe) = &self.pipe {
            pipe.shut();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::BroadcastCopy;
    use calls::Head;

    fn store() -> RedisStore {
        let limits = StoreLimits {
            max_queue_size: 100,
            queue_enabled: true,
            daemon_max_events: 1000,
            session_ttl_seconds: 3600,
            multiple_sessions: false,
            broadcast: false,
            marker_ttl_seconds: 3600,
            daemon_events_ttl_seconds: 86400,
            receipts: false,
            sweep_interval_ms: 5000,
            durability: None,
        };
        let info = redis::IntoConnectionInfo::into_connection_info("redis://127.0.0.1:1").unwrap();
        RedisStore::new(info, None, Keys::new("p:"), limits, Duration::from_secs(1), None).unwrap()
    }

    fn request<'a>(message_id: &'a str, receipt: Option<(&'a str, i64)>) -> RouteRequest<'a> {
        RouteRequest {
            orchestrator_id: "orch_é",
            message_id,
            session_id: "s",
            daemon_id: "d",
            daemon_event: "{\"id\":\"evt\"}",
            marker: "{}",
            queue_item: "{\"messageId\":\"m\"}",
            priority: if message_id.ends_with('2') { Priority::Low } else { Priority::Normal },
            expires_at_ms: 1_700_000_000_000,
            now_ms: 1_699_000_000_000,
            dedupe: true,
            queue_only: false,
            receipt,
            copies: &[],
        }
    }

    #[test]
    fn urls_are_shown_without_their_password() {
        assert_eq!(redact_url("redis://user:s3cret@host:6379/2"), "redis://user:***@host:6379/2");
        assert_eq!(redact_url("rediss://:s3cret@[::1]:6379"), "rediss://:***@[::1]:6379");
        assert_eq!(redact_url("unix:///tmp/redis.sock?db=1&pass=s3cret"), "unix:///tmp/redis.sock?db=1&pass=***");
        assert_eq!(redact_url("redis://host:6379"), "redis://host:6379");
        assert_eq!(redact_url("redis://user@host"), "redis://user@host");
    }

    #[test]
    fn a_server_certificate_that_tls_refused_is_named_as_such() {
        // As tokio-rustls hands a refused handshake to redis-rs.
        let refused = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer));
        let message = StoreError::from(redis::RedisError::from(refused)).to_string();
        assert!(message.starts_with("TLS certificate verification failed (invalid peer certificate: UnknownIssuer)"), "{message}");
        let message = StoreError::from(redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))).to_string();
        assert_eq!(message, "connection refused");
    }

    #[test]
    fn packed_route_calls_are_byte_for_byte_what_redis_rs_packs() {
        let requests = [request("m1", None), request("m2", Some(("{\"r\":1}", 42)))];
        let copies = [BroadcastCopy { session_id: "s2".into(), daemon_id: "d2".into(), event: "{\"id\":\"evt2\"}".into() }];
        let broadcast = RouteRequest { copies: &copies, ..request("m3", None) };
        let calls = [
            (&requests[..1], RouteScript::Single),
            (&requests[..], RouteScript::Batch),
            (&requests[..1], RouteScript::Batch),
            (std::slice::from_ref(&broadcast), RouteScript::Broadcast),
        ];
        for (requests, kind) in calls {
            // Two stores alike: the first route to a daemon asks for its list's TTL, the next do not.
            let (store, other) = (self::store(), self::store());
            assert_eq!(String::from_utf8_lossy(&store.calls().route_packed(Head::Script(store.scripts.route(kind).0.get_hash()), requests, kind)), String::from_utf8_lossy(&other.calls().route_cmd(requests, kind, None).get_packed_command()), "{kind:?}");
        }
        let single = String::from_utf8(self::store().calls().route_packed(Head::Script(&"0".repeat(40)), &requests[..1], RouteScript::Single)).unwrap();
        assert!(single.starts_with("*35\r\n$7\r\nEVALSHA\r\n$40\r\n"), "{single}");
        assert!(single.contains("\r\n$25\r\np:routing:session:orch_é\r\n"), "{single}");
        assert!(single.contains("\r\n$15\r\ndaemon:d:events\r\n"), "{single}");
    }
}
