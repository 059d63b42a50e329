//! Which session of an orchestrator messages go to: the fields read from stored session JSON,
//! the primary (promoting another when it expires or is not active), the broadcast targets, and
//! whether the session a step expects is still current.

use super::state::Orchestrator;
use super::MemoryStore;
use serde::Deserialize;
use std::collections::HashSet;

impl Orchestrator {
    /// The primary session's JSON, promoting the most recently active living active one when the
    /// stored primary expired or is not active (`current_session` in lib/sessions.lua: a primary whose
    /// key is gone while its entry lives was deleted, and goes too).
    pub(super) fn current_session(&mut self, now: i64) -> Option<String> {
        let raw = self.session.as_ref().map(|(json, _)| json.clone());
        if raw.as_deref().is_some_and(|r| active(r).is_some()) {
            return raw;
        }
        self.promote(now, raw.is_none()).or(raw)
    }

    /// Makes the most recently active living active session the primary and returns it
    /// (`promote_session` in lib/sessions.lua); with `skip_first`, removes the first one instead.
    pub(super) fn promote(&mut self, now: i64, mut skip_first: bool) -> Option<String> {
        let mut living: Vec<(String, String, i64)> =
            self.sessions.iter().filter(|(_, (_, expiry))| *expiry > now).map(|(id, (json, e))| (id.clone(), json.clone(), *e)).collect();
        living.sort_by(|a, b| (b.2, &b.0).cmp(&(a.2, &a.0)));
        for (id, json, expiry) in living {
            if active(&json).is_none() {
                continue;
            }
            if skip_first {
                self.sessions.remove(&id);
                skip_first = false;
            } else {
                self.session = Some((json.clone(), expiry));
                return Some(json);
            }
        }
        None
    }

    /// The other living sessions, most recently active first (ties as Redis orders them).
    pub(super) fn others_by_recency(&self, now: i64, primary_id: Option<&str>) -> Vec<String> {
        let mut living: Vec<(&String, &(String, i64))> =
            self.sessions.iter().filter(|(id, (_, expiry))| *expiry > now && Some(id.as_str()) != primary_id).collect();
        living.sort_by(|a, b| (b.1 .1, b.0).cmp(&(a.1 .1, a.0)));
        living.into_iter().map(|(_, (json, _))| json.clone()).collect()
    }

    /// With broadcast routing: the primary (if active) and every other living active session,
    /// one per daemon (`broadcast_sessions` in lib/broadcast.lua).
    pub(super) fn broadcast_sessions(&mut self, now: i64) -> Vec<String> {
        let Some(primary) = self.current_session(now) else { return Vec::new() };
        let Some(first) = active(&primary) else { return Vec::new() };
        let mut daemons: HashSet<String> = HashSet::from([first.daemon_id.clone()]);
        let mut targets = vec![primary];
        for json in self.others_by_recency(now, Some(&first.session_id)) {
            if let Some(session) = active(&json) {
                if daemons.insert(session.daemon_id) {
                    targets.push(json);
                }
            }
        }
        targets
    }
}

/// The fields of a session record the store reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SessionFields {
    pub(super) session_id: String,
    pub(super) daemon_id: String,
    pub(super) status: String,
}

/// The session when the JSON is an active session.
pub(super) fn active(raw: &str) -> Option<SessionFields> {
    serde_json::from_str::<SessionFields>(raw).ok().filter(|s| s.status == "active")
}

pub(super) fn session_id_of(raw: &str) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Id {
        session_id: String,
    }
    serde_json::from_str::<Id>(raw).ok().map(|s| s.session_id)
}

/// Whether the JSON is an active session with these ids.
pub(super) fn session_is(raw: Option<&str>, session_id: &str, daemon_id: &str) -> bool {
    raw.and_then(active).is_some_and(|s| s.session_id == session_id && s.daemon_id == daemon_id)
}

/// Whether the broadcast sessions are exactly the primary and `copies`, in any order (a heartbeat
/// that makes another session the primary changes the order, not the targets).
pub(super) fn targets_are(sessions: &[String], session_id: &str, daemon_id: &str, copies: &[(&str, &str)]) -> bool {
    let wanted: HashSet<(&str, &str)> = std::iter::once((session_id, daemon_id)).chain(copies.iter().copied()).collect();
    sessions.len() == copies.len() + 1
        && sessions.iter().all(|raw| active(raw).is_some_and(|s| wanted.contains(&(s.session_id.as_str(), s.daemon_id.as_str()))))
}

pub(super) fn sessions_reply(sessions: &[String]) -> String {
    format!("[{}]", sessions.join(","))
}

/// The session JSON with `lastActiveAt` set to `now_iso` (as touch_session.lua's gsub does).
pub(super) fn with_last_active_at(raw: &str, now_iso: &str) -> String {
    const FIELD: &str = "\"lastActiveAt\":\"";
    let Some(start) = raw.find(FIELD).map(|i| i + FIELD.len()) else { return raw.to_owned() };
    let Some(len) = raw[start..].find('"') else { return raw.to_owned() };
    [&raw[..start], now_iso, &raw[start + len..]].concat()
}

impl MemoryStore {
    /// The session a step or a snapshot reads: every target's as a JSON array with broadcast
    /// routing, else the primary's.
    pub(super) fn read_session(&self, o: &mut Orchestrator, now: i64) -> Option<String> {
        if self.limits.broadcast {
            Some(sessions_reply(&o.broadcast_sessions(now)))
        } else {
            o.current_session(now)
        }
    }

    /// Whether a step's expected session (and broadcast copies) is still current, else the
    /// stale reply's session (`None` inside `Err` when there is none).
    pub(super) fn check_session(&self, o: &mut Orchestrator, expected: (&str, &str), copies: &[(&str, &str)], now: i64) -> Result<(), Option<String>> {
        if self.limits.broadcast {
            let sessions = o.broadcast_sessions(now);
            if targets_are(&sessions, expected.0, expected.1, copies) {
                return Ok(());
            }
            return Err(Some(sessions_reply(&sessions)));
        }
        let raw = o.session.as_ref().map(|(json, _)| json.clone());
        if session_is(raw.as_deref(), expected.0, expected.1) {
            Ok(())
        } else {
            Err(raw)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touching_rewrites_only_last_active_at() {
        let raw = r#"{"sessionId":"s","daemonId":"d","status":"active","lastActiveAt":"2020-01-01T00:00:00.000Z","createdAt":"x"}"#;
        assert_eq!(
            with_last_active_at(raw, "2026-11-27T00:00:00.000Z"),
            r#"{"sessionId":"s","daemonId":"d","status":"active","lastActiveAt":"2026-11-27T00:00:00.000Z","createdAt":"x"}"#
        );
        assert_eq!(with_last_active_at("{}", "t"), "{}");
    }
}
