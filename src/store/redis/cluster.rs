//! The store on a Redis Cluster. Every key of one orchestrator carries its id as a hash tag
//! ([`Keys::cluster`]), so each step of the single-server design still runs as one script in one
//! slot. Two things cross slots: a delivery into a daemon's event list, which a step puts in the
//! orchestrator's outbox for that daemon and the router then moves, and the index of orchestrators
//! due a look (`routing:pending`), into which the router copies each step's due time.
//!
//! The protocol (the outbox and its sequence numbers, why a delivery cut at any point is neither
//! lost nor doubled, the index's versions, the sweep) is described once, in `docs/cluster.md`.
//! Here: [`RedisStore::after_step`] does what follows a step, within a quarter of the request
//! timeout; [`RedisStore::flush_outbox`] moves an outbox (`push_outbox.lua` in the list's slot,
//! then `LREM` of exactly the entries moved); `file_due` copies a due time into the index
//! (`file_due.lua`); [`RedisStore::sweep`] is the store's upkeep, run by the holder of the sweep lock.

use super::{parse_batch_reply, store_error, Client, Connection, Key, Keys, RedisStore, RouteScript, ROUTE_BATCH};
use crate::store::{RouteReply, RouteRequest, StoreError, StoreLimits, StoreResult};
use futures_util::future::join_all;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{ConnectionInfo, Value};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The keys and argument a delivering step takes last on a cluster (see lib/cluster.lua).
pub(super) struct Extras {
    pub seq_key: String,
    pub due_key: String,
    pub args: String,
}

/// How many outbox entries one move reads (lib/cluster.lua's `cluster_reply` reads as many).
const MOVE_BATCH: usize = 500;

/// Where this router's sweep stands: per master and key pattern, the SCAN cursor and the COUNT
/// its pages ask for; the masters last found; how many parts ran (the next part starts one
/// master-and-pattern further).
#[derive(Default)]
pub(super) struct Sweep {
    places: HashMap<String, (u64, u32)>,
    masters: Vec<Option<(String, u16)>>,
    parts: usize,
}

/// The COUNT of a sweep's SCAN pages: at most this, halved after a page whose work did not finish
/// in its share (which is then scanned again), doubled back after one that did.
const SWEEP_COUNT: u32 = 1000;
const SWEEP_COUNT_LEAST: u32 = 10;

impl RedisStore {
    /// A store on the Redis Cluster whose nodes include `nodes` (the others are discovered).
    pub fn cluster(
        nodes: Vec<ConnectionInfo>,
        username: Option<&str>,
        password: Option<&str>,
        keys: Keys,
        limits: StoreLimits,
        timeout: Duration,
    ) -> Result<Self, String> {
        if nodes.is_empty() {
            return Err("cluster must name at least one node".into());
        }
        let mut builder = redis::cluster::ClusterClientBuilder::new(nodes).connection_timeout(timeout).response_timeout(timeout);
        if let Some(username) = username {
            builder = builder.username(username);
        }
        if let Some(password) = password {
            builder = builder.password(password);
        }
        let client = builder.build().map_err(|e| e.to_string())?;
        Ok(Self::with_client(Client::Cluster(client), keys, limits, timeout, None))
    }

    /// What a delivering step takes besides its own keys and arguments, `None` on one server:
    /// the orchestrator's sequence key and the lengths of the target daemons' lists, read now.
    /// With `file`, the step answers the orchestrator's due time even if it left it unchanged
    /// (a drain or receipt step, whose claim the index copy must replace).
    pub(super) async fn extras(&self, orchestrator_id: &str, daemon_ids: &[&str], file: bool) -> StoreResult<Option<Extras>> {
        if !self.keys.is_cluster() {
            return Ok(None);
        }
        let lengths = self.lengths_apart(daemon_ids).await?;
        let mut by_outbox = serde_json::Map::new();
        for (daemon_id, length) in daemon_ids.iter().zip(lengths) {
            by_outbox.insert(self.keys.target(orchestrator_id, daemon_id), length.into());
        }
        let args =
            serde_json::json!({ "orchestrator": orchestrator_id, "lengths": by_outbox, "seqTtl": self.seq_ttl(), "file": file }).to_string();
        Ok(Some(Extras { seq_key: self.keys.key(Key::OutboxSeq, orchestrator_id), due_key: self.keys.index(orchestrator_id), args }))
    }

