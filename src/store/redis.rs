//! The Redis implementation of [`Store`]: one Lua script per atomic operation (loaded once,
//! called by SHA, every key passed in `KEYS`) over one auto-reconnecting multiplexed connection;
//! routes go through a [`Pipe`] instead when the owner carries one (see [`super::pipe`]). On a
//! Redis Cluster the same scripts run in each orchestrator's slot, and what crosses slots is done
//! in the steps `cluster` describes.

mod cluster;

pub use cluster::{cluster_target, ClusterTarget};

use super::keys::{Key, Keys};
use super::pipe::{Pipe, PipeError};
use super::{
    DrainAction, DrainReply, DrainStep, ItemOutcome, OverdueReceipts, Priority, QueueInspection, QueueSnapshot, QueueStatus,
    ReceiptAction, ReceiptOutcome, ReceiptReply, ReceiptStep, RouteReply, RouteRequest, Store, StoreError, StoreLimits,
    StoreResult, Touched, QUEUE_KEY_GRACE_MS,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo, Script, Value};
use serde_json::Value as Json;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Messages routed by one call of the batch route script.
const ROUTE_BATCH: usize = 100;

/// A script's source: the shared Lua helpers followed by the operation's own file.
macro_rules! lua_source {
    ($file:literal $(, $lib:literal)*) => {
        concat!(
            include_str!("lua/lib/common.lua"),
            "\n",
            $(include_str!(concat!("lua/lib/", $lib)), "\n",)*
            include_str!(concat!("lua/", $file))
        )
    };
}

/// A script's source on a Redis Cluster: as [`lua_source!`], with lib/cluster.lua after the
/// helpers and the operation's own file run as a function whose reply `cluster_reply` wraps.
macro_rules! lua_cluster {
    ($file:literal $(, $lib:literal)*) => {
        Script::new(concat!(
            include_str!("lua/lib/common.lua"),
            "\n",
            $(include_str!(concat!("lua/lib/", $lib)), "\n",)*
            include_str!("lua/lib/cluster.lua"),
            "\nreturn cluster_reply((function()\n",
            include_str!(concat!("lua/", $file)),
            "\nend)())\n"
        ))
    };
}

/// Builds a script from [`lua_source!`].
macro_rules! lua {
    ($file:literal $(, $lib:literal)*) => {
        Script::new(lua_source!($file $(, $lib)*))
    };
}

/// The sources of the scripts routes send through the pipe, which loads them itself when Redis
/// lost them.
const ROUTE_SOURCE: &str = lua_source!("route.lua", "route.lua");
const ROUTE_BATCH_SOURCE: &str = lua_source!("route_batch.lua", "route.lua");
const ROUTE_BROADCAST_SOURCE: &str = lua_source!("route_broadcast.lua", "route.lua");

/// Which route script a call runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RouteScript {
    /// route.lua: one message.
    Single,
    /// route_batch.lua: many messages.
    Batch,
    /// route_broadcast.lua: one message, to every target session.
    Broadcast,
}

struct Scripts {
    route: Script,
    route_batch: Script,
    route_broadcast: Script,
    register_session: Script,
    touch_session: Script,
    drain_step: Script,
    claim_due: Script,
    acknowledge: Script,
    read_receipts: Script,
    redeliver_step: Script,
    /// Cluster only: moves outbox entries into a daemon's list.
    push_outbox: Script,
    /// Cluster only: an orchestrator's due time with a new version.
    due_version: Script,
    /// Cluster only: copies a due time into the index, unless a newer one is there.
    file_due: Script,
    /// Cluster only: which router sweeps.
    sweep_lock: Script,
    requeue_dead: Script,
    snapshot: Script,
    acknowledge_events: Script,
    unregister_session: Script,
    read_sessions: Script,
    queue_lengths: Script,
    inspect: Script,
}

impl Scripts {
    /// The scripts for one server, or (`cluster`) those whose steps deliver into outboxes, built
    /// once for the process: every store shares them (each set is about 370 KB of Lua with the
    /// shared library prepended, which a store of its own would hold until it is dropped).
    fn shared(cluster: bool) -> &'static Scripts {
        static SINGLE: OnceLock<Scripts> = OnceLock::new();
        static CLUSTER: OnceLock<Scripts> = OnceLock::new();
        if cluster { CLUSTER.get_or_init(|| Scripts::new(true)) } else { SINGLE.get_or_init(|| Scripts::new(false)) }
    }

    /// The scripts for one server, or (`cluster`) those whose steps deliver into outboxes (see
    /// lib/cluster.lua).
    fn new(cluster: bool) -> Self {
        let (route, route_batch, route_broadcast, drain_step, redeliver_step) = if cluster {
            (
                lua_cluster!("route.lua", "route.lua"),
                lua_cluster!("route_batch.lua", "route.lua"),
                lua_cluster!("route_broadcast.lua", "route.lua"),
                lua_cluster!("drain_step.lua"),
                lua_cluster!("redeliver_step.lua"),
            )
        } else {
            (
                Script::new(ROUTE_SOURCE),
                Script::new(ROUTE_BATCH_SOURCE),
                Script::new(ROUTE_BROADCAST_SOURCE),
                lua!("drain_step.lua"),
                lua!("redeliver_step.lua"),
            )
        };
        Scripts {
            route,
            route_batch,
            route_broadcast,
            register_session: lua!("register_session.lua"),
            touch_session: lua!("touch_session.lua"),
            drain_step,
            claim_due: lua!("claim_due.lua"),
            acknowledge: lua!("acknowledge.lua"),
            read_receipts: lua!("read_receipts.lua"),
            redeliver_step,
            push_outbox: lua!("push_outbox.lua"),
            due_version: lua!("due_version.lua"),
            file_due: lua!("file_due.lua"),
            sweep_lock: lua!("sweep_lock.lua"),
            requeue_dead: lua!("requeue_dead.lua"),
            snapshot: lua!("snapshot.lua"),
            acknowledge_events: lua!("acknowledge_events.lua"),
            unregister_session: lua!("unregister_session.lua"),
            read_sessions: lua!("read_sessions.lua"),
            queue_lengths: lua!("queue_lengths.lua"),
            inspect: lua!("inspect.lua"),
        }
    }
}

