//! What an operator sees inside the store (`orchestrator-router inspect` and `stats`): read-only
//! views built from [`Store::inspect`], with ages and online state worked out.

use super::error::RouterError;
use super::model::{key_id, QueueItem, SessionRecord};
use super::time::parse_iso;
use crate::store::{Priority, QueueInspection, Store};
use serde::Serialize;

/// How many orchestrators `stats` and `overview` inspect at once.
const INSPECT_CONCURRENCY: usize = 32;

/// One session of an orchestrator.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub session_id: String,
    pub daemon_id: String,
    pub status: String,
    pub last_active_at: String,
    /// The one in `routing:session:<orchestratorId>`.
    pub primary: bool,
    /// Events waiting in its daemon's event list.
    pub daemon_events: u64,
}

/// Queue depth by priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Depth {
    pub high: u64,
    pub normal: u64,
    pub low: u64,
    pub total: u64,
}

/// Everything `orchestrator-router inspect <orchestratorId>` shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Inspection {
    pub orchestrator_id: String,
    /// The primary session exists and is active.
    pub online: bool,
    /// The primary first, then the others, most recently active first.
    pub sessions: Vec<SessionView>,
    pub queue: Depth,
    /// When the oldest queued message was queued (ISO-8601), and how long ago, in ms.
    pub oldest_queued_at: Option<String>,
    pub oldest_age_ms: Option<i64>,
    pub pending_receipts: u64,
    pub dead_letters: u64,
}

/// One line of `orchestrator-router stats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStats {
    pub orchestrator_id: String,
    pub online: bool,
    pub queue: Depth,
    pub oldest_age_ms: Option<i64>,
}

/// What `orchestrator-router stats` shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsReport {
    /// Every orchestrator with a queue, deepest first (ties by id).
    pub orchestrators: Vec<QueueStats>,
    /// Orchestrators whose keys could not be read (one holding another type, say), with why.
    pub unreadable: Vec<Unreadable>,
}

/// One orchestrator as the dashboard lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrchestratorRow {
    pub orchestrator_id: String,
    /// The primary session exists and is active.
    pub online: bool,
    /// Living sessions (the primary included).
    pub sessions: u64,
    pub queue: Depth,
    /// How long ago the oldest queued message was queued, in ms.
    pub oldest_age_ms: Option<i64>,
    pub pending_receipts: u64,
    pub dead_letters: u64,
}

/// What the dashboard shows: every orchestrator the store holds anything of.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    /// Deepest queue first, then oldest first (ties by id).
    pub orchestrators: Vec<OrchestratorRow>,
    /// Orchestrators whose keys could not be read, with why.
    pub unreadable: Vec<Unreadable>,
}

/// An orchestrator `stats` or `overview` could not read.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unreadable {
    pub orchestrator_id: String,
    pub error: String,
}

/// Reads one orchestrator's state at `now_ms`, writing nothing.
pub async fn inspect<S: Store>(store: &S, orchestrator_id: &str, now_ms: i64) -> Result<Inspection, RouterError> {
    key_id(store, "orchestratorId", orchestrator_id)?;
    let raw = store.inspect(orchestrator_id).await?;
    let mut sessions = sessions_of(&raw, now_ms);
    let daemons: Vec<String> = sessions.iter().map(|s| s.daemon_id.clone()).collect();
    let lengths = store.daemon_list_lengths(&daemons).await?;
    for (session, length) in sessions.iter_mut().zip(lengths) {
        session.daemon_events = length;
    }
    let oldest = oldest_queued(&raw);
    Ok(Inspection {
        orchestrator_id: orchestrator_id.to_owned(),
        online: sessions.first().is_some_and(|s| s.primary && s.status == "active"),
        sessions,
        queue: depth(&raw),
        oldest_age_ms: oldest.as_ref().map(|(_, ms)| now_ms - ms),
        oldest_queued_at: oldest.map(|(iso, _)| iso),
        pending_receipts: raw.pending_receipts,
        dead_letters: raw.dead_letters,
    })
}

/// Every orchestrator with a queue, deepest first (ties by id), and those that could not be read.
/// Fails only when none could be read (Redis itself is failing, most likely).
pub async fn stats<S: Store>(store: &S, now_ms: i64) -> Result<StatsReport, RouterError> {
    let (read, unreadable) = inspect_each(store, &store.queued_orchestrators().await?).await?;
    let mut rows: Vec<QueueStats> = read
        .into_iter()
        .filter(|(_, raw)| depth(raw).total > 0)
        .map(|(orchestrator_id, raw)| QueueStats {
            online: primary_active(&raw),
            queue: depth(&raw),
            oldest_age_ms: oldest_queued(&raw).map(|(_, ms)| now_ms - ms),
            orchestrator_id,
        })
        .collect();
    rows.sort_by(|a, b| b.queue.total.cmp(&a.queue.total).then_with(|| a.orchestrator_id.cmp(&b.orchestrator_id)));
    Ok(StatsReport { orchestrators: rows, unreadable })
}

