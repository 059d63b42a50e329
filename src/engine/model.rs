//! The records the router reads and writes, serialised to the deployed service's exact JSON:
//! queue items, sessions, delivered markers and daemon events.

use super::error::RouterError;
use super::time::{format_iso, parse_iso, MAX_DATE_MS};
use serde::{Deserialize, Serialize};

pub use crate::store::Priority;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// The part of a Neolith message record the router reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: String,
    pub channel_id: String,
    pub author_id: Option<String>,
    pub content: String,
    /// `createdAt`, in milliseconds since the epoch.
    pub created_at_ms: i64,
    pub priority: Priority,
    /// The W3C `traceparent` of the caller's producer span (OpenTelemetry), carried by the
    /// message's queue item and every daemon event made of it; `None` when nothing traces.
    pub traceparent: Option<String>,
}

impl Message {
    /// Checks what the JS layer cannot: sizes and emptiness.
    pub fn validate(&self, max_content_bytes: u64) -> Result<(), RouterError> {
        non_empty("message.id", &self.id)?;
        non_empty("message.channelId", &self.channel_id)?;
        if self.content.len() as u64 > max_content_bytes {
            return Err(RouterError::invalid(
                "message.content",
                format!("is {} bytes, more than maxMessageBytes ({max_content_bytes})", self.content.len()),
            ));
        }
        valid_date("message.createdAt", self.created_at_ms)
    }
}

/// Refuses an empty string for `field`.
pub fn non_empty(field: &str, value: &str) -> Result<(), RouterError> {
    if value.is_empty() {
        return Err(RouterError::invalid(field, "must be a non-empty string"));
    }
    Ok(())
}

/// Refuses, for `field`, an id that is empty or cannot name keys in `store` (see
/// [`Store::id_problem`](crate::store::Store::id_problem)).
pub fn key_id<S: crate::store::Store>(store: &S, field: &str, id: &str) -> Result<(), RouterError> {
    non_empty(field, id)?;
    match store.id_problem(id) {
        Some(problem) => Err(RouterError::invalid(field, problem)),
        None => Ok(()),
    }
}

/// Refuses a date a JavaScript `Date` could not hold.
pub fn valid_date(field: &str, ms: i64) -> Result<(), RouterError> {
    if ms.abs() > MAX_DATE_MS {
        return Err(RouterError::invalid(field, "must be a valid date"));
    }
    Ok(())
}

/// One entry of `routing:queue:<orchestratorId>`, oldest at the head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueItem {
    pub message_id: String,
    pub channel_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_id: Option<String>,
    #[serde(default)]
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    pub queued_at: String,
    /// Absent for normal messages, so that those keep the deployed shape (and the deployed
    /// service's items, which never carry it, read as normal).
    #[serde(default, skip_serializing_if = "Priority::is_normal")]
    pub priority: Priority,
    /// See [`Message::traceparent`]; absent when nothing traced the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl QueueItem {
    /// The queue item for `message`, queued at `now_ms`.
    pub fn new(message: &Message, now_ms: i64) -> Self {
        QueueItem {
            message_id: message.id.clone(),
            channel_id: message.channel_id.clone(),
            author_id: message.author_id.clone(),
            content: message.content.clone(),
            created_at: Some(format_iso(message.created_at_ms)),
            queued_at: format_iso(now_ms),
            priority: message.priority,
            traceparent: message.traceparent.clone(),
        }
    }
}

/// The value of `routing:session:<orchestratorId>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRecord {
    pub session_id: String,
    pub daemon_id: String,
    pub status: String,
    /// Read as empty when absent (a record another writer made), so that such a session still
    /// routes; the router always writes both dates.
    #[serde(default)]
    pub last_active_at: String,
    #[serde(default)]
    pub created_at: String,
}

/// The session statuses a daemon session may have; only `active` receives messages.
pub const SESSION_STATUSES: [&str; 5] = ["active", "idle", "expired", "revoked", "terminated"];

impl SessionRecord {
    /// Whether messages may be delivered through this session.
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

/// The value of `routing:delivered:<messageId>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveredMarker {
    pub session_id: String,
    pub delivered_at: String,
}

