//! The session memo: the session a router believes is current for each orchestrator, so that a
//! route takes one round trip; the store says when it changed (a stale route), and the memo learns.

use super::model::SessionRecord;
use std::collections::HashMap;
use std::sync::Mutex;

/// Sessions remembered for routing before the memo is cleared (it refills from Redis).
const SESSION_MEMO_LIMIT: usize = 100_000;

/// The session a router believes is current for an orchestrator (the primary), and with
/// broadcast routing the other sessions messages go to.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct KnownSession {
    pub session_id: String,
    pub daemon_id: String,
    /// Broadcast: the other target sessions, as (session id, daemon id), in the store's order.
    pub copies: Vec<(String, String)>,
}

impl KnownSession {
    /// The other target sessions as the store takes them.
    pub(super) fn copy_refs(&self) -> Vec<(&str, &str)> {
        self.copies.iter().map(|(s, d)| (s.as_str(), d.as_str())).collect()
    }

    /// Every target session id, the primary first.
    pub(super) fn session_ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.session_id.as_str()).chain(self.copies.iter().map(|(s, _)| s.as_str()))
    }
}

/// What a router believes each orchestrator's current session is.
#[derive(Default)]
pub(super) struct SessionMemo {
    sessions: Mutex<HashMap<String, KnownSession>>,
}

impl SessionMemo {
    /// The session believed current, if any.
    pub(super) fn known(&self, orchestrator_id: &str) -> Option<KnownSession> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).get(orchestrator_id).cloned()
    }

    /// Remembers a registered session as the one messages go to (not with `broadcast` routing,
    /// where one session does not tell every target).
    pub(super) fn remember(&self, orchestrator_id: &str, record: &SessionRecord, broadcast: bool) {
        if !record.is_active() || broadcast {
            self.forget(orchestrator_id);
            return;
        }
        self.keep(orchestrator_id, KnownSession { session_id: record.session_id.clone(), daemon_id: record.daemon_id.clone(), copies: Vec::new() });
    }

    fn keep(&self, orchestrator_id: &str, known: KnownSession) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if sessions.len() >= SESSION_MEMO_LIMIT {
            sessions.clear();
        }
        sessions.insert(orchestrator_id.to_owned(), known);
    }

    pub(super) fn forget(&self, orchestrator_id: &str) {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).remove(orchestrator_id);
    }

    /// Forgets every orchestrator (the router closed).
    pub(super) fn clear(&self) {
        *self.sessions.lock().unwrap_or_else(|e| e.into_inner()) = HashMap::new();
    }

    /// Remembers the session in raw JSON if it is active, or with broadcast routing the target
    /// sessions in a JSON array of sessions (the primary first); returns it.
    pub(super) fn learn(&self, orchestrator_id: &str, raw: &str) -> Option<KnownSession> {
        let known = if raw.trim_start().starts_with('[') {
            let records = serde_json::from_str::<Vec<serde_json::Value>>(raw).unwrap_or_default();
            let mut active = records
                .into_iter()
                .filter_map(|record| serde_json::from_value::<SessionRecord>(record).ok())
                .filter(SessionRecord::is_active);
            active.next().map(|primary| KnownSession {
                session_id: primary.session_id,
                daemon_id: primary.daemon_id,
                copies: active.map(|r| (r.session_id, r.daemon_id)).collect(),
            })
        } else {
            serde_json::from_str::<SessionRecord>(raw)
                .ok()
                .filter(SessionRecord::is_active)
                .map(|r| KnownSession { session_id: r.session_id, daemon_id: r.daemon_id, copies: Vec::new() })
        };
        match known {
            Some(known) => {
                self.keep(orchestrator_id, known.clone());
                Some(known)
            }
            None => {
                self.forget(orchestrator_id);
                None
            }
        }
    }
}