    /// The lengths of these daemons' event lists, which are in different slots: one command
    /// each, side by side.
    pub(super) async fn lengths_apart(&self, daemon_ids: &[impl AsRef<str>]) -> StoreResult<Vec<u64>> {
        let connection = self.connection()?;
        let lengths = join_all(daemon_ids.iter().map(|daemon_id| {
            let mut connection = connection.clone();
            let key = self.keys.daemon_events(daemon_id.as_ref());
            async move { redis::cmd("LLEN").arg(key).query_async::<u64>(&mut connection).await }
        }))
        .await;
        lengths.into_iter().map(|length| self.checked(length)).collect()
    }

    /// How long sequence numbers and what was moved are remembered: twice an outbox's life, so
    /// that no entry outlives the record of its number.
    fn seq_ttl(&self) -> u64 {
        2 * self.limits.daemon_events_ttl_seconds
    }

    /// How long a step's caller waits for what follows the step (the move, the index copy): a
    /// quarter of the request timeout, so that a slow daemon master does not make a committed
    /// step look failed. What is not done by then is left to the next move or the sweep.
    fn follow_up_budget(&self) -> Duration {
        self.timeout / 4
    }

    /// What follows a delivering step (its reply wrapped by lib/cluster.lua's `cluster_reply`):
    /// moves the outboxes that hold entries into their daemons' lists, copies the orchestrator's
    /// due time into the index when the step answered it with a version (it changed it, or was
    /// asked to file it), and returns the step's own reply. What is
    /// not done within the follow-up budget, or fails, is left to the next move or the sweep.
    pub(super) async fn after_step(&self, orchestrator_id: &str, wrapped: Value) -> StoreResult<Value> {
        let Value::Array(mut parts) = wrapped else { return Err(super::unexpected("a cluster step", &wrapped)) };
        if parts.len() < 3 {
            return Err(super::unexpected("a cluster step", &Value::Array(parts)));
        }
        let rest = parts.split_off(1);
        let reply = parts.pop().expect("one part");
        let due = super::text(&rest[0]).filter(|due| !due.is_empty());
        let version = super::text(&rest[1]).filter(|version| !version.is_empty());
        let mut moves = Vec::new();
        for pair in rest[2..].chunks(2) {
            let (Some(key), Some(Value::Array(entries))) = (super::text(&pair[0]), pair.get(1)) else { continue };
            let entries: Vec<Vec<u8>> = entries.iter().filter_map(|e| if let Value::BulkString(b) = e { Some(b.clone()) } else { None }).collect();
            moves.push((key, entries));
        }
        let moves = join_all(moves.into_iter().map(|(key, entries)| async move {
            let Some((orchestrator_id, daemon_id)) = self.keys.parse_outbox(&key) else { return };
            let _ = self.flush_outbox(orchestrator_id, daemon_id, Some(entries)).await;
        }));
        let copy = async {
            if let Some(version) = version {
                let _ = self.file_due(orchestrator_id, due, &version, false).await;
            }
        };
        let _ = tokio::time::timeout(self.follow_up_budget(), futures_util::future::join(moves, copy)).await;
        Ok(reply)
    }

