//! Router configuration: the deployed service's defaults, merged field by field with what the
//! caller passes, and validated so that a bad value is refused at construction by name.

use super::error::RouterError;
use crate::store::{Durability, StoreLimits};
use serde_json::{Map, Value};

/// How long a session lives without a heartbeat (the deployed service's 1 h).
pub const SESSION_TTL_SECONDS: u64 = 3600;
/// How long a daemon's event list lives after its last push (the deployed service's 24 h).
pub const DAEMON_EVENTS_TTL_SECONDS: u64 = 86_400;
/// How long a write waits for its replicas by default (`durability.timeoutMs`), in ms: this, or
/// half of `deliveryTimeoutMs` when that is shorter.
pub const DURABILITY_TIMEOUT_MS: u64 = 1000;

/// Retry policy for a delivery that fails against Redis (the seed's exponential backoff).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryConfig {
    /// Attempts in all, the first included (≥ 1).
    pub max_attempts: u32,
    /// Delay after the first failed attempt, in milliseconds.
    pub initial_delay_ms: f64,
    /// Factor applied to the delay after each further failure.
    pub backoff_multiplier: f64,
    /// Ceiling of any one delay, in milliseconds.
    pub max_delay_ms: f64,
}

impl RetryConfig {
    /// Delay to wait after failed attempt `attempt` (1-based): min(initial × multiplier^(n−1), max).
    pub fn delay_ms(&self, attempt: u32) -> u64 {
        let exponent = attempt.saturating_sub(1).min(1024) as i32;
        let delay = self.initial_delay_ms * self.backoff_multiplier.powi(exponent);
        delay.min(self.max_delay_ms).max(0.0) as u64
    }
}

/// The per-orchestrator queue kept while an orchestrator is offline or its daemon is full.
#[derive(Debug, Clone, PartialEq)]
pub struct OfflineQueueConfig {
    /// Most messages one orchestrator's queue holds; the oldest is dropped past it.
    pub max_queue_size: u64,
    /// Lifetime of each queued message, counted from when it was queued.
    pub queue_ttl_seconds: u64,
    /// When false, messages for offline orchestrators fail instead of queuing.
    pub enabled: bool,
}

/// Which living session of an orchestrator with several gets its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRouting {
    /// The most recently active one; the next when it expires.
    Primary,
    /// Every one's daemon, each daemon once.
    Broadcast,
}

/// How an orchestrator's daemon sessions are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionsConfig {
    /// A new session id adds a session instead of replacing the one there was.
    pub multiple: bool,
    pub routing: SessionRouting,
    /// How long a session lives without a heartbeat (the deployed service's 1 h).
    pub ttl_seconds: u64,
}

/// Everything the router is configured with, Redis connection aside.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterConfig {
    pub retry: RetryConfig,
    pub offline_queue: OfflineQueueConfig,
    /// Bound on one attempt against Redis, in milliseconds.
    pub delivery_timeout_ms: u64,
    /// Most events a daemon's event list may hold before messages wait in the queue instead.
    pub daemon_max_events: u64,
    /// How often a running router looks for backlogs it can drain, in milliseconds.
    pub drain_interval_ms: u64,
    /// Largest message content accepted, in UTF-8 bytes.
    pub max_message_bytes: u64,
    /// Prefix put before every Redis key (not before pub/sub channels, as ioredis does).
    pub key_prefix: String,
    /// Delivered messages await `acknowledge` and are redelivered (then dead-lettered) without it.
    pub delivery_receipts: bool,
    /// How long a delivered marker keeps a message id from being pushed to a daemon again.
    pub delivered_marker_ttl_seconds: u64,
    pub sessions: SessionsConfig,
    /// Writes count once this many replicas confirm them (`durability`); `None`: off.
    pub durability: Option<Durability>,
}

impl RouterConfig {
    /// How long a queued message lives (`offlineQueue.queueTtlSeconds`), in ms.
    pub fn queue_ttl_ms(&self) -> i64 {
        self.offline_queue.queue_ttl_seconds as i64 * 1000
    }

