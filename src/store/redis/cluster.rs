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

use super::calls::{Invocation, ROUTE_BATCH};
use super::replies;
use super::scripts::RouteScript;
use super::transport::Client;
use super::{Key, Keys, RedisStore};
use crate::store::{RouteReply, RouteRequest, StoreError, StoreLimits, StoreResult};
use futures_util::future::join_all;
use redis::{ConnectionInfo, Value};
use std::collections::HashMap;
use std::time::Duration;

/// The keys and argument a delivering step takes last on a cluster (see lib/cluster.lua).
pub(super) struct Extras {
    pub seq_key: String,
    pub due_key: String,
    pub args: String,
}

/// How many outbox entries one move reads (lib/cluster.lua's `cluster_reply` reads as many).
const MOVE_BATCH: usize = 500;

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
        let connection = self.connection().await?;
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
        let Value::Array(mut parts) = wrapped else { return Err(StoreError::unexpected("a cluster step", &wrapped)) };
        if parts.len() < 3 {
            return Err(StoreError::unexpected("a cluster step", Value::Array(parts)));
        }
        let rest = parts.split_off(1);
        let reply = parts.pop().expect("one part");
        let due = replies::text(&rest[0]).filter(|due| !due.is_empty());
        let version = replies::text(&rest[1]).filter(|version| !version.is_empty());
        let mut moves = Vec::new();
        for pair in rest[2..].chunks(2) {
            let (Some(key), Some(Value::Array(entries))) = (replies::text(&pair[0]), pair.get(1)) else { continue };
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
        let mut connection = self.connection().await?;
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
            let mut invocation = Invocation::of(&self.scripts.push_outbox);
            invocation
                .key(self.keys.daemon_events(daemon_id))
                .key(self.keys.pushed(daemon_id))
                .arg(orchestrator_id)
                .arg(self.keys.daemon_channel(daemon_id))
                .arg(self.limits.daemon_events_ttl_seconds)
                .arg(self.seq_ttl());
            for entry in &entries {
                invocation.arg(entry.as_slice());
            }
            let moved = self.run(&invocation).await?;
            pushed += replies::int(&moved).ok_or_else(|| StoreError::unexpected("push_outbox", &moved))?;
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
    pub(super) async fn copy_due(&self, orchestrator_id: &str, sweep: bool) -> StoreResult<()> {
        let reply = self
            .run(
                Invocation::of(&self.scripts.due_version)
                    .key(self.keys.index(orchestrator_id))
                    .key(self.keys.key(Key::OutboxSeq, orchestrator_id))
                    .arg(orchestrator_id)
                    .arg(self.seq_ttl())
                    .arg(if sweep { "read" } else { "" }),
            )
            .await?;
        let Value::Array(parts) = &reply else { return Err(StoreError::unexpected("due_version", &reply)) };
        let due = parts.first().and_then(replies::text).filter(|due| !due.is_empty());
        let version = parts.get(1).and_then(replies::text).ok_or_else(|| StoreError::unexpected("due_version", &reply))?;
        self.file_due(orchestrator_id, due, &version, sweep).await
    }

    /// Files the orchestrator in the index at `due`, or takes it out (`None`), unless a copy of a
    /// newer version got there first; the sweep's copy (`sweep`) leaves a filed one as it is.
    async fn file_due(&self, orchestrator_id: &str, due: Option<String>, version: &str, sweep: bool) -> StoreResult<()> {
        self.run(
            Invocation::of(&self.scripts.file_due)
                .key(self.keys.due_index())
                .key(self.keys.due_versions())
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
        results.into_iter().map(|r| r.unwrap_or_else(|| Err(StoreError::UnexpectedReply("no reply to route".into())))).collect()
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
        let command = self.calls().route_cmd(chunk, kind, extras.as_ref());
        let reply = match self.eval_commands(self.scripts.route(kind).0, &[command]).await {
            Ok(mut replies) => replies.pop().unwrap_or_else(|| Ok(Value::Nil)),
            Err(error) => Err(error),
        };
        let reply = match reply {
            Ok(wrapped) => self.after_step(orchestrator_id, wrapped).await,
            Err(error) => Err(error),
        };
        replies::batch(chunk.len(), reply)
    }


}