/// Every orchestrator the store holds anything of, deepest queue first, then oldest first (ties
/// by id), and those that could not be read. Fails only when none could be read.
pub async fn overview<S: Store>(store: &S, now_ms: i64) -> Result<Overview, RouterError> {
    let (read, unreadable) = inspect_each(store, &store.orchestrators().await?).await?;
    let mut rows: Vec<OrchestratorRow> = read
        .into_iter()
        .map(|(orchestrator_id, raw)| OrchestratorRow {
            online: primary_active(&raw),
            sessions: sessions_of(&raw, now_ms).len() as u64,
            queue: depth(&raw),
            oldest_age_ms: oldest_queued(&raw).map(|(_, ms)| now_ms - ms),
            pending_receipts: raw.pending_receipts,
            dead_letters: raw.dead_letters,
            orchestrator_id,
        })
        // Keys that outlived what they held (a session set whose sessions all expired) hold nothing.
        .filter(|row| row.sessions > 0 || row.queue.total > 0 || row.pending_receipts > 0 || row.dead_letters > 0)
        .collect();
    rows.sort_by(|a, b| {
        (b.queue.total, b.oldest_age_ms.unwrap_or(i64::MIN))
            .cmp(&(a.queue.total, a.oldest_age_ms.unwrap_or(i64::MIN)))
            .then_with(|| a.orchestrator_id.cmp(&b.orchestrator_id))
    });
    Ok(Overview { orchestrators: rows, unreadable })
}

/// Inspects each orchestrator, [`INSPECT_CONCURRENCY`] at a time: what each holds, and those that
/// could not be read (one holding another type, say) with why. Fails only when there were some
/// and none could be read.
async fn inspect_each<S: Store>(store: &S, ids: &[String]) -> Result<(Vec<(String, QueueInspection)>, Vec<Unreadable>), RouterError> {
    let mut read = Vec::with_capacity(ids.len());
    let mut unreadable = Vec::new();
    let mut first_error = None;
    for chunk in ids.chunks(INSPECT_CONCURRENCY) {
        let reads = chunk.iter().map(|id| store.inspect(id));
        for (id, raw) in chunk.iter().zip(futures_util::future::join_all(reads).await) {
            match raw {
                Ok(raw) => read.push((id.clone(), raw)),
                Err(error) => {
                    unreadable.push(Unreadable { orchestrator_id: id.clone(), error: error.to_string() });
                    first_error.get_or_insert(error);
                }
            }
        }
    }
    match first_error {
        Some(error) if read.is_empty() => Err(error.into()),
        _ => Ok((read, unreadable)),
    }
}

/// Whether the primary session as stored is active.
fn primary_active(raw: &QueueInspection) -> bool {
    raw.primary.as_deref().and_then(|p| serde_json::from_str::<SessionRecord>(p).ok()).is_some_and(|r| r.is_active())
}

fn depth(raw: &QueueInspection) -> Depth {
    Depth::of(raw.lengths)
}

impl Depth {
    /// The depth of queue levels of these lengths (high, normal, low).
    pub fn of([high, normal, low]: [u64; 3]) -> Self {
        Depth { high, normal, low, total: high + normal + low }
    }
}

/// The sessions: the primary (as stored) first, then the living others, most recently active first.
fn sessions_of(raw: &QueueInspection, now_ms: i64) -> Vec<SessionView> {
    let view = |json: &str, primary: bool| {
        serde_json::from_str::<SessionRecord>(json).ok().map(|r| SessionView {
            session_id: r.session_id,
            daemon_id: r.daemon_id,
            status: r.status,
            last_active_at: r.last_active_at,
            primary,
            daemon_events: 0,
        })
    };
    let mut sessions: Vec<SessionView> = raw.primary.as_deref().and_then(|p| view(p, true)).into_iter().collect();
    for (json, expires_ms) in &raw.sessions {
        if *expires_ms <= now_ms {
            continue;
        }
        if let Some(session) = view(json, false) {
            if sessions.first().is_none_or(|p| p.session_id != session.session_id) {
                sessions.push(session);
            }
        }
    }
    sessions
}

/// When the oldest queued message (the earliest of the levels' heads) was queued.
fn oldest_queued(raw: &QueueInspection) -> Option<(String, i64)> {
    Priority::LEVELS
        .iter()
        .filter_map(|level| raw.heads[level.rank()].as_deref())
        .filter_map(|head| serde_json::from_slice::<QueueItem>(head).ok())
        .filter_map(|item| parse_iso(&item.queued_at).map(|ms| (item.queued_at, ms)))
        .min_by_key(|(_, ms)| *ms)
}