    /// Messages go to every living session's daemon.
    pub fn broadcast(&self) -> bool {
        self.sessions.multiple && self.sessions.routing == SessionRouting::Broadcast
    }
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            retry: RetryConfig {
                max_attempts: 3,
                initial_delay_ms: 1000.0,
                backoff_multiplier: 2.0,
                max_delay_ms: 10_000.0,
            },
            offline_queue: OfflineQueueConfig {
                max_queue_size: 100,
                queue_ttl_seconds: 86_400,
                enabled: true,
            },
            delivery_timeout_ms: 5000,
            daemon_max_events: 1000,
            drain_interval_ms: 250,
            max_message_bytes: 1024 * 1024,
            key_prefix: String::new(),
            delivery_receipts: false,
            delivered_marker_ttl_seconds: 3600,
            sessions: SessionsConfig { multiple: false, routing: SessionRouting::Primary, ttl_seconds: SESSION_TTL_SECONDS },
            durability: None,
        }
    }
}

impl RouterConfig {
    /// Merges a JSON configuration object over the defaults; unknown keys (`redis`, `prisma`)
    /// are left to their owners.
    pub fn from_json(value: &Value) -> Result<Self, RouterError> {
        let mut config = RouterConfig::default();
        let root = object(value, "config")?;
        if let Some(retry) = section(root, "retry")? {
            let r = &mut config.retry;
            r.max_attempts = opt_number(retry, "retry.maxAttempts", 1.0, true)?
                .map_or(r.max_attempts, |n| n as u32);
            r.initial_delay_ms = opt_number(retry, "retry.initialDelayMs", 0.0, false)?.unwrap_or(r.initial_delay_ms);
            r.backoff_multiplier =
                opt_number(retry, "retry.backoffMultiplier", 0.0, false)?.unwrap_or(r.backoff_multiplier);
            r.max_delay_ms = opt_number(retry, "retry.maxDelayMs", 0.0, false)?.unwrap_or(r.max_delay_ms);
        }
        if let Some(queue) = section(root, "offlineQueue")? {
            let q = &mut config.offline_queue;
            q.max_queue_size = opt_number(queue, "offlineQueue.maxQueueSize", 1.0, true)?
                .map_or(q.max_queue_size, |n| n as u64);
            q.queue_ttl_seconds = opt_number(queue, "offlineQueue.queueTtlSeconds", 1.0, true)?
                .map_or(q.queue_ttl_seconds, |n| n as u64);
            q.enabled = opt_bool(queue, "offlineQueue.enabled")?.unwrap_or(q.enabled);
        }
        if let Some(daemon) = section(root, "daemonQueue")? {
            config.daemon_max_events = opt_number(daemon, "daemonQueue.maxEvents", 1.0, true)?
                .map_or(config.daemon_max_events, |n| n as u64);
        }
        if let Some(receipts) = section(root, "deliveryReceipts")? {
            config.delivery_receipts = opt_bool(receipts, "deliveryReceipts.enabled")?.unwrap_or(false);
        }
        if let Some(sessions) = section(root, "sessions")? {
            let s = &mut config.sessions;
            s.multiple = opt_bool(sessions, "sessions.multiple")?.unwrap_or(s.multiple);
            s.ttl_seconds = opt_number(sessions, "sessions.ttlSeconds", 1.0, true)?.map_or(s.ttl_seconds, |n| n as u64);
            s.routing = match sessions.get("routing") {
                None | Some(Value::Null) => s.routing,
                Some(Value::String(r)) if r == "primary" => SessionRouting::Primary,
                Some(Value::String(r)) if r == "broadcast" => SessionRouting::Broadcast,
                Some(other) => {
                    return Err(RouterError::invalid("sessions.routing", format!("must be 'primary' or 'broadcast', got {}", kind(other))))
                }
            };
        }
        let top = |name: &str, min: f64, default: u64| -> Result<u64, RouterError> {
            Ok(opt_number(root, name, min, true)?.map_or(default, |n| n as u64))
        };
        config.delivery_timeout_ms = top("deliveryTimeoutMs", 1.0, config.delivery_timeout_ms)?;
        config.drain_interval_ms = top("drainIntervalMs", 1.0, config.drain_interval_ms)?;
        config.max_message_bytes = top("maxMessageBytes", 0.0, config.max_message_bytes)?;
        config.delivered_marker_ttl_seconds = top("deliveredMarkerTtlSeconds", 1.0, config.delivered_marker_ttl_seconds)?;
        if let Some(durability) = section(root, "durability")? {
            let replicas = opt_number(durability, "durability.replicas", 1.0, true)?
                .ok_or_else(|| RouterError::invalid("durability.replicas", "is required: how many replicas must confirm each write"))?;
            let timeout_ms = opt_number(durability, "durability.timeoutMs", 1.0, true)?
                .map_or(DURABILITY_TIMEOUT_MS.min(config.delivery_timeout_ms / 2).max(1), |n| n as u64);
            if timeout_ms >= config.delivery_timeout_ms {
                return Err(RouterError::invalid(
                    "durability.timeoutMs",
                    format!("must be less than deliveryTimeoutMs ({}), which bounds each attempt, its WAIT included; got {timeout_ms}", config.delivery_timeout_ms),
                ));
            }
            config.durability = Some(Durability { replicas: replicas as u64, timeout_ms });
        }
        config.key_prefix = match root.get("keyPrefix") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => return Err(RouterError::invalid("keyPrefix", format!("must be a string, got {}", kind(other)))),
        };
        Ok(config)
    }
}