/// A delivered message awaiting its receipt (`routing:inflight:<orchestratorId>`, by message id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InflightRecord {
    /// The raw queue item, kept to redeliver, requeue or dead-letter the message as it was.
    pub item: String,
    /// The daemon event id every delivery of this message carries.
    pub event_id: String,
    /// Deliveries made so far.
    pub attempts: u32,
    /// Position in delivery order (ms of the first delivery × 1000 + place in its batch).
    pub order: i64,
    pub session_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// An entry of `routing:dead:<orchestratorId>`: a message that was never acknowledged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// The raw queue item.
    pub item: String,
    pub attempts: u32,
    pub last_error: String,
    pub dead_lettered_at: String,
}

/// What a daemon reads from `daemon:events:<daemonId>` and `daemon:<daemonId>:events`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonEvent<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub daemon_id: &'a str,
    pub orchestrator_id: &'a str,
    pub payload: EventPayload<'a>,
    pub timestamp: &'a str,
    pub requires_ack: bool,
    /// [`Priority::value`]: higher is more important.
    pub priority: u8,
    /// The W3C `traceparent` of the message's producer span, when it was traced: a field the
    /// deployed service never wrote, absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<&'a str>,
}

/// The message a daemon event carries.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventPayload<'a> {
    pub message_id: &'a str,
    pub channel_id: &'a str,
    pub content: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<&'a str>,
}

impl<'a> DaemonEvent<'a> {
    /// The `message.received` event for a queued (or about to be queued) item.
    pub fn for_item(id: &'a str, item: &'a QueueItem, daemon_id: &'a str, orchestrator_id: &'a str, now_iso: &'a str) -> Self {
        DaemonEvent {
            id,
            kind: "message.received",
            daemon_id,
            orchestrator_id,
            payload: EventPayload {
                message_id: &item.message_id,
                channel_id: &item.channel_id,
                content: &item.content,
                author_id: item.author_id.as_deref(),
                timestamp: item.created_at.as_deref(),
            },
            timestamp: now_iso,
            requires_ack: true,
            priority: item.priority.value(),
            traceparent: item.traceparent.as_deref(),
        }
    }
}

/// A daemon event id, `evt_<ms since epoch>_<8 hex>`: the hex part starts at a random value per
/// process and counts up, so ids never repeat within a process and rarely across processes.
pub fn new_event_id(now_ms: i64) -> String {
    static BASE: OnceLock<u32> = OnceLock::new();
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let base = *BASE.get_or_init(|| RandomState::new().build_hasher().finish() as u32);
    let n = base.wrapping_add(COUNTER.fetch_add(1, Ordering::Relaxed));
    format!("evt_{now_ms}_{n:08x}")
}

/// Serialises a record; serde_json cannot fail on these plain structs.
pub fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("records serialise")
}

/// A queue entry read back.
pub(super) enum Classified {
    /// Deliverable: the item and when it was queued.
    Live(Box<(QueueItem, i64)>),
    Expired(String),
    Invalid(String),
}

/// The `messageId` of a raw queue entry, or empty if it has none.
pub(super) fn message_id_of(raw: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(raw)
        .ok()
        .and_then(|v| v.get("messageId").and_then(|id| id.as_str()).map(str::to_owned))
        .unwrap_or_default()
}