    /// Moves one outbox into the daemon's list and channel, oldest first, each entry once (see
    /// the module docs), starting with `first` (its oldest entries, as a step read them) when
    /// given; returns how many events were pushed.
    pub(super) async fn flush_outbox(&self, orchestrator_id: &str, daemon_id: &str, first: Option<Vec<Vec<u8>>>) -> StoreResult<u64> {
        let mut connection = self.connection()?;
        let outbox = self.keys.target(orchestrator_id, daemon_id);
        let mut pushed = 0;
        let mut next = first;
        loop {
            let entries = match next.take() {
                Some(entries) => entries,
                None => {
                    // The oldest entries are at the tail (steps push at the head).
                    let read = redis::cmd("LRANGE").arg(&outbox).arg(-(MOVE_BATCH as isize)).arg(-1).query_async(&mut connection).await;
                    let mut entries: Vec<Vec<u8>> = self.checked(read)?;
                    entries.reverse();
                    entries
                }
            };
            if entries.is_empty() {
                return Ok(pushed);
            }
            let mut invocation = self.scripts.push_outbox.key(self.keys.daemon_events(daemon_id));
            invocation
                .key(self.keys.pushed(daemon_id))
                .arg(orchestrator_id)
                .arg(self.keys.daemon_channel(daemon_id))
                .arg(self.limits.daemon_events_ttl_seconds)
                .arg(self.seq_ttl());
            for entry in &entries {
                invocation.arg(entry.as_slice());
            }
            let moved = self.run(&invocation).await?;
            pushed += super::int(&moved).ok_or_else(|| super::unexpected("push_outbox", &moved))?;
            // Each entry is unique (its sequence number): remove exactly those read, wherever
            // other steps pushed new ones meanwhile.
            let mut removal = redis::pipe();
            for entry in &entries {
                removal.cmd("LREM").arg(&outbox).arg(-1).arg(entry.as_slice()).ignore();
            }
            self.checked(removal.query_async::<()>(&mut connection).await)?;
            if entries.len() < MOVE_BATCH {
                return Ok(pushed);
            }
        }
    }

    /// Copies when the orchestrator is due a look (its `routing:due:{orch}`, with a new version)
    /// into the index that routers claim from, after a step that does not answer it. A failure is
    /// left to the sweep.
    pub(super) async fn sync_due(&self, orchestrator_id: &str) {
        let _ = tokio::time::timeout(self.follow_up_budget(), self.copy_due(orchestrator_id, false)).await;
    }

    /// Copies the orchestrator's due time into the index: with a new version after a step, or
    /// (`sweep`) with the last version given, only adding or taking out (see file_due.lua).
    async fn copy_due(&self, orchestrator_id: &str, sweep: bool) -> StoreResult<()> {
        let reply = self
            .run(
                self.scripts
                    .due_version
                    .key(self.keys.index(orchestrator_id))
                    .key(self.keys.key(Key::OutboxSeq, orchestrator_id))
                    .arg(orchestrator_id)
                    .arg(self.seq_ttl())
                    .arg(if sweep { "read" } else { "" }),
            )
            .await?;
        let Value::Array(parts) = &reply else { return Err(super::unexpected("due_version", &reply)) };
        let due = parts.first().and_then(super::text).filter(|due| !due.is_empty());
        let version = parts.get(1).and_then(super::text).ok_or_else(|| super::unexpected("due_version", &reply))?;
        self.file_due(orchestrator_id, due, &version, sweep).await
    }

    /// Files the orchestrator in the index at `due`, or takes it out (`None`), unless a copy of a
    /// newer version got there first; the sweep's copy (`sweep`) leaves a filed one as it is.
    async fn file_due(&self, orchestrator_id: &str, due: Option<String>, version: &str, sweep: bool) -> StoreResult<()> {
        self.run(
            self.scripts
                .file_due
                .key(self.keys.pending())
                .key(self.keys.pending_versions())
                .arg(orchestrator_id)
                .arg(due.unwrap_or_default())
                .arg(version)
                .arg(if sweep { "sweep" } else { "" }),
        )
        .await
        .map(drop)
    }

