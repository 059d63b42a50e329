//! Daemon sessions: registering, unregistering and refreshing them (the heartbeat), reading the
//! active one and the daemon's event list (what the memo in `memo` remembers comes from here).

use super::error::RouterError;
use super::events::{Event, EventKind};
use super::model::{self, non_empty, to_json, valid_date, SessionRecord};
use super::slots::Pace;
use super::router::Router;
use super::time::{format_iso, now_ms, parse_iso};
use crate::store::Store;
use std::sync::Arc;

/// A session as `registerSession` receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionInput {
    pub id: String,
    pub daemon_id: String,
    pub status: String,
    pub created_at_ms: i64,
}

/// An active session as `getOrchestratorSession` returns it (dates in ms; `None` if unreadable).
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveSession {
    pub session_id: String,
    pub daemon_id: String,
    pub status: String,
    pub last_active_at_ms: Option<i64>,
    pub created_at_ms: Option<i64>,
}

impl<S: Store> Router<S> {
    /// Stores a daemon session as the orchestrator's primary one (replacing the one there was, or
    /// beside the others with `sessions.multiple`), reports it, then drains the orchestrator's
    /// queue before returning.
    pub async fn register_session(self: &Arc<Self>, orchestrator_id: &str, session: SessionInput) -> Result<(), RouterError> {
        self.key_id("orchestratorId", orchestrator_id)?;
        non_empty("session.id", &session.id)?;
        self.key_id("session.daemonId", &session.daemon_id)?;
        valid_date("session.createdAt", session.created_at_ms)?;
        if !model::SESSION_STATUSES.contains(&session.status.as_str()) {
            return Err(RouterError::invalid("session.status", format!("must be one of {}", model::SESSION_STATUSES.join(", "))));
        }
        self.check_open()?;
        let now = now_ms();
        let record = SessionRecord {
            session_id: session.id,
            daemon_id: session.daemon_id,
            status: session.status,
            last_active_at: format_iso(now),
            created_at: format_iso(session.created_at_ms),
        };
        let queued = self
            .bounded(self.store.register_session(orchestrator_id, &record.session_id, &to_json(&record), now))
            .await
            ?;
        self.memo.remember(orchestrator_id, &record, self.config.broadcast());
        self.emit(EventKind::SessionRegistered, || Event::SessionRegistered {
            orchestrator_id: orchestrator_id.to_owned(),
            session_id: record.session_id.clone(),
        });
        if queued > 0 && record.is_active() {
            // A drain that fails here leaves the backlog queued and due; the ticker retries it.
            let _ = self.drain(orchestrator_id, Pace::HandOff).await;
        }
        Ok(())
    }

    /// Deletes one session of the orchestrator (`Some(id)`: the primary's place goes to the most
    /// recently active other one) or all of them.
    pub async fn unregister_session(self: &Arc<Self>, orchestrator_id: &str, session_id: Option<&str>) -> Result<(), RouterError> {
        self.key_id("orchestratorId", orchestrator_id)?;
        if let Some(id) = session_id {
            non_empty("sessionId", id)?;
        }
        self.check_open()?;
        self.bounded(self.store.unregister_session(orchestrator_id, session_id, now_ms())).await?;
        self.memo.forget(orchestrator_id);
        self.emit(EventKind::SessionUnregistered, || Event::SessionUnregistered {
            orchestrator_id: orchestrator_id.to_owned(),
            session_id: session_id.map(str::to_owned),
        });
        Ok(())
    }