impl Classified {
    /// Reads a raw queue entry at `now` and tells whether it is still deliverable (queued less
    /// than `ttl_ms` ago).
    pub(super) fn of(raw: &[u8], now: i64, ttl_ms: i64) -> Classified {
        let item: QueueItem = match serde_json::from_slice(raw) {
            Ok(item) => item,
            Err(_) => return Classified::Invalid(message_id_of(raw)),
        };
        match parse_iso(&item.queued_at) {
            None => Classified::Invalid(item.message_id),
            Some(queued) if queued + ttl_ms <= now => Classified::Expired(item.message_id),
            Some(queued) => Classified::Live(Box::new((item, queued))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> Message {
        Message {
            id: "msg_1".into(),
            channel_id: "chan_1".into(),
            author_id: Some("user_1".into()),
            content: "Hello \"orchestrator\"\n".into(),
            created_at_ms: 1_795_271_171_123,
            priority: Priority::Normal,
            traceparent: None,
        }
    }

    #[test]
    fn a_traced_message_carries_its_traceparent_last_in_its_queue_item_and_events() {
        let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let item = QueueItem::new(&Message { traceparent: Some(traceparent.into()), ..message() }, 1_795_271_172_000);
        assert!(to_json(&item).ends_with(&format!(r#","queuedAt":"2026-11-21T14:26:12.000Z","traceparent":"{traceparent}"}}"#)));
        let back: QueueItem = serde_json::from_str(&to_json(&item)).unwrap();
        assert_eq!(back.traceparent.as_deref(), Some(traceparent));
        let event = to_json(&DaemonEvent::for_item("e", &back, "d", "o", "t"));
        assert!(event.ends_with(&format!(r#""requiresAck":true,"priority":2,"traceparent":"{traceparent}"}}"#)), "{event}");
    }

    #[test]
    fn queue_items_have_the_deployed_shape_and_key_order() {
        let item = QueueItem::new(&message(), 1_795_271_172_000);
        assert_eq!(
            to_json(&item),
            r#"{"messageId":"msg_1","channelId":"chan_1","authorId":"user_1","content":"Hello \"orchestrator\"\n","createdAt":"2026-11-21T14:26:11.123Z","queuedAt":"2026-11-21T14:26:12.000Z"}"#
        );
        let back: QueueItem = serde_json::from_str(&to_json(&item)).unwrap();
        assert_eq!(back, item);
    }

    #[test]
    fn daemon_events_have_the_deployed_shape_and_key_order() {
        let item = QueueItem::new(&message(), 1_795_271_172_000);
        let event = DaemonEvent::for_item("evt_1_0000abcd", &item, "daemon_1", "orch_1", "2026-11-21T14:26:12.000Z");
        assert_eq!(
            to_json(&event),
            r#"{"id":"evt_1_0000abcd","type":"message.received","daemonId":"daemon_1","orchestratorId":"orch_1","payload":{"messageId":"msg_1","channelId":"chan_1","content":"Hello \"orchestrator\"\n","authorId":"user_1","timestamp":"2026-11-21T14:26:11.123Z"},"timestamp":"2026-11-21T14:26:12.000Z","requiresAck":true,"priority":2}"#
        );
    }

    #[test]
    fn priorities_travel_in_items_and_events_and_deployed_items_read_as_normal() {
        let mut m = message();
        m.priority = Priority::High;
        let item = QueueItem::new(&m, 1_795_271_172_000);
        let json = to_json(&item);
        assert!(json.ends_with(r#","queuedAt":"2026-11-21T14:26:12.000Z","priority":"high"}"#), "{json}");
        assert_eq!(serde_json::from_str::<QueueItem>(&json).unwrap().priority, Priority::High);
        let event = to_json(&DaemonEvent::for_item("e", &item, "d", "o", "t"));
        assert!(event.ends_with(r#""requiresAck":true,"priority":3}"#), "{event}");
        let deployed = r#"{"messageId":"m","channelId":"c","content":"x","queuedAt":"2026-11-21T14:26:12.000Z"}"#;
        assert_eq!(serde_json::from_str::<QueueItem>(deployed).unwrap().priority, Priority::Normal);
        assert_eq!(Priority::LEVELS.map(Priority::value), [3, 2, 1]);
    }

    #[test]
    fn sessions_and_markers_serialise_in_the_deployed_key_order() {
        let session = SessionRecord {
            session_id: "s".into(),
            daemon_id: "d".into(),
            status: "active".into(),
            last_active_at: "2026-01-01T00:00:00.000Z".into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
        };
        assert_eq!(
            to_json(&session),
            r#"{"sessionId":"s","daemonId":"d","status":"active","lastActiveAt":"2026-01-01T00:00:00.000Z","createdAt":"2026-01-01T00:00:00.000Z"}"#
        );
        let marker = DeliveredMarker { session_id: "s".into(), delivered_at: "2026-01-01T00:00:00.000Z".into() };
        assert_eq!(to_json(&marker), r#"{"sessionId":"s","deliveredAt":"2026-01-01T00:00:00.000Z"}"#);
    }

    #[test]
    fn event_ids_follow_the_daemon_format_and_do_not_repeat() {
        let ids: std::collections::HashSet<String> = (0..10_000).map(|_| new_event_id(42)).collect();
        assert_eq!(ids.len(), 10_000);
        let id = ids.iter().next().unwrap();
        assert!(id.starts_with("evt_42_") && id.len() == "evt_42_".len() + 8, "{id}");
    }

    #[test]
    fn validation_names_the_field() {
        let mut m = message();
        m.content = "x".repeat(11);
        assert_eq!(m.validate(10).unwrap_err(), RouterError::invalid("message.content", "is 11 bytes, more than maxMessageBytes (10)"));
        assert!(message().validate(10_000).is_ok());
        let mut m = message();
        m.id.clear();
        assert!(matches!(m.validate(100), Err(RouterError::InvalidArgument { field, .. }) if field == "message.id"));
    }
}
