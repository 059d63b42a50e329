//! [`JsSink`]: where events and routing calls' results wait for the JavaScript thread, handed
//! over in batches, one wake-up for everything waiting.

use super::crossing::{error_json, EVENTS, RESULTS};
use super::host::JsCallback;
use crate::engine::error::RouterError;
use crate::engine::events::{EventKind, EventSink, Stamped};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::thread::ThreadId;

/// What waits for JS — events (serialised only when someone listens) and the results of routing
/// calls — handed over in batches: one wake-up of the JS thread takes everything waiting.
pub(super) struct JsSink {
    /// The thread JS runs on: what is posted there is taken when the call that posted it returns.
    pub(super) js_thread: ThreadId,
    pub(super) mask: AtomicU32,
    pub(super) events: Mutex<String>,
    pub(super) completions: Mutex<String>,
    /// Released by `close()`, so that no native handle outlives the router.
    pub(super) wake: Mutex<Option<JsCallback<(), ()>>>,
}

impl JsSink {
    /// Appends a JSON value to a batch, waking JS when the batch was empty (from another thread:
    /// on the JS thread, the call running returns `EVENTS` or `RESULTS`).
    pub(super) fn post(&self, batch: &Mutex<String>, json: &str) {
        let mut waiting = batch.lock().unwrap_or_else(|e| e.into_inner());
        let first = waiting.is_empty();
        if !first {
            waiting.push(',');
        }
        waiting.push_str(json);
        drop(waiting);
        if first {
            self.wake_from_elsewhere();
        }
    }

    /// Asks JS to call `pump`, unless this is the JS thread (whose running call reports instead).
    pub(super) fn wake_from_elsewhere(&self) {
        if std::thread::current().id() == self.js_thread {
            return;
        }
        if let Some(wake) = self.wake.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            wake.call((), ThreadsafeFunctionCallMode::NonBlocking);
        }
    }

    /// `EVENTS | RESULTS`, as far as they wait.
    pub(super) fn waiting(&self) -> u32 {
        let waiting = |batch: &Mutex<String>| !batch.lock().unwrap_or_else(|e| e.into_inner()).is_empty();
        (if waiting(&self.events) { EVENTS } else { 0 }) | (if waiting(&self.completions) { RESULTS } else { 0 })
    }

    /// Takes a whole batch as one JSON array, or `None` when it is empty.
    pub(super) fn take(batch: &Mutex<String>) -> Option<String> {
        let mut waiting = batch.lock().unwrap_or_else(|e| e.into_inner());
        if waiting.is_empty() {
            return None;
        }
        let taken = format!("[{waiting}]");
        waiting.clear();
        Some(taken)
    }

    /// Hands JS the result of call `call_id`: `[id, value]`, or `[id, null, error]`.
    pub(super) fn complete<T: serde::Serialize>(&self, call_id: u32, result: Result<T, RouterError>) {
        let mut json = format!("[{call_id},");
        match result {
            Ok(value) => json.push_str(&serde_json::to_string(&value).expect("results serialise")),
            Err(error) => {
                json.push_str("null,");
                json.push_str(&error_json(&error).to_string());
            }
        }
        json.push(']');
        self.post(&self.completions, &json);
    }
}

impl EventSink for JsSink {
    fn wants(&self, kind: EventKind) -> bool {
        self.mask.load(Ordering::Relaxed) & kind.bit() != 0
    }

    fn emit(&self, event: Stamped) {
        self.post(&self.events, &serde_json::to_string(&event).expect("events serialise"));
    }
}