    /// The heartbeat: refreshes an existing session (the primary, or the one named, which becomes
    /// the primary; never recreating one) and starts draining a waiting backlog, without waiting
    /// for it.
    pub async fn touch_session(self: &Arc<Self>, orchestrator_id: &str, session_id: Option<&str>) -> Result<(), RouterError> {
        self.key_id("orchestratorId", orchestrator_id)?;
        if let Some(id) = session_id {
            non_empty("sessionId", id)?;
        }
        self.check_open()?;
        let now = now_ms();
        // The daemon a drain of the backlog would deliver to, as last seen: the heartbeat asks how
        // full its list is (one session per orchestrator; a broadcast drain has several daemons).
        let daemon = if self.config.broadcast() { None } else { self.memo.known(orchestrator_id).map(|known| known.daemon_id) };
        let touched = self.bounded(self.store.touch_session(orchestrator_id, session_id, daemon.as_deref(), &format_iso(now), now)).await?;
        let Some(touched) = touched else {
            self.memo.forget(orchestrator_id);
            return Ok(());
        };
        let active = if self.config.broadcast() {
            // One session's JSON does not tell every broadcast target: the next route learns them.
            self.memo.forget(orchestrator_id);
            serde_json::from_str::<SessionRecord>(&touched.session).is_ok_and(|r| r.is_active())
        } else {
            self.memo.learn(orchestrator_id, &touched.session).is_some()
        };
        // The backlog is drained in the background (a drain already running is woken): a
        // heartbeat never waits for a drain, which a full daemon list may pace for drainIntervalMs.
        // While that list is still full there is nothing a drain could deliver: no look is made
        // (a look on every heartbeat cost the next heartbeat its wait behind it).
        let still_full = touched.daemon_length.is_some_and(|length| length >= self.config.daemon_max_events);
        if touched.queue_length > 0 && active && !still_full {
            self.drain_after_heartbeat(orchestrator_id);
        }
        Ok(())
    }

    /// Up to `max` events of a daemon's event list, oldest first (`readDaemonEvents`: how an
    /// in-process daemon reads what was delivered to it).
    pub async fn read_daemon_events(self: &Arc<Self>, daemon_id: &str, max: usize) -> Result<Vec<String>, RouterError> {
        self.key_id("daemonId", daemon_id)?;
        self.check_open()?;
        self.bounded(self.store.read_daemon_events(daemon_id, max)).await.map_err(RouterError::from)
    }

    /// Removes these events from a daemon's event list (`acknowledgeDaemonEvents`); how many went.
    pub async fn acknowledge_daemon_events(self: &Arc<Self>, daemon_id: &str, event_ids: &[String]) -> Result<u64, RouterError> {
        self.key_id("daemonId", daemon_id)?;
        for id in event_ids {
            non_empty("eventIds[]", id)?;
        }
        self.check_open()?;
        self.bounded(self.store.acknowledge_daemon_events(daemon_id, event_ids)).await.map_err(RouterError::from)
    }

    /// How many messages wait in the orchestrator's queue (`getQueueDepth`).
    pub async fn queue_depth(self: &Arc<Self>, orchestrator_id: &str) -> Result<u64, RouterError> {
        self.key_id("orchestratorId", orchestrator_id)?;
        self.check_open()?;
        let lengths = self.bounded(self.store.queue_lengths(orchestrator_id)).await?;
        Ok(lengths.iter().sum())
    }

    /// The orchestrator's primary session if it is active (`getOrchestratorSession`).
    pub async fn active_session(self: &Arc<Self>, orchestrator_id: &str) -> Result<Option<ActiveSession>, RouterError> {
        let primary = self.sessions_of(orchestrator_id).await?.into_iter().next();
        Ok(primary.filter(|s| s.status == "active"))
    }

    /// The orchestrator's living sessions, whatever their status, the primary first, then the
    /// others, most recently active first (`getOrchestratorSessions`). Unreadable records are left out.
    pub async fn sessions_of(self: &Arc<Self>, orchestrator_id: &str) -> Result<Vec<ActiveSession>, RouterError> {
        self.key_id("orchestratorId", orchestrator_id)?;
        self.check_open()?;
        let raw = self.bounded(self.store.sessions(orchestrator_id, now_ms())).await?;
        Ok(raw
            .iter()
            .filter_map(|raw| serde_json::from_str::<SessionRecord>(raw).ok())
            .map(|r| ActiveSession {
                last_active_at_ms: parse_iso(&r.last_active_at),
                created_at_ms: parse_iso(&r.created_at),
                session_id: r.session_id,
                daemon_id: r.daemon_id,
                status: r.status,
            })
            .collect())
    }
}
