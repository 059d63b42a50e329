//! The events the router reports, and the one sink they flow up through.

use serde::Serialize;

/// Why a message left the system without being delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// The orchestrator's queue was at `maxQueueSize`; the oldest message made room.
    QueueFull,
    /// The message stayed queued longer than `queueTtlSeconds`.
    Expired,
    /// The message service no longer has the message.
    Deleted,
    /// A queue entry that is not a readable queue item (written by something else).
    Invalid,
    /// The message service's copy (an edit) is larger than `maxMessageBytes`.
    TooLarge,
}

/// Why a drain left messages it could deliver queued, for a later look to try again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Deferred {
    /// The presence service does not say the orchestrator is ONLINE.
    Offline,
    /// The message service (or the database) could not re-read the messages to deliver.
    LookupFailed {
        /// What went wrong, naming the call that failed.
        error: String,
    },
}

/// One event, with its fields; serialised as `{ type, ...fields }` in camelCase.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum Event {
    #[serde(rename = "message.routed", rename_all = "camelCase")]
    MessageRouted { message_id: String, orchestrator_id: String, session_id: String, attempts: u32 },
    #[serde(rename = "message.routing_failed", rename_all = "camelCase")]
    MessageRoutingFailed { message_id: String, orchestrator_id: String, attempts: u32, error: String },
    #[serde(rename = "message.routing_error", rename_all = "camelCase")]
    MessageRoutingError { message_id: String, orchestrator_id: String, error: String },
    #[serde(rename = "message.queued", rename_all = "camelCase")]
    MessageQueued { message_id: String, orchestrator_id: String, queue_size: u64 },
    #[serde(rename = "message.dropped", rename_all = "camelCase")]
    MessageDropped { message_id: String, orchestrator_id: String, reason: DropReason },
    #[serde(rename = "message.acknowledged", rename_all = "camelCase")]
    MessageAcknowledged { message_id: String, orchestrator_id: String },
    #[serde(rename = "message.redelivered", rename_all = "camelCase")]
    MessageRedelivered { message_id: String, orchestrator_id: String, session_id: String, attempts: u32 },
    #[serde(rename = "message.dead_lettered", rename_all = "camelCase")]
    MessageDeadLettered { message_id: String, orchestrator_id: String, attempts: u32, error: String },
    #[serde(rename = "session.registered", rename_all = "camelCase")]
    SessionRegistered { orchestrator_id: String, session_id: String },
    #[serde(rename = "session.unregistered", rename_all = "camelCase")]
    SessionUnregistered {
        orchestrator_id: String,
        /// The one session removed; absent when every session of the orchestrator was.
        #[serde(skip_serializing_if = "Option::is_none")]
        session_id: Option<String>,
    },
    #[serde(rename = "queue.processing_started", rename_all = "camelCase")]
    QueueProcessingStarted { orchestrator_id: String, queue_size: u64 },
    #[serde(rename = "queue.processing_completed", rename_all = "camelCase")]
    QueueProcessingCompleted {
        orchestrator_id: String,
        processed: u64,
        /// Messages the drain dropped (the deployed service's name for them: `failed`).
        #[serde(rename = "failed")]
        dropped: u64,
        /// Set when the drain stopped with messages it could not deliver yet.
        #[serde(skip_serializing_if = "Option::is_none")]
        deferred: Option<Deferred>,
    },
    /// A drain failed against Redis (the backlog stays queued, as it was); it is tried again in
    /// `retry_in_ms`, the retry policy's delay after `attempts` failures in a row.
    #[serde(rename = "queue.processing_failed", rename_all = "camelCase")]
    QueueProcessingFailed { orchestrator_id: String, error: String, attempts: u32, retry_in_ms: u64 },
    /// A drain step delivered messages to a daemon (or a drain failed: `error`): what its
    /// OpenTelemetry span says. Internal: the JS layer makes the span, and never emits it.
    #[serde(rename = "trace.drain", rename_all = "camelCase")]
    TraceDrain {
        orchestrator_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        daemon_id: Option<String>,
        /// When the step was planned (ms since the epoch); the event's timestamp is its end.
        started_at: i64,
        delivered: u64,
        /// The producer spans of the messages delivered that were traced.
        traceparents: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A message delivered again for want of a receipt: what its span says (internal, as above).
    #[serde(rename = "trace.redelivery", rename_all = "camelCase")]
    TraceRedelivery {
        message_id: String,
        orchestrator_id: String,
        daemon_id: String,
        attempts: u32,
        started_at: i64,
        /// The producer span of the message, which its first delivery carried.
        #[serde(skip_serializing_if = "Option::is_none")]
        traceparent: Option<String>,
    },
}