/// Where to connect: a URL, or the parts of an options object.
pub fn connection_info(redis: &Json) -> Result<ConnectionInfo, String> {
    if let Some(url) = redis.get("url").and_then(Json::as_str) {
        return url.into_connection_info().map_err(|e| format!("is not a valid Redis URL ({:?}): {e}", redact_url(url)));
    }
    let text = |name: &str| redis.get(name).and_then(Json::as_str).map(str::to_owned);
    let host = text("host").unwrap_or_else(|| "127.0.0.1".to_owned());
    let port = match redis.get("port") {
        None | Some(Json::Null) => 6379,
        Some(p) => p
            .as_u64()
            .filter(|p| (1..=65535).contains(p))
            .ok_or_else(|| format!("port must be an integer from 1 to 65535, got {p}"))? as u16,
    };
    let tls = redis.get("tls").is_some_and(|t| !t.is_null() && t != &Json::Bool(false));
    let addr = if tls {
        ConnectionAddr::TcpTls { host, port, insecure: false, tls_params: None }
    } else {
        ConnectionAddr::Tcp(host, port)
    };
    let mut settings = RedisConnectionInfo::default();
    if let Some(db) = redis.get("db").filter(|d| !d.is_null()) {
        settings = settings.set_db(db.as_i64().filter(|d| *d >= 0).ok_or_else(|| format!("db must be a non-negative integer, got {db}"))?);
    }
    if let Some(username) = text("username") {
        settings = settings.set_username(username);
    }
    if let Some(password) = text("password") {
        settings = settings.set_password(password);
    }
    let info = addr.into_connection_info().map_err(|e| e.to_string())?;
    Ok(info.set_redis_settings(settings))
}

/// Where the store connects: one server, or a cluster.
// One per store, built once: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Client {
    Single(redis::Client),
    Cluster(redis::cluster::ClusterClient),
}

/// The store's own connection (to one server, or to every master of a cluster).
#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl redis::aio::ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(&'a mut self, pipeline: &'a redis::Pipeline, offset: usize, count: usize) -> redis::RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}

/// A [`Store`] on one Redis server, or on a Redis Cluster.
pub struct RedisStore {
    client: Client,
    timeout: Duration,
    /// The connection, and how many closures the pipe had seen when it was made.
    connection: Mutex<Option<(Connection, u64)>>,
    /// Cluster: when this router next looks for outboxes and due times left behind (ms).
    next_sweep_ms: std::sync::atomic::AtomicI64,
    /// Cluster: where this router's sweep stands (see `cluster::Sweep`).
    sweep: Mutex<cluster::Sweep>,
    /// Cluster: this router's token in the sweep lock.
    sweep_token: String,
    closed: std::sync::atomic::AtomicBool,
    keys: Keys,
    limits: StoreLimits,
    scripts: &'static Scripts,
    /// Carries routes when set (the binding's JS-thread connection); everything else, and routes
    /// without it, go through `connection`.
    pipe: Option<Arc<Pipe>>,
}

/// A URL as it may be shown: its password (user info, or a `password`/`pass` query value) masked.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(start) = out.find("://").map(|i| i + 3) {
        let authority_end = out[start..].find(['/', '?', '#']).map_or(out.len(), |i| start + i);
        if let Some(at) = out[start..authority_end].rfind('@').map(|i| start + i) {
            if let Some(colon) = out[start..at].find(':').map(|i| start + i) {
                out.replace_range(colon + 1..at, "***");
            }
        }
    }
    if let Some(query) = out.find('?') {
        let (head, tail) = out.split_at(query + 1);
        let masked: Vec<String> = tail
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if matches!(name, "password" | "pass") => format!("{name}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{head}{}", masked.join("&"));
    }
    out
}

/// `text` as a SCAN pattern that matches only itself (glob characters escaped).
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The daemons a step with `session` delivers to: its own and each broadcast copy's.
fn step_daemons<'a>(session: Option<(&'a str, &'a str)>, copies: &[(&'a str, &'a str)]) -> Vec<&'a str> {
    session.map(|(_, daemon_id)| daemon_id).into_iter().chain(copies.iter().map(|(_, daemon_id)| *daemon_id)).collect()
}

/// A yes/no argument as the scripts read it.
fn flag(on: bool) -> &'static str {
    if on { "1" } else { "0" }
}

/// A priority level as the scripts number them: 1 high, 2 normal, 3 low.
fn level(priority: Priority) -> i64 {
    priority.rank() as i64 + 1
}

/// A Redis error as the router reports it, with what to do about it (see [`super::with_hint`]).
fn store_error(error: redis::RedisError) -> StoreError {
    StoreError(super::with_hint(error.to_string()))
}

fn unexpected(what: &str, value: &Value) -> StoreError {
    StoreError(format!("unexpected reply to {what}: {value:?}"))
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn int(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        _ => None,
    }
}

/// Keys and arguments of one route request (route.lua's KEYS and ARGV); the last two keys (the
/// session set and records) only with several sessions per orchestrator.
const ROUTE_KEYS: usize = 11;
const ROUTE_ARGS: usize = 22;

/// Where a command's arguments go: packed straight into RESP for the pipe, or into a
/// `redis::Cmd` for the store's own connection.
trait Args {
    /// One argument: the concatenation of `parts`.
    fn arg(&mut self, parts: &[&[u8]]);

    fn int(&mut self, n: i64) {
        self.arg(&[itoa::Buffer::new().format(n).as_bytes()]);
    }
}

impl Args for redis::Cmd {
    fn arg(&mut self, parts: &[&[u8]]) {
        redis::Cmd::arg(self, parts.concat());
    }
}

/// A command packed as RESP: `*<count>` then each argument as a bulk string.
struct Resp(Vec<u8>);

impl Resp {
    fn new(count: usize, capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity);
        out.push(b'*');
        out.extend_from_slice(itoa::Buffer::new().format(count).as_bytes());
        out.extend_from_slice(b"\r\n");
        Resp(out)
    }
}

impl Args for Resp {
    fn arg(&mut self, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        self.0.push(b'$');
        self.0.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
        self.0.extend_from_slice(b"\r\n");
        for part in parts {
            self.0.extend_from_slice(part);
        }
        self.0.extend_from_slice(b"\r\n");
    }
}

/// Passes on the arguments whose position (counted from `at`) is in `range`.
struct Select<'o, A: Args> {
    out: &'o mut A,
    range: std::ops::Range<usize>,
    at: usize,
}

impl<A: Args> Args for Select<'_, A> {
    fn arg(&mut self, parts: &[&[u8]]) {
        if self.range.contains(&self.at) {
            self.out.arg(parts);
        }
        self.at += 1;
    }
}