impl RouterConfig {
    /// The limits and lifetimes the store applies inside its atomic steps.
    pub fn store_limits(&self) -> StoreLimits {
        StoreLimits {
            max_queue_size: self.offline_queue.max_queue_size,
            queue_enabled: self.offline_queue.enabled,
            daemon_max_events: self.daemon_max_events,
            session_ttl_seconds: self.sessions.ttl_seconds,
            multiple_sessions: self.sessions.multiple,
            broadcast: self.broadcast(),
            marker_ttl_seconds: self.delivered_marker_ttl_seconds,
            daemon_events_ttl_seconds: DAEMON_EVENTS_TTL_SECONDS,
            receipts: self.delivery_receipts,
            // Every 20 drain ticks (5 s by default), and never more than once a second.
            sweep_interval_ms: (self.drain_interval_ms * 20).max(1000),
            durability: self.durability,
        }
    }
}

fn object<'a>(value: &'a Value, field: &str) -> Result<&'a Map<String, Value>, RouterError> {
    value
        .as_object()
        .ok_or_else(|| RouterError::invalid(field, format!("must be an object, got {}", kind(value))))
}

fn section<'a>(root: &'a Map<String, Value>, field: &str) -> Result<Option<&'a Map<String, Value>>, RouterError> {
    match root.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => object(value, field).map(Some),
    }
}

/// Reads an optional boolean.
fn opt_bool(obj: &Map<String, Value>, field: &str) -> Result<Option<bool>, RouterError> {
    let key = field.rsplit('.').next().unwrap_or(field);
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(RouterError::invalid(field, format!("must be a boolean, got {}", kind(other)))),
    }
}

/// Reads an optional number that must be finite, at least `min`, and an integer when asked.
fn opt_number(obj: &Map<String, Value>, field: &str, min: f64, integer: bool) -> Result<Option<f64>, RouterError> {
    let key = field.rsplit('.').next().unwrap_or(field);
    let value = match obj.get(key) {
        None => return Ok(None),
        Some(value) => value,
    };
    let number = value
        .as_f64()
        .filter(|n| n.is_finite())
        .ok_or_else(|| RouterError::invalid(field, format!("must be a finite number, got {}", kind(value))))?;
    if integer && number.fract() != 0.0 {
        return Err(RouterError::invalid(field, format!("must be an integer, got {number}")));
    }
    if number < min {
        return Err(RouterError::invalid(field, format!("must be at least {min}, got {number}")));
    }
    Ok(Some(number))
}