    /// Routes on a cluster: one call per orchestrator (its keys share a slot), each orchestrator's
    /// messages in order and the orchestrators side by side; then moves what was delivered and
    /// copies the due times. One result per request, in order.
    pub(super) async fn cluster_routes(&self, requests: &[RouteRequest<'_>], kind: RouteScript) -> Vec<StoreResult<RouteReply>> {
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut group_of: HashMap<&str, usize> = HashMap::new();
        for (i, request) in requests.iter().enumerate() {
            let group = *group_of.entry(request.orchestrator_id).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[group].push(i);
        }
        let answers = join_all(groups.iter().map(|indices| async move {
            let mine: Vec<RouteRequest<'_>> = indices.iter().map(|&i| requests[i].clone()).collect();
            let mut replies = Vec::with_capacity(mine.len());
            for chunk in mine.chunks(ROUTE_BATCH) {
                replies.extend(self.cluster_route_chunk(chunk, kind).await);
            }
            replies
        }))
        .await;
        let mut results: Vec<Option<StoreResult<RouteReply>>> = (0..requests.len()).map(|_| None).collect();
        for (indices, replies) in groups.iter().zip(answers) {
            for (&i, reply) in indices.iter().zip(replies) {
                results[i] = Some(reply);
            }
        }
        results.into_iter().map(|r| r.unwrap_or_else(|| Err(StoreError("no reply to route".into())))).collect()
    }

    /// One route call for messages of one orchestrator.
    async fn cluster_route_chunk(&self, chunk: &[RouteRequest<'_>], kind: RouteScript) -> Vec<StoreResult<RouteReply>> {
        let orchestrator_id = chunk[0].orchestrator_id;
        let mut daemons: Vec<&str> = Vec::new();
        for r in chunk.iter().filter(|r| !r.queue_only) {
            daemons.push(r.daemon_id);
            daemons.extend(r.copies.iter().map(|c| c.daemon_id.as_str()));
        }
        daemons.retain(|d| !d.is_empty());
        daemons.sort_unstable();
        daemons.dedup();
        let extras = match self.extras(orchestrator_id, &daemons, false).await {
            Ok(extras) => extras,
            Err(error) => return vec![Err(error); chunk.len()],
        };
        let command = self.route_cmd(chunk, kind, extras.as_ref());
        let reply = match self.eval_pipeline(self.route_script(kind).0, vec![command]).await {
            Ok(mut replies) => replies.pop().unwrap_or_else(|| Ok(Value::Nil)).map_err(store_error),
            Err(error) => Err(error),
        };
        let reply = match reply {
            Ok(wrapped) => self.after_step(orchestrator_id, wrapped).await,
            Err(error) => Err(error),
        };
        parse_batch_reply(chunk.len(), reply)
    }

    /// The address of every master (from `CLUSTER SLOTS`).
    async fn masters(&self, connection: &mut redis::cluster_async::ClusterConnection) -> StoreResult<Vec<(String, u16)>> {
        let slots = connection
            .route_command(redis::cmd("CLUSTER").arg("SLOTS").clone(), RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random))
            .await
            .map_err(store_error)?;
        let mut masters: Vec<(String, u16)> = Vec::new();
        if let Value::Array(ranges) = slots {
            for range in ranges {
                let Value::Array(parts) = range else { continue };
                let Some(Value::Array(master)) = parts.get(2) else { continue };
                let host = master.first().and_then(super::text);
                let port = master.get(1).and_then(super::int);
                if let (Some(host), Some(port)) = (host, port) {
                    let address = (host, port as u16);
                    if !masters.contains(&address) {
                        masters.push(address);
                    }
                }
            }
        }
        Ok(masters)
    }

    /// One page of `SCAN cursor MATCH pattern` on `node` (a master's address; `None` on one server).
    async fn scan_page(&self, connection: &mut Connection, node: Option<&(String, u16)>, cursor: u64, pattern: &str, count: u32) -> StoreResult<(u64, Vec<Vec<u8>>)> {
        let mut scan = redis::cmd("SCAN");
        scan.arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(count);
        let page = match (connection, node) {
            (Connection::Cluster(cluster), Some((host, port))) => cluster
                .route_command(scan, RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host: host.clone(), port: *port }))
                .await
                .and_then(|v| redis::from_redis_value::<(u64, Vec<Vec<u8>>)>(v).map_err(Into::into)),
            (connection, _) => scan.query_async(connection).await,
        };
        self.checked(page)
    }

    /// The masters to scan: every master of the cluster, or the one server (`None`).
    async fn scan_nodes(&self, connection: &mut Connection) -> StoreResult<Vec<Option<(String, u16)>>> {
        Ok(match connection {
            Connection::Cluster(cluster) => self.masters(cluster).await?.into_iter().map(Some).collect(),
            Connection::Single(_) => vec![None],
        })
    }

    /// Every key matching `pattern` (a SCAN pattern) on every master of the cluster, or on the
    /// one server.
    pub(super) async fn scan_all(&self, pattern: &str) -> StoreResult<Vec<Vec<u8>>> {
        let mut connection = self.connection()?;
        let mut found = Vec::new();
        for node in self.scan_nodes(&mut connection).await? {
            let mut cursor = 0u64;
            loop {
                let (next, keys) = self.scan_page(&mut connection, node.as_ref(), cursor, pattern, SWEEP_COUNT).await?;
                found.extend(keys);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(found)
    }

    /// Runs a part of the sweep if it is this router's turn: at most once per `sweep_interval_ms`
    /// here, and only on the router that holds the sweep lock (it keeps it while it lives, so its
    /// scan goes on where it stopped). A part works for at most half the interval (and 2 s).
    pub(super) async fn sweep_if_due(&self, now_ms: i64) {
        let interval = self.limits.sweep_interval_ms as i64;
        let next = self.next_sweep_ms.load(Ordering::Acquire);
        if now_ms < next || self.next_sweep_ms.compare_exchange(next, now_ms + interval, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return;
        }
        // Held across a few turns, and across a tick slowed by a claim that waits for its timeout.
        let hold = 3 * interval + 2 * self.timeout.as_millis() as i64;
        let lock = self.run(self.scripts.sweep_lock.key(self.keys.sweep_lock()).arg(&self.sweep_token).arg(hold)).await;
        if matches!(lock, Ok(Value::Int(1))) {
            let budget = Duration::from_millis((interval as u64 / 2).min(2000));
            self.sweep(std::time::Instant::now() + budget).await;
        }
    }

    /// One part of the sweep: moves outboxes left with entries and copies due times into the
    /// index, page by page of each master's scan, from where the last part stopped. Each master and
    /// pattern gets its share of the time until `deadline`, whatever another one does (a master that
    /// does not answer only loses its own share), and the next part starts one place further.
    /// Keys whose work failed or ran out of time are left for the next pass.
    pub(super) async fn sweep(&self, deadline: std::time::Instant) {
        use std::time::Instant;
        let Ok(mut connection) = self.connection() else { return };
        // The masters, from one node's slot map; if that node is slow to answer, the last list.
        let budget = deadline.saturating_duration_since(Instant::now());
        let found = tokio::time::timeout(budget / 10, self.scan_nodes(&mut connection)).await;
        let nodes = {
            let mut state = self.sweep.lock().unwrap_or_else(|e| e.into_inner());
            if let Ok(Ok(nodes)) = found {
                state.masters = nodes;
            }
            state.parts += 1;
            state.masters.clone()
        };
        let start = self.sweep.lock().unwrap_or_else(|e| e.into_inner()).parts;
        let patterns = [Key::Outbox, Key::Due].map(|key| format!("{}{{*", super::glob_escape(self.keys.key(key, "").trim_end_matches("{}"))));
        let places: Vec<(Option<(String, u16)>, usize)> = nodes.into_iter().flat_map(|node| [(node.clone(), 0), (node, 1)]).collect();
        for turn in 0..places.len() {
            let (node, p) = &places[(start + turn) % places.len()];
            let now = Instant::now();
            if now >= deadline || self.closed.load(Ordering::Acquire) {
                return;
            }
            let share_end = now + (deadline - now) / (places.len() - turn) as u32;
            let place = format!("{node:?}{}", patterns[*p]);
            let (mut cursor, mut count) = self.sweep.lock().unwrap_or_else(|e| e.into_inner()).places.get(&place).copied().unwrap_or((0, SWEEP_COUNT));
            loop {
                let page = tokio::time::timeout_at(share_end.into(), self.scan_page(&mut connection, node.as_ref(), cursor, &patterns[*p], count)).await;
                let Ok(Ok((next, keys))) = page else { break };
                let keys: Vec<String> = keys.iter().map(|key| String::from_utf8_lossy(key).into_owned()).collect();
                let work = async {
                    if *p == 0 {
                        join_all(keys.iter().filter_map(|key| self.keys.parse_outbox(key)).map(|(o, d)| async move {
                            let _ = self.flush_outbox(o, d, None).await;
                        }))
                        .await;
                    } else {
                        join_all(keys.iter().filter_map(|key| self.keys.parse(Key::Due, key)).map(|o| async move {
                            let _ = self.copy_due(o, true).await;
                        }))
                        .await;
                    }
                };
                // A page whose work did not finish in the share is scanned again, in smaller pages,
                // down to a few keys a page; a page that small that still does not finish (its keys'
                // masters do not answer) is left for the next pass.
                let finished = tokio::time::timeout_at(share_end.into(), work).await.is_ok();
                if finished || count <= SWEEP_COUNT_LEAST {
                    cursor = next;
                }
                count = if finished { (count * 2).min(SWEEP_COUNT) } else { (count / 2).max(SWEEP_COUNT_LEAST) };
                self.sweep.lock().unwrap_or_else(|e| e.into_inner()).places.insert(place.clone(), (cursor, count));
                if (finished && cursor == 0) || Instant::now() >= share_end || self.closed.load(Ordering::Acquire) {
                    break;
                }
            }
        }
    }
}

/// A token that names this router in the sweep lock.
pub(super) fn token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    format!("{}:{:016x}", std::process::id(), hasher.finish())
}