/// Which event, without its fields: what a listener subscribes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    MessageRouted,
    MessageRoutingFailed,
    MessageRoutingError,
    MessageQueued,
    MessageDropped,
    SessionRegistered,
    SessionUnregistered,
    QueueProcessingStarted,
    QueueProcessingCompleted,
    MessageAcknowledged,
    MessageRedelivered,
    MessageDeadLettered,
    QueueProcessingFailed,
    TraceDrain,
    TraceRedelivery,
}

impl EventKind {
    /// Every kind, in bit order.
    pub const ALL: [EventKind; 13] = [
        EventKind::MessageRouted,
        EventKind::MessageRoutingFailed,
        EventKind::MessageRoutingError,
        EventKind::MessageQueued,
        EventKind::MessageDropped,
        EventKind::SessionRegistered,
        EventKind::SessionUnregistered,
        EventKind::QueueProcessingStarted,
        EventKind::QueueProcessingCompleted,
        EventKind::MessageAcknowledged,
        EventKind::MessageRedelivered,
        EventKind::MessageDeadLettered,
        EventKind::QueueProcessingFailed,
    ];

    /// The internal kinds: asked for by the JS layer while a tracer provider is registered, and
    /// turned into spans there, never emitted to listeners (not in [`EventKind::ALL`]).
    pub const INTERNAL: [EventKind; 2] = [EventKind::TraceDrain, EventKind::TraceRedelivery];

    /// The event name listeners use.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::MessageRouted => "message.routed",
            EventKind::MessageRoutingFailed => "message.routing_failed",
            EventKind::MessageRoutingError => "message.routing_error",
            EventKind::MessageQueued => "message.queued",
            EventKind::MessageDropped => "message.dropped",
            EventKind::SessionRegistered => "session.registered",
            EventKind::SessionUnregistered => "session.unregistered",
            EventKind::QueueProcessingStarted => "queue.processing_started",
            EventKind::QueueProcessingCompleted => "queue.processing_completed",
            EventKind::MessageAcknowledged => "message.acknowledged",
            EventKind::MessageRedelivered => "message.redelivered",
            EventKind::MessageDeadLettered => "message.dead_lettered",
            EventKind::QueueProcessingFailed => "queue.processing_failed",
            EventKind::TraceDrain => "trace.drain",
            EventKind::TraceRedelivery => "trace.redelivery",
        }
    }

    /// The kind named `name`, if any.
    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().chain(EventKind::INTERNAL).find(|k| k.name() == name)
    }

    /// This kind's bit in a listener mask.
    pub fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl Event {
    /// Which kind of event this is.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::MessageRouted { .. } => EventKind::MessageRouted,
            Event::MessageRoutingFailed { .. } => EventKind::MessageRoutingFailed,
            Event::MessageRoutingError { .. } => EventKind::MessageRoutingError,
            Event::MessageQueued { .. } => EventKind::MessageQueued,
            Event::MessageDropped { .. } => EventKind::MessageDropped,
            Event::SessionRegistered { .. } => EventKind::SessionRegistered,
            Event::SessionUnregistered { .. } => EventKind::SessionUnregistered,
            Event::QueueProcessingStarted { .. } => EventKind::QueueProcessingStarted,
            Event::QueueProcessingCompleted { .. } => EventKind::QueueProcessingCompleted,
            Event::MessageAcknowledged { .. } => EventKind::MessageAcknowledged,
            Event::MessageRedelivered { .. } => EventKind::MessageRedelivered,
            Event::MessageDeadLettered { .. } => EventKind::MessageDeadLettered,
            Event::QueueProcessingFailed { .. } => EventKind::QueueProcessingFailed,
            Event::TraceDrain { .. } => EventKind::TraceDrain,
            Event::TraceRedelivery { .. } => EventKind::TraceRedelivery,
        }
    }
}

