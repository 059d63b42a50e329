//! The engine's behaviour over the in-process store, driven only through the calls the binding
//! makes; shared here: a router over a fresh memory store, a sink that records every event, and
//! the few steps every test takes (register a session, route, read a daemon's events).

mod drain;
mod inspect;
mod receipts;
mod route;

use super::config::RouterConfig;
use super::events::{Event, EventKind, EventSink, Stamped};
use super::model::{Message, Priority};
use super::time::now_ms;
use super::{BatchItem, RouteOutcome, Router, SessionInput};
use crate::store::memory::MemoryStore;
use serde_json::Value;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// How long a test waits for what the router does in the background before it fails.
const PATIENCE: Duration = Duration::from_secs(5);

/// An [`EventSink`] that keeps every event, for a test to read or wait on.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<Stamped>>,
    added: Notify,
}

impl EventSink for Recorder {
    fn wants(&self, _: EventKind) -> bool {
        true
    }

    fn emit(&self, event: Stamped) {
        self.events.lock().unwrap().push(event);
        self.added.notify_waiters();
    }
}

/// A router over a memory store no other test uses, and what it reported.
struct Harness {
    router: Arc<Router<MemoryStore>>,
    recorder: Arc<Recorder>,
}

/// A router configured with `config` (the JS options object), over a fresh memory store.
fn harness(config: Value) -> Harness {
    static STORES: AtomicU32 = AtomicU32::new(0);
    let config = RouterConfig::from_json(&config).expect("a valid configuration");
    let name = format!("engine-tests-{}", STORES.fetch_add(1, Ordering::Relaxed));
    let store = MemoryStore::open(&name, &config.key_prefix, config.store_limits());
    let recorder = Arc::new(Recorder::default());
    let router = Router::new(store, config, Arc::clone(&recorder) as Arc<dyn EventSink>);
    Harness { router, recorder }
}

/// A normal-priority message with this id.
fn message(id: &str) -> Message {
    message_at(id, Priority::Normal)
}

fn message_at(id: &str, priority: Priority) -> Message {
    Message {
        id: id.to_owned(),
        channel_id: "channel-1".to_owned(),
        author_id: Some("author-1".to_owned()),
        content: format!("the text of {id}"),
        created_at_ms: now_ms(),
        priority,
        traceparent: None,
    }
}

impl Harness {
    /// Registers an active session of `orchestrator_id` on `daemon_id` (and drains its queue).
    async fn register(&self, orchestrator_id: &str, session_id: &str, daemon_id: &str) {
        let session = SessionInput { id: session_id.to_owned(), daemon_id: daemon_id.to_owned(), status: "active".to_owned(), created_at_ms: now_ms() };
        self.router.register_session(orchestrator_id, session).await.expect("the session registers");
    }

    /// Routes one message as `routeMessage` does.
    async fn route(&self, orchestrator_id: &str, message: Message) -> RouteOutcome {
        let item = BatchItem { message, orchestrator_id: orchestrator_id.to_owned(), queue_only: false };
        self.router.route_each(vec![item]).await.remove(0).expect("a valid message")
    }

    /// Queues one message whatever the orchestrator's state (`queueMessageForOffline`).
    async fn queue(&self, orchestrator_id: &str, message: Message) -> u64 {
        self.router.queue(message, orchestrator_id).await.expect("the message is queued")
    }

    /// The daemon's events, oldest first, as JSON.
    async fn daemon_events(&self, daemon_id: &str) -> Vec<Value> {
        let raw = self.router.read_daemon_events(daemon_id, 1000).await.expect("the daemon's events");
        raw.iter().map(|event| serde_json::from_str(event).expect("a daemon event is JSON")).collect()
    }

    /// The message ids of the daemon's events, oldest first.
    async fn delivered(&self, daemon_id: &str) -> Vec<String> {
        self.daemon_events(daemon_id).await.iter().map(|event| event["payload"]["messageId"].as_str().unwrap_or_default().to_owned()).collect()
    }

    async fn depth(&self, orchestrator_id: &str) -> u64 {
        self.router.queue_depth(orchestrator_id).await.expect("the queue depth")
    }

    /// Every event reported so far, in order.
    fn events(&self) -> Vec<Event> {
        self.recorder.events.lock().unwrap().iter().map(|stamped| stamped.event.clone()).collect()
    }

    /// The events that match, once there are `count` of them; fails after [`PATIENCE`].
    async fn wait_for(&self, count: usize, matches: impl Fn(&Event) -> bool) -> Vec<Stamped> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let added = self.recorder.added.notified();
            let found: Vec<Stamped> = self.recorder.events.lock().unwrap().iter().filter(|s| matches(&s.event)).cloned().collect();
            if found.len() >= count {
                return found;
            }
            if tokio::time::timeout_at(deadline, added).await.is_err() {
                panic!("waited {PATIENCE:?} for {count} matching events, saw {} among {:#?}", found.len(), self.events());
            }
        }
    }
}