/// The nodes of a cluster target (`{ cluster: [url, ...], username?, password? }`), or `None`
/// when `redis` names one server.
pub fn cluster_target(redis: &serde_json::Value) -> Option<Result<ClusterTarget, String>> {
    let nodes = redis.get("cluster")?;
    let parse = || {
        let urls = nodes.as_array().filter(|n| !n.is_empty()).ok_or("cluster must be a non-empty array of node URLs")?;
        let nodes = urls
            .iter()
            .enumerate()
            .map(|(i, url)| {
                let url = url.as_str().ok_or_else(|| format!("cluster[{i}] must be a URL"))?;
                redis::IntoConnectionInfo::into_connection_info(url)
                    .map_err(|e| format!("cluster[{i}] is not a valid Redis URL ({:?}): {e}", super::redact_url(url)))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let text = |name: &str| redis.get(name).and_then(serde_json::Value::as_str).map(str::to_owned);
        Ok(ClusterTarget { nodes, username: text("username"), password: text("password") })
    };
    Some(parse())
}

/// Where a cluster store connects.
pub struct ClusterTarget {
    pub nodes: Vec<ConnectionInfo>,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl ClusterTarget {
    /// The store on this cluster, with `keys` (see [`Keys::cluster`]).
    pub fn store(self, keys: Keys, limits: StoreLimits, timeout: Duration) -> Result<RedisStore, String> {
        RedisStore::cluster(self.nodes, self.username.as_deref(), self.password.as_deref(), keys, limits, timeout)
    }
}