/// What the route script answered.
fn parse_route_reply(reply: &Value) -> StoreResult<RouteReply> {
    let parts = match reply {
        Value::Array(parts) if !parts.is_empty() => parts,
        other => return Err(unexpected("route", other)),
    };
    let status = |v: Option<&Value>| match v.and_then(text).as_deref() {
        Some("pending") => QueueStatus::Pending,
        _ => QueueStatus::Offline,
    };
    let second = || parts.get(1).and_then(text).ok_or_else(|| unexpected("route", reply));
    Ok(match text(&parts[0]).as_deref() {
        Some("delivered") => RouteReply::Delivered { session_id: second()?, copies: texts(&parts[2..]) },
        Some("already") => RouteReply::AlreadyDelivered { marker: second()? },
        Some("stale") => RouteReply::Stale { session: second()? },
        Some("refused") => RouteReply::Refused { status: status(parts.get(1)) },
        Some("queued") => RouteReply::Queued {
            status: status(parts.get(1)),
            queue_size: parts.get(2).and_then(int).ok_or_else(|| unexpected("route", reply))?,
            dropped: texts(&parts[3..]),
        },
        Some("full") => RouteReply::QueueFull {
            status: status(parts.get(1)),
            queue_size: parts.get(2).and_then(int).ok_or_else(|| unexpected("route", reply))?,
            dropped: texts(&parts[3..]),
        },
        _ => return Err(unexpected("route", reply)),
    })
}

/// What a batch or broadcast route call answered, one reply per message of its `count`.
fn parse_batch_reply(count: usize, reply: StoreResult<Value>) -> Vec<StoreResult<RouteReply>> {
    match reply {
        Ok(Value::Array(flat)) => {
            let mut rest = flat.as_slice();
            (0..count)
                .map(|_| {
                    let len = rest.first().and_then(int).unwrap_or(0) as usize;
                    let parsed = match rest.get(1..1 + len) {
                        Some(parts) => parse_route_reply(&Value::Array(parts.to_vec())),
                        None => Err(StoreError("short reply to route_batch".into())),
                    };
                    rest = rest.get(1 + len..).unwrap_or_default();
                    parsed
                })
                .collect()
        }
        Ok(other) => vec![Err(unexpected("route_batch", &other)); count],
        Err(error) => vec![Err(error); count],
    }
}

fn texts(values: &[Value]) -> Vec<String> {
    values.iter().filter_map(text).collect()
}

impl RedisStore {
    /// Which of an orchestrator's keys holds another type than the router writes there, as an
    /// error naming it (after an inspection met WRONGTYPE); `None` when none does (any more).
    async fn wrong_type(&self, connection: &mut Connection, orchestrator_id: &str) -> Option<StoreError> {
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
        let kinds: Vec<String> = pipeline.query_async(connection).await.ok()?;
        let wrong: Vec<String> = expected
            .iter()
            .zip(kinds)
            .filter(|((_, want), kind)| kind != "none" && kind != want)
            .map(|((key, want), kind)| format!("{key} holds a {kind}, not a {want}"))
            .collect();
        (!wrong.is_empty()).then(|| StoreError(wrong.join("; ")))
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

    fn with_client(client: Client, keys: Keys, limits: StoreLimits, timeout: Duration, pipe: Option<Arc<Pipe>>) -> Self {
        RedisStore {
            client,
            timeout,
            connection: Mutex::new(None),
            next_sweep_ms: 0.into(),
            sweep: Mutex::default(),
            sweep_token: cluster::token(),
            closed: false.into(),
            scripts: Scripts::shared(keys.is_cluster()),
            keys,
            limits,
            pipe,
        }
    }

    /// The shared connection, created (without waiting for it) on first use.
    fn connection(&self) -> StoreResult<Connection> {
        if self.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Err(StoreError("the router is closed".into()));
        }
        let mut slot = self.connection.lock().unwrap_or_else(|e| e.into_inner());
        // When the pipe's connection closed since this one was made (Redis restarted, say), this
        // one is likely cut too: connect afresh instead of failing the next request on it.
        let closures = self.pipe.as_ref().map_or(0, |pipe| pipe.closures());
        if let Some((connection, seen)) = slot.as_ref() {
            if *seen == closures {
                return Ok(connection.clone());
            }
        }
        // Reconnection is tried once per failing request: the engine's own retries own backoff.
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let connection = match &self.client {
            Client::Single(client) => Connection::Single(ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(store_error)?),
            Client::Cluster(client) => Connection::Cluster(
                client.get_pending_async_connection_with_config(
                    redis::cluster::ClusterConfig::new().set_connection_timeout(self.timeout).set_response_timeout(self.timeout),
                ),
            ),
        };
        *slot = Some((connection.clone(), closures));
        Ok(connection)
    }