fn kind(value: &Value) -> String {
    match value {
        Value::Null => "null (or a non-finite number)".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_are_the_deployed_services() {
        let config = RouterConfig::from_json(&json!({})).unwrap();
        assert_eq!(config, RouterConfig::default());
        assert_eq!(config.retry.max_attempts, 3);
        assert_eq!(config.retry.initial_delay_ms, 1000.0);
        assert_eq!(config.offline_queue.max_queue_size, 100);
        assert_eq!(config.offline_queue.queue_ttl_seconds, 86_400);
        assert_eq!(config.delivery_timeout_ms, 5000);
    }

    #[test]
    fn partial_sections_merge_over_the_defaults() {
        let config = RouterConfig::from_json(&json!({
            "retry": { "maxAttempts": 5, "initialDelayMs": 500 },
            "offlineQueue": { "maxQueueSize": 200, "enabled": true },
            "prisma": { "anything": true },
            "keyPrefix": "app:"
        }))
        .unwrap();
        assert_eq!(config.retry.max_attempts, 5);
        assert_eq!(config.retry.initial_delay_ms, 500.0);
        assert_eq!(config.retry.backoff_multiplier, 2.0);
        assert_eq!(config.retry.max_delay_ms, 10_000.0);
        assert_eq!(config.offline_queue.max_queue_size, 200);
        assert_eq!(config.offline_queue.queue_ttl_seconds, 86_400);
        assert_eq!(config.key_prefix, "app:");
        assert!(!config.delivery_receipts);
        assert!(RouterConfig::from_json(&json!({ "deliveryReceipts": { "enabled": true } })).unwrap().delivery_receipts);
        let sessions = RouterConfig::from_json(&json!({ "sessions": { "multiple": true, "routing": "broadcast" } })).unwrap();
        assert!(sessions.broadcast());
        assert_eq!(sessions.sessions.ttl_seconds, 3600);
        assert!(!RouterConfig::from_json(&json!({ "sessions": { "routing": "broadcast" } })).unwrap().broadcast());
    }

    #[test]
    fn invalid_values_are_refused_by_field_name() {
        let cases = [
            (json!({ "retry": { "maxAttempts": 0 } }), "retry.maxAttempts"),
            (json!({ "retry": { "initialDelayMs": "100" } }), "retry.initialDelayMs"),
            (json!({ "retry": { "maxDelayMs": -1 } }), "retry.maxDelayMs"),
            (json!({ "offlineQueue": { "maxQueueSize": -5 } }), "offlineQueue.maxQueueSize"),
            (json!({ "offlineQueue": { "queueTtlSeconds": 1.5 } }), "offlineQueue.queueTtlSeconds"),
            (json!({ "offlineQueue": { "enabled": "yes" } }), "offlineQueue.enabled"),
            (json!({ "deliveryTimeoutMs": null }), "deliveryTimeoutMs"),
            (json!({ "daemonQueue": { "maxEvents": 0 } }), "daemonQueue.maxEvents"),
            (json!({ "retry": 3 }), "retry"),
            (json!({ "deliveryReceipts": { "enabled": 1 } }), "deliveryReceipts.enabled"),
            (json!({ "sessions": { "multiple": "yes" } }), "sessions.multiple"),
            (json!({ "sessions": { "routing": "all" } }), "sessions.routing"),
            (json!({ "sessions": { "ttlSeconds": 0 } }), "sessions.ttlSeconds"),
        ];
        for (input, field) in cases {
            match RouterConfig::from_json(&input) {
                Err(RouterError::InvalidArgument { field: got, .. }) => assert_eq!(got, field, "{input}"),
                other => panic!("{input} gave {other:?}"),
            }
        }
    }

    #[test]
    fn backoff_follows_the_seed_formula() {
        let retry = RouterConfig::default().retry;
        assert_eq!((1..=6).map(|n| retry.delay_ms(n)).collect::<Vec<_>>(), [1000, 2000, 4000, 8000, 10_000, 10_000]);
        let flat = RetryConfig { max_attempts: 3, initial_delay_ms: 5.0, backoff_multiplier: 1.0, max_delay_ms: 100.0 };
        assert_eq!(flat.delay_ms(10), 5);
        let huge = RetryConfig { backoff_multiplier: 1e300, ..retry };
        assert_eq!(huge.delay_ms(u32::MAX), 10_000);
    }
}