/// An event with the time it happened, as it crosses to listeners.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stamped {
    #[serde(flatten)]
    pub event: Event,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
}

/// Where the engine sends events; implementations decide how they reach listeners.
pub trait EventSink: Send + Sync + 'static {
    /// Whether anyone listens to `kind`; events nobody listens to are never built.
    fn wants(&self, kind: EventKind) -> bool;
    /// Hands over one event that someone wants.
    fn emit(&self, event: Stamped);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_with_type_fields_and_timestamp() {
        let stamped = Stamped {
            event: Event::MessageDropped { message_id: "m".into(), orchestrator_id: "o".into(), reason: DropReason::QueueFull },
            timestamp: 7,
        };
        assert_eq!(
            serde_json::to_string(&stamped).unwrap(),
            r#"{"type":"message.dropped","messageId":"m","orchestratorId":"o","reason":"queue_full","timestamp":7}"#
        );
    }

    #[test]
    fn a_deferred_drain_names_its_reason() {
        let completed = |deferred| {
            let event = Event::QueueProcessingCompleted { orchestrator_id: "o".into(), processed: 1, dropped: 0, deferred };
            serde_json::to_string(&Stamped { event, timestamp: 7 }).unwrap()
        };
        assert_eq!(
            completed(None),
            r#"{"type":"queue.processing_completed","orchestratorId":"o","processed":1,"failed":0,"timestamp":7}"#
        );
        assert_eq!(
            completed(Some(Deferred::LookupFailed { error: "boom".into() })),
            r#"{"type":"queue.processing_completed","orchestratorId":"o","processed":1,"failed":0,"deferred":{"reason":"lookup_failed","error":"boom"},"timestamp":7}"#
        );
        assert!(completed(Some(Deferred::Offline)).contains(r#""deferred":{"reason":"offline"}"#));
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in EventKind::ALL.into_iter().chain(EventKind::INTERNAL) {
            assert_eq!(EventKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(EventKind::from_name("message.routd"), None);
    }

    #[test]
    fn each_kind_is_named_as_its_events_are_typed() {
        let (m, o, s) = (String::from("m"), String::from("o"), String::from("s"));
        let one_of_each = [
            Event::MessageRouted { message_id: m.clone(), orchestrator_id: o.clone(), session_id: s.clone(), attempts: 1 },
            Event::MessageRoutingFailed { message_id: m.clone(), orchestrator_id: o.clone(), attempts: 1, error: s.clone() },
            Event::MessageRoutingError { message_id: m.clone(), orchestrator_id: o.clone(), error: s.clone() },
            Event::MessageQueued { message_id: m.clone(), orchestrator_id: o.clone(), queue_size: 1 },
            Event::MessageDropped { message_id: m.clone(), orchestrator_id: o.clone(), reason: DropReason::Expired },
            Event::SessionRegistered { orchestrator_id: o.clone(), session_id: s.clone() },
            Event::SessionUnregistered { orchestrator_id: o.clone(), session_id: None },
            Event::QueueProcessingStarted { orchestrator_id: o.clone(), queue_size: 1 },
            Event::QueueProcessingCompleted { orchestrator_id: o.clone(), processed: 1, dropped: 0, deferred: None },
            Event::MessageAcknowledged { message_id: m.clone(), orchestrator_id: o.clone() },
            Event::MessageRedelivered { message_id: m.clone(), orchestrator_id: o.clone(), session_id: s.clone(), attempts: 2 },
            Event::MessageDeadLettered { message_id: m.clone(), orchestrator_id: o.clone(), attempts: 3, error: s.clone() },
            Event::QueueProcessingFailed { orchestrator_id: o, error: s, attempts: 1, retry_in_ms: 1 },
        ];
        let kinds: Vec<EventKind> = one_of_each.iter().map(Event::kind).collect();
        assert_eq!(kinds, EventKind::ALL);
        for event in one_of_each {
            assert_eq!(serde_json::to_value(&event).unwrap()["type"], event.kind().name());
        }
    }
}