    /// The keys register_session.lua and touch_session.lua take: the session, the three queue
    /// lists (normal, pending index, high, low, as numbered there) and the session set.
    fn session_step<'s>(&self, script: &'s Script, orchestrator_id: &str) -> redis::ScriptInvocation<'s> {
        let k = &self.keys;
        let mut invocation = script.prepare_invoke();
        invocation
            .key(k.session(orchestrator_id))
            .key(k.queue(orchestrator_id))
            .key(k.index(orchestrator_id))
            .key(k.key(Key::QueueHigh, orchestrator_id))
            .key(k.key(Key::QueueLow, orchestrator_id))
            .key(k.session_set(orchestrator_id).as_slice());
        invocation
    }

    /// The keys and arguments drain_step.lua and redeliver_step.lua start with: KEYS session,
    /// queue, daemon events, pending, in-flight, receipts, the high and low queues, the session
    /// set and records, then each copy's daemon list; ARGV orchestratorId, expected sessionId
    /// and daemonId ('' when none), daemon channel, daemon maxEvents.
    fn step_invocation<'s>(
        &self,
        script: &'s Script,
        orchestrator_id: &str,
        session: Option<(&str, &str)>,
        copies: &[(&str, &str)],
    ) -> redis::ScriptInvocation<'s> {
        let k = &self.keys;
        let (session_id, daemon_id) = session.unwrap_or(("", ""));
        let mut invocation = script.prepare_invoke();
        invocation
            .key(k.session(orchestrator_id))
            .key(k.queue(orchestrator_id))
            .key(k.target(orchestrator_id, daemon_id))
            .key(k.index(orchestrator_id))
            .key(k.inflight(orchestrator_id))
            .key(k.receipts(orchestrator_id))
            .key(k.key(Key::QueueHigh, orchestrator_id))
            .key(k.key(Key::QueueLow, orchestrator_id))
            .key(k.session_set(orchestrator_id).as_slice())
            .arg(orchestrator_id)
            .arg(session_id)
            .arg(daemon_id)
            .arg(k.daemon_channel(daemon_id))
            .arg(self.limits.daemon_max_events);
        for (_, copy_daemon) in copies {
            invocation.key(k.target(orchestrator_id, copy_daemon));
        }
        invocation
    }

    /// The broadcast flag, now and the copy count, as steps take them (see `copies_args`).
    fn targets_args(&self, invocation: &mut redis::ScriptInvocation<'_>, copies: &[(&str, &str)], now_ms: i64) {
        invocation.arg(flag(self.limits.broadcast)).arg(now_ms).arg(copies.len());
    }

    /// Each broadcast copy's session id, daemon id and channel.
    fn copies_args(&self, invocation: &mut redis::ScriptInvocation<'_>, copies: &[(&str, &str)]) {
        for (session_id, daemon_id) in copies {
            invocation.arg(*session_id).arg(*daemon_id).arg(self.keys.daemon_channel(daemon_id));
        }
    }

    /// Writes the route script's keys and arguments for one request (see route.lua).
    fn route_args(&self, out: &mut impl Args, r: &RouteRequest<'_>) {
        let k = &self.keys;
        let l = &self.limits;
        out.arg(&k.parts(Key::Session, r.orchestrator_id));
        out.arg(&k.parts(Key::Queue, r.orchestrator_id));
        out.arg(&k.marker_parts(r.orchestrator_id, r.message_id));
        out.arg(&k.target_parts(r.orchestrator_id, r.daemon_id));
        out.arg(&k.index_parts(r.orchestrator_id));
        out.arg(&k.parts(Key::Inflight, r.orchestrator_id));
        out.arg(&k.parts(Key::Receipts, r.orchestrator_id));
        out.arg(&k.parts(Key::QueueHigh, r.orchestrator_id));
        out.arg(&k.parts(Key::QueueLow, r.orchestrator_id));
        if self.limits.multiple_sessions {
            out.arg(&k.parts(Key::Sessions, r.orchestrator_id));
            out.arg(&k.parts(Key::SessionRecords, r.orchestrator_id));
        }
        out.arg(&[r.orchestrator_id.as_bytes()]);
        out.arg(&[r.session_id.as_bytes()]);
        out.arg(&[r.daemon_id.as_bytes()]);
        out.arg(&[r.daemon_event.as_bytes()]);
        out.arg(&[r.marker.as_bytes()]);
        out.arg(&Keys::daemon_channel_parts(r.daemon_id));
        out.arg(&[r.queue_item.as_bytes()]);
        out.int(l.daemon_max_events as i64);
        out.int(l.max_queue_size as i64);
        out.arg(&[flag(l.queue_enabled).as_bytes()]);
        out.int(l.marker_ttl_seconds as i64);
        out.int(l.daemon_events_ttl_seconds as i64);
        out.int(r.expires_at_ms);
        out.int(r.now_ms);
        // On a cluster the client resends a script whose connection dropped, even one that ran:
        // a route always looks for its item before queueing it there.
        out.arg(&[flag(r.dedupe || self.keys.is_cluster()).as_bytes()]);
        out.int(r.expires_at_ms + QUEUE_KEY_GRACE_MS);
        out.arg(&[flag(r.receipt.is_some()).as_bytes()]);
        out.arg(&[r.receipt.map_or("", |(record, _)| record).as_bytes()]);
        out.int(r.receipt.map_or(0, |(_, deadline)| deadline));
        out.arg(&[r.message_id.as_bytes()]);
        out.arg(&[flag(r.queue_only).as_bytes()]);
        out.int(level(r.priority));
    }

    /// Keys per route request: one session per orchestrator needs no session set (two keys, and
    /// Redis's parsing of them, saved on every route).
    fn route_keys(&self) -> usize {
        if self.limits.multiple_sessions { ROUTE_KEYS } else { ROUTE_KEYS - 2 }
    }

    /// The script of `kind` and its source.
    fn route_script(&self, kind: RouteScript) -> (&Script, &'static str) {
        match kind {
            RouteScript::Single => (&self.scripts.route, ROUTE_SOURCE),
            RouteScript::Batch => (&self.scripts.route_batch, ROUTE_BATCH_SOURCE),
            RouteScript::Broadcast => (&self.scripts.route_broadcast, ROUTE_BROADCAST_SOURCE),
        }
    }

    /// The route script call for one request, the batch script call for many (see
    /// route_batch.lua) or the broadcast call for any number (route_broadcast.lua), written into
    /// `out`.
    /// On a cluster, `extras` is the key and argument every delivering step takes last.
    fn route_call(&self, out: &mut impl Args, requests: &[RouteRequest<'_>], kind: RouteScript, extras: Option<&cluster::Extras>) {
        let copies: usize = requests.iter().map(|r| r.copies.len()).sum();
        let route_keys = self.route_keys();
        out.arg(&[b"EVALSHA"]);
        out.arg(&[self.route_script(kind).0.get_hash().as_bytes()]);
        out.int((route_keys * requests.len() + copies + 2 * usize::from(extras.is_some())) as i64);
        // Keys come first, then arguments: write every request's keys, then every request's
        // arguments (broadcast: each request's other targets right after its own).
        for r in requests {
            self.route_args(&mut Select { out: &mut *out, range: 0..route_keys, at: 0 }, r);
            for copy in r.copies {
                out.arg(&self.keys.target_parts(r.orchestrator_id, &copy.daemon_id));
            }
        }
        if let Some(extras) = extras {
            out.arg(&[extras.seq_key.as_bytes()]);
            out.arg(&[extras.due_key.as_bytes()]);
        }
        if kind != RouteScript::Single {
            out.int(requests.len() as i64);
        }
        for r in requests {
            if kind == RouteScript::Broadcast {
                out.int(r.copies.len() as i64);
            }
            self.route_args(&mut Select { out: &mut *out, range: route_keys..route_keys + ROUTE_ARGS, at: 0 }, r);
            for copy in r.copies {
                out.arg(&[copy.session_id.as_bytes()]);
                out.arg(&[copy.daemon_id.as_bytes()]);
                out.arg(&[copy.event.as_bytes()]);
                out.arg(&Keys::daemon_channel_parts(&copy.daemon_id));
            }
        }
        if let Some(extras) = extras {
            out.arg(&[extras.args.as_bytes()]);
        }
    }

    /// The route call for `requests`, packed for the pipe.
    fn route_packed(&self, requests: &[RouteRequest<'_>], kind: RouteScript) -> Vec<u8> {
        let copies: usize = requests.iter().map(|r| r.copies.len()).sum();
        let per_request = self.route_keys() + ROUTE_ARGS + usize::from(kind == RouteScript::Broadcast);
        let count = 3 + per_request * requests.len() + usize::from(kind != RouteScript::Single) + 5 * copies;
        let size: usize = requests
            .iter()
            .map(|r| r.daemon_event.len() + r.queue_item.len() + r.marker.len() + 640 + r.copies.iter().map(|c| c.event.len() + 160).sum::<usize>())
            .sum();
        let mut out = Resp::new(count, size);
        self.route_call(&mut out, requests, kind, None);
        out.0
    }

    /// The route call for `requests`, as a command for the store's own connection.
    fn route_cmd(&self, requests: &[RouteRequest<'_>], kind: RouteScript, extras: Option<&cluster::Extras>) -> redis::Cmd {
        let mut cmd = redis::Cmd::new();
        self.route_call(&mut cmd, requests, kind, extras);
        cmd
    }

    /// Runs EVALSHA commands of `script` as one pipeline, loading the script first if the
    /// server lost it (after a restart nothing ran, so running them again is safe).
    async fn eval_pipeline(&self, script: &Script, commands: Vec<redis::Cmd>) -> StoreResult<Vec<redis::RedisResult<Value>>> {
        let pipeline = |commands: &[&redis::Cmd]| {
            let mut pipeline = redis::pipe();
            // Each command's own error comes back in its place (NOSCRIPT included).
            pipeline.ignore_errors();
            for cmd in commands {
                pipeline.add_command((*cmd).clone());
            }
            pipeline
        };
        let mut connection = self.connection()?;
        let no_script = |r: &redis::RedisResult<Value>| matches!(r, Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript));
        let all: Vec<&redis::Cmd> = commands.iter().collect();
        let mut replies: Vec<redis::RedisResult<Value>> = self.checked(pipeline(&all).query_async(&mut connection).await)?;
        // Only the commands the server answered NOSCRIPT did not run: load the script and send
        // those again (the others ran; sending them twice could queue a message twice).
        let lost: Vec<usize> = (0..replies.len()).filter(|&i| no_script(&replies[i])).collect();
        if lost.is_empty() {
            return Ok(replies);
        }
        self.checked(script.prepare_invoke().load_async(&mut connection).await)?;
        let again: Vec<&redis::Cmd> = lost.iter().map(|&i| &commands[i]).collect();
        let again: Vec<redis::RedisResult<Value>> = self.checked(pipeline(&again).query_async(&mut connection).await)?;
        for (i, reply) in lost.into_iter().zip(again) {
            replies[i] = reply;
        }
        Ok(replies)
    }

    /// Runs route calls of `kind` in one round (one per slice; a slice holds one request unless
    /// `kind` is the batch script), through the pipe when there is one: the outer error is a
    /// connection failure (nothing is known of any call), the inner ones are each call's own.
    async fn eval_routes(&self, calls: &[&[RouteRequest<'_>]], kind: RouteScript) -> StoreResult<Vec<StoreResult<Value>>> {
        let (script, source) = self.route_script(kind);
        let Some(pipe) = &self.pipe else {
            let commands = calls.iter().map(|requests| self.route_cmd(requests, kind, None)).collect();
            let replies = self.eval_pipeline(script, commands).await?;
            return Ok(replies.into_iter().map(|r| r.map_err(store_error)).collect());
        };
        let packed: Vec<Vec<u8>> = calls.iter().map(|requests| self.route_packed(requests, kind)).collect();
        let all: Vec<&[u8]> = packed.iter().map(Vec::as_slice).collect();
        let mut replies = Self::piped(pipe, &all).await?;
        // Only the calls answered NOSCRIPT did not run (Redis restarted, or its script cache was
        // flushed): load the script and send those again, not the others.
        let lost: Vec<usize> =
            (0..replies.len()).filter(|&i| matches!(&replies[i], Err(PipeError::Server(e)) if e.starts_with("NOSCRIPT"))).collect();
        if !lost.is_empty() {
            let load = redis::cmd("SCRIPT").arg("LOAD").arg(source).get_packed_command();
            if let Some(Err(PipeError::Server(error))) = Self::piped(pipe, &[&load]).await?.pop() {
                return Err(StoreError(format!("could not load the route script: {}", super::with_hint(error))));
            }
            let lost_commands: Vec<&[u8]> = lost.iter().map(|&i| packed[i].as_slice()).collect();
            let again = Self::piped(pipe, &lost_commands).await?;
            for (i, reply) in lost.into_iter().zip(again) {
                replies[i] = reply;
            }
        }
        Ok(replies
            .into_iter()
            .map(|reply| reply.map_err(|e| match e {
                PipeError::Server(message) => StoreError(super::with_hint(message)),
                PipeError::Connection(message) => StoreError(message),
            }))
            .collect())
    }

    /// What drain_step.lua answered.
    fn parse_drain_reply(reply: Value) -> StoreResult<DrainReply> {
        let parts = match &reply {
            Value::Array(parts) if !parts.is_empty() => parts,
            other => return Err(unexpected("drain_step", other)),
        };
        Ok(match text(&parts[0]).as_deref() {
            Some("conflict") => DrainReply::Conflict,
            Some("stale") => DrainReply::Stale { session: parts.get(1).and_then(text) },
            Some("done") => {
                let outcomes = parts
                    .get(1)
                    .and_then(text)
                    .ok_or_else(|| unexpected("drain_step", &reply))?
                    .chars()
                    .map(|c| match c {
                        'D' => ItemOutcome::Delivered,
                        'A' => ItemOutcome::AlreadyDelivered,
                        _ => ItemOutcome::Dropped,
                    })
                    .collect();
                let remaining = parts.get(2).and_then(int).ok_or_else(|| unexpected("drain_step", &reply))?;
                DrainReply::Done { outcomes, remaining }
            }
            _ => return Err(unexpected("drain_step", &reply)),
        })
    }

    /// What redeliver_step.lua answered.
    fn parse_receipt_reply(reply: Value) -> StoreResult<ReceiptReply> {
        let parts = match &reply {
            Value::Array(parts) if !parts.is_empty() => parts,
            other => return Err(unexpected("redeliver_step", other)),
        };
        match text(&parts[0]).as_deref() {
            Some("stale") => Ok(ReceiptReply::Stale),
            Some("done") => Ok(ReceiptReply::Done(
                parts
                    .get(1)
                    .and_then(text)
                    .unwrap_or_default()
                    .chars()
                    .map(|c| match c {
                        'R' => ReceiptOutcome::Redelivered,
                        'D' => ReceiptOutcome::DeadLettered,
                        'Q' => ReceiptOutcome::Requeued,
                        'F' => ReceiptOutcome::DaemonFull,
                        _ => ReceiptOutcome::Skipped,
                    })
                    .collect(),
            )),
            _ => Err(unexpected("redeliver_step", &reply)),
        }
    }

    async fn piped(pipe: &Pipe, packed: &[&[u8]]) -> StoreResult<Vec<Result<Value, PipeError>>> {
        let mut replies = Vec::with_capacity(packed.len());
        for reply in pipe.send(packed) {
            match reply.await {
                Err(PipeError::Connection(message)) => return Err(StoreError(message)),
                other => replies.push(other),
            }
        }
        Ok(replies)
    }

    /// Runs a drain or receipt step that delivers to `daemons` (if any); on a cluster, with the
    /// extras it takes last, then what follows it (see `cluster`), answering the step's own reply.
    async fn run_step(&self, mut invocation: redis::ScriptInvocation<'_>, orchestrator_id: &str, daemons: Option<Vec<&str>>) -> StoreResult<Value> {
        let Some(extras) = self.extras(orchestrator_id, daemons.as_deref().unwrap_or_default(), true).await? else {
            return self.run(&invocation).await;
        };
        invocation.key(&extras.seq_key).key(&extras.due_key).arg(&extras.args);
        let wrapped = self.run(&invocation).await?;
        self.after_step(orchestrator_id, wrapped).await
    }

    /// After a step that may have filed the orchestrator in the index: on a cluster, copies its
    /// due time into the index routers claim from (on one server the step wrote the index).
    async fn filed(&self, orchestrator_id: &str) {
        if self.keys.is_cluster() {
            self.sync_due(orchestrator_id).await;
        }
    }

    async fn run(&self, invocation: &redis::ScriptInvocation<'_>) -> StoreResult<Value> {
        let mut connection = self.connection()?;
        let result = invocation.invoke_async(&mut connection).await;
        self.checked(result)
    }

    /// Passes a result through; on a connection failure, drops the connection so that the next
    /// request connects afresh instead of awaiting the failed attempt (the manager caches it).
    fn checked<T>(&self, result: redis::RedisResult<T>) -> StoreResult<T> {
        result.map_err(|error| {
            // Redis closes a connection after a protocol error (such as a long command sent
            // before authenticating), so it is dropped too.
            let protocol = error.to_string().contains("Protocol error");
            if protocol || error.is_io_error() || error.is_connection_refusal() || error.is_connection_dropped() {
                self.connection.lock().unwrap_or_else(|e| e.into_inner()).take();
            }
            store_error(error)
        })
    }
}

impl Store for RedisStore {
    async fn route(&self, r: &RouteRequest<'_>) -> StoreResult<RouteReply> {
        if self.limits.broadcast || self.keys.is_cluster() {
            return self.route_many(std::slice::from_ref(r)).await?.pop().ok_or_else(|| StoreError("no reply to route".into()))?;
        }
        let mut replies = self.eval_routes(&[std::slice::from_ref(r)], RouteScript::Single).await?;
        let reply = replies.pop().ok_or_else(|| StoreError("no reply to route".into()))?;
        parse_route_reply(&reply?)
    }

    async fn route_many(&self, requests: &[RouteRequest<'_>]) -> StoreResult<Vec<StoreResult<RouteReply>>> {
        let kind = if self.limits.broadcast { RouteScript::Broadcast } else { RouteScript::Batch };
        if self.keys.is_cluster() {
            return Ok(self.cluster_routes(requests, kind).await);
        }
        let calls: Vec<&[RouteRequest<'_>]> = requests.chunks(ROUTE_BATCH).collect();
        let replies = self.eval_routes(&calls, kind).await?;
        let mut results = Vec::with_capacity(requests.len());
        for (chunk, reply) in requests.chunks(ROUTE_BATCH).zip(replies) {
            results.extend(parse_batch_reply(chunk.len(), reply));
        }
        Ok(results)
    }

    async fn register_session(&self, orchestrator_id: &str, session_id: &str, session: &str, now_ms: i64) -> StoreResult<u64> {
        let reply = self
            .run(
                self.session_step(&self.scripts.register_session, orchestrator_id)
                    .arg(session)
                    .arg(self.limits.session_ttl_seconds)
                    .arg(orchestrator_id)
                    .arg(now_ms)
                    .arg(session_id)
                    .arg(flag(self.limits.multiple_sessions)),
            )
            .await?;
        let queued = int(&reply).ok_or_else(|| unexpected("register_session", &reply))?;
        if queued > 0 {
            self.filed(orchestrator_id).await;
        }
        Ok(queued)
    }

    async fn unregister_session(&self, orchestrator_id: &str, session_id: Option<&str>, now_ms: i64) -> StoreResult<bool> {
        let k = &self.keys;
        let reply = self
            .run(
                self.scripts
                    .unregister_session
                    .key(k.session(orchestrator_id))
                    .key(k.session_set(orchestrator_id).as_slice())
                    .arg(session_id.unwrap_or(""))
                    .arg(now_ms),
            )
            .await?;
        int(&reply).map(|n| n > 0).ok_or_else(|| unexpected("unregister_session", &reply))
    }

    async fn touch_session(&self, orchestrator_id: &str, session_id: Option<&str>, now_iso: &str, now_ms: i64) -> StoreResult<Option<Touched>> {
        let reply = self
            .run(
                self.session_step(&self.scripts.touch_session, orchestrator_id)
                    .arg(now_iso)
                    .arg(self.limits.session_ttl_seconds)
                    .arg(orchestrator_id)
                    .arg(now_ms)
                    .arg(session_id.unwrap_or("")),
            )
            .await?;
        let touched = match &reply {
            Value::Nil => None,
            Value::Array(parts) if parts.len() == 2 => Some(Touched {
                session: text(&parts[0]).ok_or_else(|| unexpected("touch_session", &reply))?,
                queue_length: int(&parts[1]).ok_or_else(|| unexpected("touch_session", &reply))?,
            }),
            other => return Err(unexpected("touch_session", other)),
        };
        if touched.as_ref().is_some_and(|t| t.queue_length > 0) {
            self.filed(orchestrator_id).await;
        }
        Ok(touched)
    }

    async fn sessions(&self, orchestrator_id: &str, now_ms: i64) -> StoreResult<Vec<String>> {
        let k = &self.keys;
        let reply = self
            .run(
                self.scripts
                    .read_sessions
                    .key(k.session(orchestrator_id))
                    .key(k.session_set(orchestrator_id).as_slice())
                    .arg(now_ms),
            )
            .await?;
        match &reply {
            Value::Array(sessions) => Ok(texts(sessions)),
            other => Err(unexpected("read_sessions", other)),
        }
    }

    async fn queue_lengths(&self, orchestrator_id: &str) -> StoreResult<[u64; 3]> {
        let mut invocation = self.scripts.queue_lengths.prepare_invoke();
        for queue in self.keys.queues(orchestrator_id) {
            invocation.key(queue);
        }
        let reply = self.run(&invocation).await?;
        let (high, normal, low): (u64, u64, u64) = redis::from_redis_value(reply.clone()).map_err(|_| unexpected("queue_lengths", &reply))?;
        Ok([high, normal, low])
    }

    async fn snapshot(&self, orchestrator_id: &str, count: usize, now_ms: i64) -> StoreResult<QueueSnapshot> {
        let k = &self.keys;
        let mut invocation = self.scripts.snapshot.key(k.session(orchestrator_id));
        for queue in k.queues(orchestrator_id) {
            invocation.key(queue);
        }
        invocation.key(k.session_set(orchestrator_id).as_slice());
        let reply = self.run(invocation.arg(count).arg(now_ms).arg(flag(self.limits.broadcast))).await?;
        let parts = match &reply {
            Value::Array(parts) if parts.len() >= 6 => parts,
            other => return Err(unexpected("snapshot", other)),
        };
        let length = int(&parts[1]).ok_or_else(|| unexpected("snapshot", &reply))?;
        let per_level = text(&parts[2]).as_deref() == Some("l");
        let count = |i: usize| int(&parts[i]).map(|n| n as usize).ok_or_else(|| unexpected("snapshot", &reply));
        let levels = [count(3)?, count(4)?, count(5)?];
        let head = parts[6..]
            .iter()
            .map(|item| match item {
                Value::BulkString(bytes) => Ok(bytes.clone()),
                other => Err(unexpected("snapshot", other)),
            })
            .collect::<StoreResult<_>>()?;
        Ok(QueueSnapshot { session: text(&parts[0]), length, head, levels, per_level })
    }

    async fn drain_step(&self, step: &DrainStep<'_>) -> StoreResult<DrainReply> {
        let k = &self.keys;
        let mut invocation = self.step_invocation(&self.scripts.drain_step, step.orchestrator_id, step.session, &step.copies);
        invocation
            .arg(self.limits.marker_ttl_seconds)
            .arg(self.limits.daemon_events_ttl_seconds)
            .arg(step.retry_at_ms)
            .arg(step.revisit_at_ms)
            .arg(flag(self.limits.receipts))
            .arg(step.receipt_deadline_ms)
            .arg(step.items.len());
        self.targets_args(&mut invocation, &step.copies, step.now_ms);
        match step.levels {
            Some(counts) => counts.iter().for_each(|count| {
                invocation.arg(*count);
            }),
            None => {
                invocation.arg("").arg("").arg("");
            }
        }
        self.copies_args(&mut invocation, &step.copies);
        for (raw, action) in &step.items {
            match action {
                DrainAction::Deliver { message_id, event, marker, receipt, copies } => {
                    invocation.key(k.delivered(step.orchestrator_id, message_id)).arg(*raw).arg("d").arg(event).arg(marker).arg(receipt).arg(message_id);
                    for copy in copies {
                        invocation.arg(copy);
                    }
                }
                DrainAction::Drop => {
                    // Never read for a drop; passed so KEYS and ARGV stay aligned with the items.
                    invocation.key(k.index(step.orchestrator_id)).arg(*raw).arg("x").arg("").arg("").arg("").arg("");
                    for _ in &step.copies {
                        invocation.arg("");
                    }
                }
            }
        }
        let delivers = step.items.iter().any(|(_, action)| matches!(action, DrainAction::Deliver { .. }));
        let reply = self.run_step(invocation, step.orchestrator_id, delivers.then(|| step_daemons(step.session, &step.copies))).await?;
        Self::parse_drain_reply(reply)
    }

    async fn acknowledge(&self, orchestrator_id: &str, message_ids: &[String]) -> StoreResult<Vec<String>> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = self.scripts.acknowledge.prepare_invoke();
        invocation.key(self.keys.inflight(orchestrator_id)).key(self.keys.receipts(orchestrator_id));
        for id in message_ids {
            invocation.arg(id);
        }
        match self.run(&invocation).await? {
            Value::Array(ids) => Ok(texts(&ids)),
            other => Err(unexpected("acknowledge", &other)),
        }
    }

    async fn overdue_receipts(&self, orchestrator_id: &str, now_ms: i64, due_by_ms: i64, limit: usize) -> StoreResult<OverdueReceipts> {
        let k = &self.keys;
        let reply = self
            .run(
                self.scripts
                    .read_receipts
                    .key(k.session(orchestrator_id))
                    .key(k.inflight(orchestrator_id))
                    .key(k.receipts(orchestrator_id))
                    .key(k.session_set(orchestrator_id).as_slice())
                    .arg(now_ms)
                    .arg(limit)
                    .arg(flag(self.limits.broadcast))
                    .arg(due_by_ms),
            )
            .await?;
        let parts = match &reply {
            Value::Array(parts) if !parts.is_empty() => parts,
            other => return Err(unexpected("read_receipts", other)),
        };
        let overdue = parts[1..].chunks(2).filter_map(|pair| Some((text(&pair[0])?, text(pair.get(1)?)?))).collect();
        Ok(OverdueReceipts { session: text(&parts[0]), overdue })
    }

    async fn receipt_step(&self, step: &ReceiptStep<'_>) -> StoreResult<ReceiptReply> {
        let k = &self.keys;
        let mut invocation = self.step_invocation(&self.scripts.redeliver_step, step.orchestrator_id, step.session, &step.copies);
        invocation
            .key(k.dead(step.orchestrator_id))
            .arg(self.limits.daemon_events_ttl_seconds)
            .arg(step.full_retry_at_ms)
            .arg(step.queue_revisit_at_ms)
            .arg(step.queue_expires_at_ms + QUEUE_KEY_GRACE_MS)
            .arg(step.items.len());
        self.targets_args(&mut invocation, &step.copies, step.now_ms);
        self.copies_args(&mut invocation, &step.copies);
        for (message_id, record, action) in &step.items {
            invocation.key(k.delivered(step.orchestrator_id, message_id)).arg(*message_id).arg(*record);
            let copies: &[String] = match action {
                ReceiptAction::Redeliver { event, record, deadline_ms, copies } => {
                    invocation.arg("r").arg(event).arg(record).arg(*deadline_ms);
                    copies
                }
                ReceiptAction::DeadLetter { entry } => {
                    invocation.arg("d").arg(entry).arg("").arg(0);
                    &[]
                }
                ReceiptAction::Requeue { item, priority } => {
                    invocation.arg("q").arg(item).arg("").arg(level(*priority));
                    &[]
                }
            };
            for j in 0..step.copies.len() {
                invocation.arg(copies.get(j).map_or("", String::as_str));
            }
        }
        let redelivers = step.items.iter().any(|(_, _, action)| matches!(action, ReceiptAction::Redeliver { .. }));
        let reply = self.run_step(invocation, step.orchestrator_id, redelivers.then(|| step_daemons(step.session, &step.copies))).await?;
        Self::parse_receipt_reply(reply)
    }

    async fn dead_letters(&self, orchestrator_id: &str) -> StoreResult<Vec<String>> {
        let mut connection = self.connection()?;
        let entries = redis::cmd("LRANGE").arg(self.keys.dead(orchestrator_id)).arg(0).arg(-1).query_async(&mut connection).await;
        self.checked(entries)
    }

    async fn requeue_dead_letters(
        &self,
        orchestrator_id: &str,
        expected: &[String],
        items: &[(String, Priority)],
        message_ids: &[String],
        revisit_at_ms: i64,
        queue_expires_at_ms: i64,
    ) -> StoreResult<bool> {
        let k = &self.keys;
        let mut invocation = self.scripts.requeue_dead.prepare_invoke();
        invocation
            .key(k.dead(orchestrator_id))
            .key(k.queue(orchestrator_id))
            .key(k.index(orchestrator_id))
            .key(k.receipts(orchestrator_id))
            .key(k.key(Key::QueueHigh, orchestrator_id))
            .key(k.key(Key::QueueLow, orchestrator_id));
        for id in message_ids {
            invocation.key(k.delivered(orchestrator_id, id));
        }
        invocation
            .arg(orchestrator_id)
            .arg(revisit_at_ms)
            .arg(queue_expires_at_ms + QUEUE_KEY_GRACE_MS)
            .arg(expected.len());
        for entry in expected.iter().chain(items.iter().map(|(item, _)| item)) {
            invocation.arg(entry);
        }
        for (_, priority) in items {
            invocation.arg(level(*priority));
        }
        let requeued = match self.run(&invocation).await? {
            Value::Int(n) => n >= 0,
            other => return Err(unexpected("requeue_dead", &other)),
        };
        self.filed(orchestrator_id).await;
        Ok(requeued)
    }

    async fn claim_due(&self, now_ms: i64, lease_until_ms: i64, limit: usize) -> StoreResult<Vec<String>> {
        let reply = self
            .run(self.scripts.claim_due.key(self.keys.pending()).arg(now_ms).arg(lease_until_ms).arg(limit))
            .await?;
        match &reply {
            Value::Array(ids) => Ok(texts(ids)),
            other => Err(unexpected("claim_due", other)),
        }
    }

    async fn inspect(&self, orchestrator_id: &str) -> StoreResult<QueueInspection> {
        let k = &self.keys;
        let mut invocation = self.scripts.inspect.key(k.session(orchestrator_id));
        invocation.key(k.key(Key::Sessions, orchestrator_id)).key(k.key(Key::SessionRecords, orchestrator_id));
        for queue in k.queues(orchestrator_id) {
            invocation.key(queue);
        }
        invocation.key(k.receipts(orchestrator_id)).key(k.dead(orchestrator_id));
        type Reply = (
            Option<String>,
            Vec<(String, f64)>,
            std::collections::HashMap<String, String>,
            u64,
            Option<Vec<u8>>,
            u64,
            Option<Vec<u8>>,
            u64,
            Option<Vec<u8>>,
            u64,
            u64,
        );
        let mut connection = self.connection()?;
        let reply: Reply = match invocation.invoke_async(&mut connection).await {
            Ok(reply) => reply,
            Err(error) if error.to_string().contains("WRONGTYPE") => {
                return Err(self.wrong_type(&mut connection, orchestrator_id).await.unwrap_or_else(|| store_error(error)));
            }
            Err(error) => return Err(self.checked::<()>(Err(error)).unwrap_err()),
        };
        let (primary, expiries, records, high, high_head, normal, normal_head, low, low_head, pending_receipts, dead_letters) = reply;
        let sessions = expiries
            .into_iter()
            .rev()
            .filter_map(|(id, expires)| records.get(&id).map(|raw| (raw.clone(), expires as i64)))
            .collect();
        Ok(QueueInspection {
            primary,
            sessions,
            lengths: [high, normal, low],
            heads: [high_head, normal_head, low_head],
            pending_receipts,
            dead_letters,
        })
    }

    async fn daemon_list_lengths(&self, daemon_ids: &[String]) -> StoreResult<Vec<u64>> {
        if daemon_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut connection = self.connection()?;
        if self.keys.is_cluster() {
            return self.lengths_apart(daemon_ids).await;
        }
        let mut pipeline = redis::pipe();
        for daemon_id in daemon_ids {
            pipeline.llen(self.keys.daemon_events(daemon_id));
        }
        self.checked(pipeline.query_async(&mut connection).await)
    }

    async fn queued_orchestrators(&self) -> StoreResult<Vec<String>> {
        let mut found = std::collections::BTreeSet::new();
        for level in Priority::LEVELS {
            let key = Key::queue_of(level);
            // The key name up to the id (on a cluster, up to its brace).
            let start = self.keys.key(key, "");
            let start = start.trim_end_matches("{}");
            let open = if self.keys.is_cluster() { "{" } else { "" };
            for name in self.scan_all(&format!("{}{open}*", glob_escape(start))).await? {
                if let Some(id) = self.keys.parse(key, &String::from_utf8_lossy(&name)) {
                    found.insert(id.to_owned());
                }
            }
        }
        Ok(found.into_iter().collect())
    }

    async fn read_daemon_events(&self, daemon_id: &str, max: usize) -> StoreResult<Vec<String>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let mut connection = self.connection()?;
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
        let mut invocation = self.scripts.acknowledge_events.key(self.keys.daemon_events(daemon_id));
        for id in event_ids {
            invocation.arg(id);
        }
        let reply = self.run(&invocation).await?;
        int(&reply).ok_or_else(|| unexpected("acknowledge_events", &reply))
    }

    fn id_problem(&self, id: &str) -> Option<String> {
        if self.keys.is_cluster() { super::keys::cluster_id_problem(id) } else { None }
    }

    async fn maintain(&self, now_ms: i64) {
        if self.keys.is_cluster() {
            self.sweep_if_due(now_ms).await;
        }
    }

    fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::Release);
        self.connection.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(pipe) = &self.pipe {
            pipe.shut();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::BroadcastCopy;

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
        };
        let info = "redis://127.0.0.1:1".into_connection_info().unwrap();
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
        let StoreError(message) = store_error(refused.into());
        assert!(message.starts_with("TLS certificate verification failed (invalid peer certificate: UnknownIssuer)"), "{message}");
        let StoreError(message) = store_error(std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into());
        assert_eq!(message, "connection refused");
    }

    #[test]
    fn scan_patterns_match_a_prefix_only_as_written() {
        assert_eq!(glob_escape("app:*?[x]\\:"), "app:\\*\\?\\[x\\]\\\\:");
        assert_eq!(glob_escape("plain:"), "plain:");
    }

    #[test]
    fn packed_route_calls_are_byte_for_byte_what_redis_rs_packs() {
        let store = store();
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
            assert_eq!(store.route_packed(requests, kind), store.route_cmd(requests, kind, None).get_packed_command());
        }
        let single = String::from_utf8(store.route_packed(&requests[..1], RouteScript::Single)).unwrap();
        assert!(single.starts_with("*34\r\n$7\r\nEVALSHA\r\n$40\r\n"), "{single}");
        assert!(single.contains("\r\n$25\r\np:routing:session:orch_é\r\n"), "{single}");
        assert!(single.contains("\r\n$15\r\ndaemon:d:events\r\n"), "{single}");
    }
}
