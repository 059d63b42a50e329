//! The cluster store's upkeep: the sweep, which finds outboxes and due times a failed step left
//! behind (see docs/cluster.md) and finishes their work, scanning every master a bounded part at a
//! time; and the scans the operator's listing uses.

use super::calls::Invocation;
use super::{Connection, Key, RedisStore};
use crate::store::{StoreError, StoreResult};
use futures_util::future::join_all;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::Value;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

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
    /// The address of every master (from `CLUSTER SLOTS`).
    async fn masters(&self, connection: &mut redis::cluster_async::ClusterConnection) -> StoreResult<Vec<(String, u16)>> {
        let slots = connection
            .route_command(redis::cmd("CLUSTER").arg("SLOTS").clone(), RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random))
            .await
            .map_err(StoreError::from)?;
        let mut masters: Vec<(String, u16)> = Vec::new();
        if let Value::Array(ranges) = slots {
            for range in ranges {
                let Value::Array(parts) = range else { continue };
                let Some(Value::Array(master)) = parts.get(2) else { continue };
                let host = master.first().and_then(super::replies::text);
                let port = master.get(1).and_then(super::replies::int);
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
        let mut connection = self.connection().await?;
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

    /// Every orchestrator with a key of one of `kinds`, sorted, found in one walk of the keyspace
    /// however many kinds are asked for (see [`Keys::scan_pattern`]).
    pub(super) async fn orchestrators_with(&self, kinds: &[Key]) -> StoreResult<Vec<String>> {
        let mut found = std::collections::BTreeSet::new();
        for name in self.scan_all(&self.keys.scan_pattern(kinds)).await? {
            if let Some(id) = self.keys.orchestrator_of(kinds, &String::from_utf8_lossy(&name)) {
                found.insert(id.to_owned());
            }
        }
        Ok(found.into_iter().collect())
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
        let lock = self.run(Invocation::of(&self.scripts.sweep_lock).key(self.keys.sweep_lock()).arg(&self.sweep_token).arg(hold)).await;
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
        let Ok(mut connection) = self.connection().await else { return };
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
        let patterns = [Key::Outbox, Key::Due].map(|key| self.keys.pattern(key));
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
